import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { startEchoServer } from '../src/echo/server.js';
import { idleLadder } from '../src/idle-check/ladder.js';
import { summarize, type IdleCheckReport, type RungResult } from '../src/idle-check/run.js';
import { freePort } from './helpers/servers.js';
import { CLI, runCli, type CliResult } from './helpers/cli.js';
import { startForgetfulTcpServer } from './helpers/tcp-servers.js';
import { waitFor } from './helpers/wait.js';

function idleCheck(t: TestContext, args: string[]): Promise<CliResult> {
  return runCli(t, ['idle-check', ...args]);
}

/**
 * A user-space stand-in for IPVS on loopback: a TCP echo that silently ignores data arriving on a
 * connection that has been idle longer than `timeoutMs` (the lab tests do this for real with
 * conntrack in network namespaces).
 */
async function forgetfulEcho(t: TestContext, timeoutMs: number) {
  const server = await startForgetfulTcpServer(timeoutMs, 'swallow');
  t.after(() => server.close());
  return server;
}

/** Start the CLI and hand it back while it runs, so a test can act on the far end meanwhile. */
function startIdleCheck(t: TestContext, args: readonly string[]) {
  const child = spawn(process.execPath, [CLI, 'idle-check', ...args]);
  t.after(() => child.kill('SIGKILL'));
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { out, exited };
}

