import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { ENV_OVERRIDES } from '../src/config/env.js';
import { startEchoServer } from '../src/echo/server.js';
import { waitFor } from './helpers/wait.js';

// The CLI is tested as shipped: the tsc output in dist/ (npm test builds it first).
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function cli(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function tempConfig(t: TestContext, yaml: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'probe.yaml');
  await writeFile(file, yaml);
  return file;
}

test('--help works for every command and exits 0; no command is a usage error', async (t) => {
  for (const args of [['--help'], ['run', '--help'], ['echo', '--help'], ['demo', '--help']]) {
    const run = cli(t, args);
    assert.equal(await run.exit, 0, args.join(' '));
    assert.match(run.stdout(), /Usage:\s+t3-probe/);
  }
  const bare = cli(t, []);
  assert.equal(await bare.exit, 2);
});

test('usage errors exit 2 and say what was wrong', async (t) => {
  const cases: [string[], RegExp][] = [
    [['frob'], /unknown command "frob"/],
    [['run'], /--config <file> is required/],
    [['run', '--config', '/nonexistent/probe.yaml'], /\/nonexistent\/probe\.yaml/],
    [['run', '--bogus'], /^t3-probe: unknown option --bogus \(valid options: --config, --listen, --log-level, --check, --help\)$/m],
    [['echo', '--listen', 'nope'], /--listen: must be "host:port" \(got "nope"\)/],
    [['echo', '--max-payload', 'lots'], /--max-payload/],
  ];
  for (const [args, message] of cases) {
    const run = cli(t, args);
    assert.equal(await run.exit, 2, args.join(' '));
    assert.match(run.stderr(), message);
  }
});

test('a bad config exits 2, naming every bad key with the reason and a suggestion', async (t) => {
  const file = await tempConfig(t, 'legs:\n  - name: a\n    kind: ws\n    url: ftp://x\n    intervall: 5s\n    deadline: -5s\n');
  const run = cli(t, ['run', '--config', file]);
  assert.equal(await run.exit, 2);
  // Each line names the file, line and column as given on the command line, and the leg by name.
  assert.deepEqual(run.stderr().split('\n'), [
    't3-probe: invalid configuration:',
    `  ${file}:5:5: legs[0] (a).intervall: unknown key (did you mean "interval"?)`,
    `  ${file}:4:10: legs[0] (a).url: must be a URL starting with ws:// or wss:// (got "ftp://x")`,
    `  ${file}:6:15: legs[0] (a).deadline: must be a duration greater than 0 (got "-5s")`,
    '',
  ]);
});

test('an unknown option suggests the nearest one, for every command', async (t) => {
  const cases: [string[], string][] = [
    [['run', '--chek'], 'unknown option --chek: did you mean --check?'],
    [['run', '--conf', 'probe.yaml'], 'unknown option --conf: did you mean --config?'],
    [['echo', '--max-paylod', '1MiB'], 'unknown option --max-paylod: did you mean --max-payload?'],
    [['demo', '--lissten', ':0'], 'unknown option --lissten: did you mean --listen?'],
    [['attribute', '--windw=2m'], 'unknown option --windw: did you mean --window?'],
    [['idle-check', '--deadlin', '5s'], 'unknown option --deadlin: did you mean --deadline?'],
    [['echo', '-x'], 'unknown option -x (valid options: --listen, --tcp-listen, --max-connections, --max-connections-per-ip, --max-payload, --handshake-timeout, --first-message-timeout, --max-messages-per-second, --message-burst, --allowed-origin, --token-file, --tls-cert, --tls-key, --log-level, --help)'],
  ];
  for (const [args, message] of cases) {
    const run = cli(t, args);
    assert.equal(await run.exit, 2, args.join(' '));
    assert.equal(run.stderr(), `t3-probe: ${message}\nTry "t3-probe ${args[0]} --help".\n`, args.join(' '));
  }
});

test('an unknown command suggests the nearest one', async (t) => {
  for (const [command, suggestion] of [['rnu', 'run'], ['idlecheck', 'idle-check'], ['attribut', 'attribute']] as const) {
    const run = cli(t, [command]);
    assert.equal(await run.exit, 2, command);
    assert.match(run.stderr(), new RegExp(`^t3-probe: unknown command "${command}": did you mean "${suggestion}"\\?\n`));
  }
});

