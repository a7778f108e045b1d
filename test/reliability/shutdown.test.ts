/**
 * Shutdown of the shipped CLI (dist/), with real processes and real signals: SIGTERM closes the
 * legs and the work in flight and exits 0; a second signal forces the exit while the graceful
 * close hangs; a graceful close that hangs past the hard bound exits anyway, with a log line.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SHUTDOWN_TIMEOUT_MS } from '../../src/cli/defaults.js';
import { startCli, type CliProcess } from '../helpers/cli.js';
import { startScriptedWsServer, type ScriptedServer } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

async function tempConfig(t: TestContext, yaml: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-shutdown-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'probe.yaml');
  await writeFile(file, yaml);
  return file;
}

/** A far end that accepts TCP and never answers the WebSocket upgrade: a connect stays in flight. */
async function startBlackhole(t: TestContext): Promise<{ port: number; open: Set<net.Socket>; seen: () => number }> {
  const open = new Set<net.Socket>();
  let seen = 0;
  const server = net.createServer((socket) => {
    seen++;
    open.add(socket);
    socket.on('error', () => {});
    socket.resume(); // read and discard the upgrade request, so the probe's FIN is seen
    socket.on('close', () => open.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of open) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, open, seen: () => seen };
}

/** A ws echo that records the close code of every client it saw close. */
async function startRecordingEcho(t: TestContext): Promise<{ far: ScriptedServer; closeCodes: number[] }> {
  const closeCodes: number[] = [];
  const far = await startScriptedWsServer((ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code: number) => closeCodes.push(code));
  });
  t.after(() => far.close());
  return { far, closeCodes };
}

function legsUp(run: CliProcess, names: readonly string[]): boolean {
  const up = new Set(run.logs().filter((l) => l.msg === 'leg up').map((l) => l['leg']));
  return names.every((name) => up.has(name));
}

test('SIGTERM closes the legs and a connect in flight, and run exits 0 within 5 s', async (t) => {
  const { far, closeCodes } = await startRecordingEcho(t);
  const blackhole = await startBlackhole(t);
  const file = await tempConfig(
    t,
    [
      'defaults: { interval: 200ms }',
      'legs:',
      `  - { name: a, kind: ws, url: "${far.url}" }`,
      `  - { name: b, kind: ws, url: "${far.url}" }`,
      `  - { name: stuck, kind: ws, url: "ws://127.0.0.1:${blackhole.port}/probe/ws", connectTimeout: 60s }`,
    ].join('\n'),
  );
  const run = startCli(t, ['run', '--config', file], { T3PROBE_LISTEN: '127.0.0.1:0' });
  await waitFor('legs a and b up and the stuck leg mid-upgrade', () => legsUp(run, ['a', 'b']) && blackhole.open.size === 1, { timeoutMs: 10_000 });
  const start = performance.now();
  run.child.kill('SIGTERM');
  const code = await run.exit;
  const elapsedMs = performance.now() - start;
  t.diagnostic(`SIGTERM to exit: ${Math.round(elapsedMs)} ms`);
  assert.equal(code, 0, run.stderr());
  assert.ok(elapsedMs < 5_000, `exit took ${Math.round(elapsedMs)} ms`);
  // Both connected legs said goodbye with 1001, and the upgrade in flight was abandoned.
  await waitFor('the far end to see both closes', () => closeCodes.length === 2);
  assert.deepEqual(closeCodes, [1001, 1001]);
  await waitFor('the blackholed connect to be closed', () => blackhole.open.size === 0);
  assert.equal(blackhole.seen(), 1, 'no reconnect was started while closing');
  assert.ok(run.logs().some((l) => l.msg === 'probe stopped'));
});

/** A probe whose only leg is up on a far end that then stops reading: its close frame is never answered. */
async function startHangingClose(t: TestContext): Promise<CliProcess> {
  const { far } = await startRecordingEcho(t);
  const file = await tempConfig(
    t,
    ['legs:', `  - { name: hang, kind: ws, url: "${far.url}", interval: 200ms, deadline: 60s, closeTimeout: 60s }`].join('\n'),
  );
  const run = startCli(t, ['run', '--config', file], { T3PROBE_LISTEN: '127.0.0.1:0' });
  await waitFor('the leg up', () => legsUp(run, ['hang']), { timeoutMs: 10_000 });
  await waitFor('the far end to hold the connection', () => far.upgrades.length === 1);
  // Stop reading: the probe's close frame is never read, so never answered.
  for (const req of far.upgrades) req.socket.pause();
  return run;
}