/** Exactly one JSON object, and nothing else, on stdout. */
function onlyJson(stdout: string): Record<string, unknown> {
  assert.ok(stdout.trim().startsWith('{'), `stdout is not one JSON object: ${JSON.stringify(stdout)}`);
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('the idle ladder is evenly spaced from min to max', () => {
  assert.deepEqual(idleLadder(30_000, 1_200_000, 40).slice(0, 3), [30_000, 60_000, 90_000]);
  assert.deepEqual(idleLadder(1_000, 8_000, 8), [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000]);
  assert.deepEqual(idleLadder(5_000, 5_000, 4), [5_000]);
});

test('the bracket and its known-timeout match come from the rungs', () => {
  const rung = (idleSeconds: number, result: 'survived' | 'expired'): RungResult => ({ idleSeconds, result, measuredIdleSeconds: idleSeconds });
  const base = { target: new URL('tcp://10.0.0.1:9000'), expect: 'survive' as const, deadlineMs: 5_000 };
  const ipvs = summarize(base, [rung(870, 'survived'), rung(30, 'survived'), rung(930, 'expired'), rung(1200, 'expired')]);
  assert.deepEqual(ipvs.bracket, { survivedSeconds: 870, expiredSeconds: 930 });
  assert.deepEqual(ipvs.matches, ['IPVS: Docker Swarm service VIP (900 s, moby/moby#31208)']);
  assert.equal(ipvs.ok, false);
  assert.deepEqual(ipvs.rungs.map((r) => r.idleSeconds), [30, 870, 930, 1200]);
  const cf = summarize({ ...base, expect: 'expire' }, [rung(240, 'survived'), rung(300, 'expired')]);
  assert.deepEqual(cf.matches, ['Cloudflare (270 s)']);
  assert.equal(cf.ok, true);
  const flaky = summarize(base, [rung(100, 'expired'), rung(200, 'survived')]);
  assert.equal(flaky.inconsistent, true);
  assert.deepEqual(flaky.matches, []);
});

test('idle-check exits 0 when an idle connection survives as expected, with a JSON report', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tcpListen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const run = await idleCheck(t, ['--target', `tcp://127.0.0.1:${echo.tcpAddress?.port}`, '--idle', '500ms', '--deadline', '1s', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as IdleCheckReport;
  assert.equal(report.ok, true);
  assert.equal(report.rungs.length, 1);
  assert.equal(report.rungs[0]?.result, 'survived');
  assert.ok((report.rungs[0]?.measuredIdleSeconds ?? 0) >= 0.5);
  assert.match(run.stderr, /idle-check: 1 connection\(s\) to tcp:\/\/127\.0\.0\.1/);
});

test('idle-check over a WebSocket target, and --expect expire failing with exit 1', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const run = await idleCheck(t, ['--target', echo.url, '--idle', '300ms', '--expect', 'expire']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stdout, /idle +300ms: survived/);
  assert.match(run.stdout, /expected expire: FAILED/);
});

test('idle-check reports an expired connection (silent) and exits 0 for --expect expire', async (t) => {
  const server = await forgetfulEcho(t, 300);
  const run = await idleCheck(t, ['--target', server.url, '--idle', '600ms', '--deadline', '500ms', '--expect', 'expire']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /EXPIRED \(silent: no echo, the connection hangs\)/);
});

test('--sweep brackets the path idle timeout in one run with connections opened at once', async (t) => {
  const server = await forgetfulEcho(t, 1_000);
  const started = performance.now();
  const run = await idleCheck(t, ['--target', server.url, '--sweep', '250ms..2s', '--steps', '8', '--deadline', '400ms', '--json']);
  const elapsed = performance.now() - started;
  assert.equal(run.code, 1, 'expect survive fails when some rungs expired');
  const report = JSON.parse(run.stdout) as IdleCheckReport;
  assert.equal(report.rungs.length, 8);
  assert.equal(server.idle.accepted, 8);
  const { survivedSeconds, expiredSeconds } = report.bracket;
  assert.ok(survivedSeconds !== null && expiredSeconds !== null);
  assert.ok(survivedSeconds <= 1 && expiredSeconds >= 1, `bracket ${survivedSeconds}..${expiredSeconds} contains 1 s`);
  assert.equal(report.inconsistent, false);
  // One run no longer than the longest idle (plus deadline and process start-up), not a serial search.
  assert.ok(elapsed < 2_000 + 400 + 2_500, `took ${elapsed.toFixed(0)} ms`);
});

test('idle-check exits 2 when the first connection fails, and on usage errors', async (t) => {
  const dead = await idleCheck(t, ['--target', `tcp://127.0.0.1:${await freePort()}`, '--idle', '1s']);
  assert.equal(dead.code, 2);
  assert.match(dead.stderr, /first connection to tcp:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  for (const [args, message] of [
    [[], /--target is required/],
    [['--target', 'http://x'], /must start with tcp:\/\/, ws:\/\/ or wss:\/\//],
    [['--target', 'tcp://x'], /needs a port/],
    [['--target', 'tcp://x:1', '--idle', 'soon'], /--idle: must be a duration/],
    [['--target', 'tcp://x:1', '--sweep', '5m..1m'], /--sweep: must be MIN\.\.MAX/],
    [['--target', 'tcp://x:1', '--expect', 'maybe'], /--expect: must be survive or expire/],
  ] as const) {
    const run = await idleCheck(t, [...args]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
});

test('the far end killed mid-idle is inconclusive: exit 1 even for --expect expire, with the control outcome in JSON', async (t) => {
  const text = await startForgetfulTcpServer(60_000, 'swallow');
  const json = await startForgetfulTcpServer(60_000, 'swallow');
  t.after(() => Promise.all([text.close(), json.close()]));
  const runs = [
    { server: text, run: startIdleCheck(t, ['--target', text.url, '--idle', '3s', '--deadline', '500ms', '--expect', 'expire']) },
    { server: json, run: startIdleCheck(t, ['--target', json.url, '--idle', '3s', '--deadline', '500ms', '--expect', 'expire', '--json']) },
  ];
  for (const { server, run } of runs) {
    // One second into the wait (the CLI's progress line), every connection verified: kill the far end.
    await waitFor('the idle period to be under way', () => run.out.stderr.includes('elapsed') && server.accepted > 0 && server.receivedAt.every((c) => c.length > 0), {
      timeoutMs: 10_000,
    });
    const killedAt = Date.now();
    await server.close();
    assert.equal(await run.exited, 1, run.out.stdout + run.out.stderr);
    if (server === text) {
      assert.match(run.out.stdout, /idle +3s: INCONCLUSIVE/);
      const line = /^inconclusive: the control connection dropped too, at (\S+): the far end or the whole path went away$/m.exec(run.out.stdout);
      assert.ok(line, run.out.stdout);
      assert.ok(Math.abs(Date.parse(line[1] ?? '') - killedAt) < 1_000, line[1]);
      assert.doesNotMatch(run.out.stdout, /EXPIRED|expected expire: OK/);
    } else {
      const report = onlyJson(run.out.stdout) as unknown as IdleCheckReport;
      assert.equal(report.ok, false);
      assert.equal(report.rungs[0]?.result, 'inconclusive');
      assert.deepEqual(report.bracket, { survivedSeconds: null, expiredSeconds: null });
      assert.ok(report.control !== null);
      // A killed far end sends FIN, or RST when a heartbeat was still unread in its socket.
      assert.deepEqual([report.control.reason, report.control.code.replace(/^.*ECONNRESET$/, 'ECONNRESET')], report.control.reason === 'reset' ? ['reset', 'ECONNRESET'] : ['closed', 'PROBE_ERR_PEER_CLOSED']);
      assert.ok(Math.abs(Date.parse(report.control.failedAt) - killedAt) < 1_000, report.control.failedAt);
      assert.match(run.out.stderr, /^idle-check: inconclusive: the control connection dropped too, at \S+: the far end or the whole path went away$/m);
    }
  }
});

test('a sweep whose far end is killed between rungs is no bracket and not OK, even for --expect expire', async (t) => {
  const server = await startForgetfulTcpServer(60_000, 'swallow');
  t.after(() => server.close());
  const run = startIdleCheck(t, ['--target', server.url, '--sweep', '1s..3s', '--steps', '3', '--deadline', '500ms', '--expect', 'expire', '--json']);
  // The 1 s rung's probe has arrived (and been echoed): kill the far end before the 2 s rung.
  await waitFor('the 1 s rung probed', () => server.idle.receivedAt.some((c) => c.length >= 2), { timeoutMs: 5_000 });
  await server.close();
  assert.equal(await run.exited, 1, run.out.stdout + run.out.stderr);
  const report = onlyJson(run.out.stdout) as unknown as IdleCheckReport;
  assert.deepEqual(report.rungs.map((r) => [r.idleSeconds, r.result]), [[1, 'survived'], [2, 'inconclusive'], [3, 'inconclusive']]);
  assert.equal(report.bracket.expiredSeconds, null, 'inconclusive rungs are no expiry');
  assert.deepEqual(report.matches, []);
  assert.equal(report.ok, false);
  assert.ok(report.control?.reason === 'closed' || report.control?.reason === 'reset', JSON.stringify(report.control));
});

test('the bracket and ok ignore inconclusive rungs; --expect expire is not OK when the only deaths are inconclusive', () => {
  const rung = (idleSeconds: number, result: RungResult['result']): RungResult => ({ idleSeconds, result, measuredIdleSeconds: idleSeconds });
  const base = { target: new URL('tcp://10.0.0.1:9000'), expect: 'expire' as const, deadlineMs: 5_000 };
  const control = { failedAt: new Date(0).toISOString(), reason: 'closed' as const, code: 'PROBE_ERR_PEER_CLOSED' };
  const onlyInconclusive = summarize(base, [rung(870, 'survived'), rung(930, 'inconclusive')], control);
  assert.deepEqual(onlyInconclusive.bracket, { survivedSeconds: 870, expiredSeconds: null });
  assert.equal(onlyInconclusive.ok, false);
  assert.equal(onlyInconclusive.inconclusive, true);
  // A real bracket below the far end's death still stands, but the run as a whole is not OK.
  const mixed = summarize(base, [rung(870, 'survived'), rung(930, 'expired'), rung(1200, 'inconclusive')], control);
  assert.deepEqual(mixed.bracket, { survivedSeconds: 870, expiredSeconds: 930 });
  assert.equal(mixed.inconsistent, false);
  assert.equal(mixed.ok, false);
});

test('--json writes exactly one JSON object on stdout for a refused port and for usage errors, with exit 2', async (t) => {
  const refused = await idleCheck(t, ['--target', `tcp://127.0.0.1:${await freePort()}`, '--idle', '1s', '--json']);
  assert.equal(refused.code, 2, refused.stderr);
  const connect = onlyJson(refused.stdout);
  assert.equal(connect.code, 'PROBE_ERR_CONNECT');
  assert.match(String(connect.error), /first connection to tcp:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  for (const args of [
    ['--target', 'tcp://x:1', '--idle', 'soon', '--json'],
    ['--json', '--target', 'tcp://x:1', '--bogus'],
    ['--json'],
  ]) {
    const run = await idleCheck(t, args);
    assert.equal(run.code, 2, args.join(' '));
    const report = onlyJson(run.stdout);
    assert.equal(report.code, 'PROBE_ERR_USAGE', args.join(' '));
    assert.equal(typeof report.error, 'string');
  }
});

test('--control-interval is validated: at least 100ms, at most half the shortest idle', async (t) => {
  for (const [args, message] of [
    [['--control-interval', '50ms'], /--control-interval: must be at least 100ms \(got "50ms"\)/],
    [['--control-interval', '3s'], /--control-interval: must be at most half the shortest idle \(4s\) \(got "3s"\)/],
    [['--control-interval', 'often'], /--control-interval: must be a duration/],
  ] as const) {
    const run = await idleCheck(t, ['--target', 'tcp://x:1', '--idle', '4s', ...args]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
});

test('in a terminal, each rung is printed once (not as progress on stderr and again in the report)', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tcpListen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const command = [process.execPath, CLI, 'idle-check', '--target', `tcp://127.0.0.1:${echo.tcpAddress?.port}`, '--sweep', '300ms..600ms', '--steps', '2'];
  // script(1) runs the CLI on a pseudo-terminal: stdout and stderr are the same TTY.
  const { stdout } = await promisify(execFile)('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { encoding: 'utf8' });
  assert.equal(stdout.match(/idle +300ms: survived/g)?.length, 1, stdout);
  assert.equal(stdout.match(/idle +600ms: survived/g)?.length, 1, stdout);
  assert.match(stdout, /expected survive: OK/);
  // Piped (not a terminal), the rungs still stream to stderr as they finish, for logs.
  const piped = await idleCheck(t, ['--target', `tcp://127.0.0.1:${echo.tcpAddress?.port}`, '--sweep', '300ms..600ms', '--steps', '2']);
  assert.match(piped.stderr, /idle +300ms: survived/);
  assert.match(piped.stdout, /idle +300ms: survived/);
});