test('echo --max-payload takes the range of a leg\'s maxPayload, 1B to 16MiB', { timeout: 20_000 }, async (t) => {
  for (const size of ['1GB', '16777217', '0']) {
    const run = cli(t, ['echo', '--listen', '127.0.0.1:0', '--max-payload', size]);
    assert.equal(await run.exit, 2, size);
    assert.match(run.stderr(), new RegExp(`^t3-probe: --max-payload: must be a size from 1B to 16MiB \\(got "${size}"\\)$`, 'm'));
  }
  const largest = cli(t, ['echo', '--listen', '127.0.0.1:0', '--max-payload', '16MiB']);
  await waitFor('the echo server to listen', () => largest.stdout().includes('echo server listening'));
  largest.child.kill('SIGTERM');
  const code = await largest.exit;
  assert.equal(code, 0, `signal ${String(largest.child.signalCode)}; stderr: ${largest.stderr()}`);
});

test('run --check prints each leg\'s role, URL, resolve mode, interval and deadline', async (t) => {
  const file = await tempConfig(
    t,
    [
      'listen: "127.0.0.1:9100"',
      'doh: { url: "https://cloudflare-dns.com/dns-query" }',
      'legs:',
      '  - { name: cloudflare, kind: ws, url: "wss://t3.example.com/probe/ws", resolve: doh }',
      '  - { name: internal, kind: ws, url: "wss://t3.example.com/probe/ws", pin: 10.0.0.5, deadline: 3s }',
      '  - { name: t3serve, kind: http, url: "http://10.0.0.21:8080/probe/healthz", interval: 5s }',
      '  - { name: vip, kind: idle, url: "tcp://10.0.9.9:9000", idle: 16m, keepalive: 60s }',
      '',
    ].join('\n'),
  );
  const run = cli(t, ['run', '--config', file, '--check']);
  assert.equal(await run.exit, 0);
  assert.equal(
    run.stdout(),
    [
      'config ok: 4 legs, listen 127.0.0.1:9100',
      '  cloudflare (ws, role public) wss://t3.example.com/probe/ws via doh, interval 1s, deadline 2s',
      '  internal (ws, role internal) wss://t3.example.com/probe/ws via pin 10.0.0.5, interval 1s, deadline 3s',
      '  t3serve (http, role serve) http://10.0.0.21:8080/probe/healthz via system, interval 5s, deadline 10s',
      // An idle leg has no interval: it is silent for `idle`, then probes once.
      '  vip (idle, role idle) tcp://10.0.9.9:9000 via system, idle 16m, control every 5s, keepalive 1m, deadline 5s',
      '',
    ].join('\n'),
  );
});

test('the README\'s run --check example is what examples/probe.yaml prints', async (t) => {
  // The runner's own T3PROBE_* must not change what the example prints.
  const unset = Object.fromEntries(ENV_OVERRIDES.map(({ env }) => [env, '']));
  const run = cli(t, ['run', '--config', fileURLToPath(new URL('../examples/probe.yaml', import.meta.url)), '--check'], unset);
  assert.equal(await run.exit, 0);
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(`\`\`\`text\n${run.stdout()}\`\`\`\n`), run.stdout());
});

test('run --check warns on stderr about every documentation placeholder, naming leg and key, and exits 0', async (t) => {
  const unset = Object.fromEntries(ENV_OVERRIDES.map(({ env }) => [env, '']));
  const example = cli(t, ['run', '--config', fileURLToPath(new URL('../examples/probe.yaml', import.meta.url)), '--check'], unset);
  assert.equal(await example.exit, 0, 'a placeholder is a warning, not an error: the config is valid');
  const placeholder = (key: string, reserved: string, value: string): string =>
    `warning: ${key}: a documentation placeholder (${reserved}): replace it with your own (got "${value}")`;
  assert.deepEqual(example.stderr().split('\n'), [
    placeholder('legs[0] (cloudflare).url', 'example.com, RFC 2606', 't3.example.com'),
    placeholder('legs[1] (internal).url', 'example.com, RFC 2606', 't3.example.com'),
    placeholder('legs[1] (internal).pin', '192.0.2.0/24, RFC 5737', '192.0.2.10'),
    placeholder('legs[2] (t3serve).url', '192.0.2.0/24, RFC 5737', '192.0.2.21'),
    placeholder('legs[3] (swarm-vip).url', '192.0.2.0/24, RFC 5737', '192.0.2.30'),
    '',
  ]);
  // Warnings stay off stdout, which the README's example block holds verbatim.
  assert.doesNotMatch(example.stdout(), /warning/);

  const real = await tempConfig(t, 'legs:\n  - { name: t3serve, kind: http, url: "http://10.0.0.21:8080/probe/healthz" }\n');
  const clean = cli(t, ['run', '--config', real, '--check'], unset);
  assert.equal(await clean.exit, 0);
  assert.equal(clean.stderr(), '', 'a config without placeholders gets no warning');
});

