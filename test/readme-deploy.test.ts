/**
 * The README's "Deploy in 15 minutes" walk-through, run as written wherever it can run without a
 * cluster: every command in its sh blocks is either run here (the config check, the NetworkPolicy
 * generator, the kustomize render, `attribute` against a real local probe), or named below as
 * needing a cluster or a step `npm test` has already done. A command that is neither fails the
 * test, so the walk-through can't grow a step nobody checks.
 */
import { collectOutput } from './helpers/collect.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEchoServer } from '../src/echo/server.js';
import { CLI, runCli } from './helpers/cli.js';
import { requireBinary } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KUBECTL = '/usr/bin/kubectl';

/** Steps that need a live cluster, or that `npm test` itself has already run. */
const NOT_RUN_HERE: readonly RegExp[] = [
  /^npm ci && npm run build$/, // npm test builds before it tests
  /^kubectl apply -k /,
  /^kubectl -n t3-probe (rollout status|logs|port-forward) /,
];

async function walkthrough(): Promise<string[]> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^## Deploy in 15 minutes\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  assert.ok(section !== '', 'the README has a "Deploy in 15 minutes" section');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap(([, block = '']) =>
    block
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#')),
  );
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function sh(t: TestContext, file: string, args: readonly string[]): Promise<Ran> {
  const child = spawn(file, [...args], { cwd: ROOT });
  t.after(() => child.kill('SIGKILL'));
  return collectOutput(child);
}

/** A real probe on a free loopback port, with one leg to a real echo, for the `attribute` step. */
async function localProbe(t: TestContext): Promise<string> {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-readme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'probe.yaml');
  await writeFile(config, ['listen: "127.0.0.1:0"', 'legs:', `  - { name: cloudflare, kind: ws, url: "${echo.url}" }`, ''].join('\n'));
  const probe = spawn(process.execPath, [CLI, 'run', '--config', config]);
  t.after(() => probe.kill('SIGKILL'));
  let log = '';
  probe.stdout.setEncoding('utf8').on('data', (c: string) => (log += c));
  // The "probe started" log line carries the address it really listens on.
  const listen = await waitFor('the probe to listen', () => /"listen":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)?.[1], { timeoutMs: 15_000 });
  await waitFor('the leg to be up', async () => (await fetch(`${listen}/metrics`).then((r) => r.text())).includes('t3probe_connected{leg="cloudflare"} 1'));
  return listen;
}

test('every command of the deploy walk-through runs as written, or needs a cluster', { timeout: 120_000 }, async (t) => {
  if (!requireBinary(t, KUBECTL, 'kubernetes-client')) return;
  const commands = await walkthrough();
  let ran = 0;
  for (const command of commands) {
    if (NOT_RUN_HERE.some((pattern) => pattern.test(command))) continue;
    let match: RegExpExecArray | null;
    if ((match = /^node dist\/cli\.js run --config (\S+) --check$/.exec(command)) !== null) {
      const result = await runCli(t, ['run', '--config', match[1] ?? '', '--check']);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      assert.match(result.stdout, /^config ok: 4 legs/, command);
      assert.match(result.stderr, /^warning: legs\[\d\] \(\w[\w-]*\)\.\w+: a documentation placeholder/m, 'the shipped placeholders are pointed out');
    } else if ((match = /^node (scripts\/networkpolicy-from-config\.mjs) (\S+) > (\S+)$/.exec(command)) !== null) {
      // Run without the redirect: the file it would write must already be its output.
      const result = await sh(t, process.execPath, [match[1] ?? '', match[2] ?? '']);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      assert.equal(result.stdout, await readFile(path.join(ROOT, match[3] ?? ''), 'utf8'), `${match[3]} is what the command writes`);
    } else if ((match = /^kubectl kustomize (\S+)$/.exec(command)) !== null) {
      const result = await sh(t, KUBECTL, ['kustomize', match[1] ?? '']);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      assert.equal(result.stderr, '', `${command} prints no warning`);
      assert.match(result.stdout, /^kind: ServiceMonitor$/m);
      assert.match(result.stdout, /^ {4}release: kube-prometheus-stack$/m);
    } else if ((match = /^t3-probe attribute --probe http:\/\/127\.0\.0\.1:9464 (--at now)$/.exec(command)) !== null) {
      const probe = await localProbe(t);
      const result = await runCli(t, ['attribute', '--probe', probe, '--at', 'now']);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      assert.match(result.stdout, /^Verdict for .*from probe http:\/\/127\.0\.0\.1:\d+\/\):\n {2}exonerated: /);
    } else {
      assert.fail(`the walk-through has a command this test neither runs nor knows needs a cluster: ${command}`);
    }
    ran++;
  }
  assert.ok(ran >= 4, `ran ${ran} of ${commands.length} commands`);
});