test('a second SIGTERM while the graceful close hangs exits non-zero at once', async (t) => {
  const probe = await startHangingClose(t);
  probe.child.kill('SIGTERM');
  await waitFor('the graceful close to begin', () => probe.logs().some((l) => l.msg === 'SIGTERM: closing gracefully'));
  assert.equal(probe.child.exitCode, null, 'still closing: the far end never answered the close frame');
  const start = performance.now();
  probe.child.kill('SIGTERM');
  const code = await probe.exit;
  const elapsedMs = performance.now() - start;
  t.diagnostic(`second SIGTERM to exit: ${Math.round(elapsedMs)} ms`);
  assert.equal(code, 1);
  assert.ok(probe.logs().some((l) => l.msg === 'SIGTERM again: exiting now'));
  // Far below the hard bound: the second signal, not the bound, ended it.
  assert.ok(elapsedMs < SHUTDOWN_TIMEOUT_MS / 2, `exit took ${Math.round(elapsedMs)} ms after the second signal`);
});

test('a graceful close that hangs past the hard bound exits 1 with a log line', async (t) => {
  const probe = await startHangingClose(t);
  const start = performance.now();
  probe.child.kill('SIGTERM');
  const code = await Promise.race([probe.exit, waitFor('never', () => false, { timeoutMs: SHUTDOWN_TIMEOUT_MS + 5_000 })]);
  const elapsedMs = performance.now() - start;
  t.diagnostic(`SIGTERM to the bounded exit: ${Math.round(elapsedMs)} ms`);
  assert.equal(code, 1);
  const line = probe.logs().find((l) => l.msg === 'graceful close did not finish in time: exiting');
  assert.ok(line, probe.stdout());
  assert.equal(line['timeoutMs'], SHUTDOWN_TIMEOUT_MS);
  assert.ok(elapsedMs >= SHUTDOWN_TIMEOUT_MS - 100, `exited after ${Math.round(elapsedMs)} ms, before the bound`);
});

test('echo closes its clients with 1001 on SIGTERM and exits 0 within 5 s', async (t) => {
  const run = startCli(t, ['echo', '--listen', '127.0.0.1:0', '--tcp-listen', '127.0.0.1:0']);
  const url = await waitFor('the echo URL', () => /"url":"(ws:\/\/[^"]+)"/.exec(run.stdout())?.[1]);
  const client = new WebSocket(url);
  await once(client, 'open');
  const closed = once(client, 'close');
  const start = performance.now();
  run.child.kill('SIGTERM');
  const [closeCode] = (await closed) as [number];
  assert.equal(closeCode, 1001);
  assert.equal(await run.exit, 0);
  assert.ok(performance.now() - start < 5_000);
});

test('SIGTERM as soon as anything listens closes gracefully: run, echo and demo install their handlers first', async (t) => {
  const preload = fileURLToPath(new URL('../fixtures/sigterm-at-first-listen.mjs', import.meta.url));
  const { far } = await startRecordingEcho(t);
  const file = await tempConfig(t, ['legs:', `  - { name: a, kind: ws, url: "${far.url}" }`].join('\n'));
  const commands: [string, string[]][] = [
    ['run', ['run', '--config', file, '--listen', '127.0.0.1:0']],
    ['echo', ['echo', '--listen', '127.0.0.1:0', '--tcp-listen', '127.0.0.1:0']],
    ['demo', ['demo', '--listen', '127.0.0.1:0']],
  ];
  for (const [name, args] of commands) {
    const run = startCli(t, args, { NODE_OPTIONS: `--import ${preload}` });
    const code = await run.exit;
    assert.match(run.stderr(), /preload: SIGTERM at the first listen, SIGTERM listeners: 1\n/, `${name}: ${run.stderr()}`);
    assert.equal(code, 0, `${name}: killed by the signal or failed; stderr: ${run.stderr()}`);
    // Whether the start-up had finished by the time the handler ran is a race of its own; both close.
    const closing = run.logs().find((l) => /^SIGTERM( while starting)?: closing gracefully/.test(l.msg));
    assert.ok(closing, `${name}: ${run.stdout()}`);
  }
});