test('run logs one warning per documentation placeholder before it starts the legs', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  // The leg dials loopback; only its Host header is a placeholder, so no traffic leaves the host.
  const file = await tempConfig(t, `legs:\n  - { name: internal, kind: ws, url: "${echo.url}", headers: { Host: "t3.example.com" } }\n`);
  const run = cli(t, ['run', '--config', file], { T3PROBE_LISTEN: '127.0.0.1:0' });
  await waitFor('the leg to come up', () => run.stdout().includes('"msg":"leg up"'));
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
  const warnings = run
    .stdout()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number | string; msg: string; key?: string; value?: string; reserved?: string })
    .filter((l) => l.msg.startsWith('documentation placeholder'));
  assert.deepEqual(
    warnings.map(({ key, value, reserved }) => ({ key, value, reserved })),
    [{ key: 'legs[0] (internal).headers.Host', value: 't3.example.com', reserved: 'example.com, RFC 2606' }],
  );
});

test('an invalid environment override exits 2 and names the variable', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const file = await tempConfig(t, `legs:\n  - name: a\n    kind: ws\n    url: ${echo.url}\n`);
  const run = cli(t, ['run', '--config', file], { T3PROBE_LISTEN: 'nowhere' });
  assert.equal(await run.exit, 2);
  assert.match(run.stderr(), /T3PROBE_LISTEN: must be "host:port" \(got "nowhere"\)/);
});

test('run holds the legs of a config, serves /readyz and /status, and exits 0 on SIGTERM', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const file = await tempConfig(
    t,
    [
      'defaults:',
      '  interval: 200ms',
      'legs:',
      '  - name: internal',
      '    kind: ws',
      `    url: ${echo.url}`,
      '  - name: t3serve',
      '    kind: http',
      `    url: http://127.0.0.1:${echo.httpAddress.port}/probe/healthz`,
    ].join('\n'),
  );
  const run = cli(t, ['run', '--config', file, '--log-level', 'info'], { T3PROBE_LISTEN: '127.0.0.1:0' });
  const base = await waitFor('the probe to log its address', () => /"listen":"(http:\/\/[^"]+)"/.exec(run.stdout())?.[1]);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  await waitFor('both legs up', async () => {
    const status = (await (await fetch(`${base}/status`)).json()) as { legs: { state: string }[] };
    return status.legs.every((l) => l.state === 'up');
  });
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
  const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; leg?: string });
  assert.ok(lines.some((l) => l.msg === 'leg up' && l.leg === 'internal'));
  assert.ok(lines.some((l) => l.msg === 'probe stopped'));
});

test('a taken listen port is a runtime failure: exit 1 with the address and EADDRINUSE', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const run = cli(t, ['echo', '--listen', `127.0.0.1:${port}`]);
  assert.equal(await run.exit, 1);
  assert.match(run.stderr(), new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
});

test('echo serves /probe/healthz and exits 0 on SIGTERM', async (t) => {
  const run = cli(t, ['echo', '--listen', '127.0.0.1:0', '--tcp-listen', '127.0.0.1:0']);
  const url = await waitFor('the echo server to log its URL', () => /"url":"ws:\/\/([^"/]+)\/probe\/ws"/.exec(run.stdout())?.[1]);
  const res = await fetch(`http://${url}/probe/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
});

test('demo needs nothing external: every leg is up on /metrics within a few seconds', async (t) => {
  const run = cli(t, ['demo', '--listen', '127.0.0.1:0', '--log-level', 'warn']);
  const base = await waitFor('the demo banner', () => /metrics: (http:\/\/\S+)\/metrics/.exec(run.stderr())?.[1], { timeoutMs: 10_000 });
  const metrics = await waitFor(
    'all three legs connected',
    async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return ['cloudflare', 'internal', 't3serve'].every((leg) => text.includes(`t3probe_connected{leg="${leg}"} 1`)) && text;
    },
    { timeoutMs: 5_000 },
  );
  assert.match(metrics, /^t3probe_disconnects_total\{leg="cloudflare",reason="dns"\} 0$/m);
  run.child.kill('SIGINT');
  assert.equal(await run.exit, 0);
});
