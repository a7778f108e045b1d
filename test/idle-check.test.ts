import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startEchoServer } from '../src/echo/server.js';
import { idleLadder } from '../src/idle-check/ladder.js';
import { summarize, type IdleCheckReport, type RungResult } from '../src/idle-check/run.js';
import { freePort } from './helpers/servers.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { startScriptedTcpServer } from './helpers/tcp-servers.js';

function idleCheck(t: TestContext, args: string[]): Promise<CliResult> {
  return runCli(t, ['idle-check', ...args]);
}

/**
 * A user-space stand-in for IPVS on loopback: a TCP echo that silently ignores data arriving on a
 * connection that has been idle longer than `timeoutMs` (the lab tests do this for real with
 * conntrack in network namespaces).
 */
async function forgetfulEcho(t: TestContext, timeoutMs: number) {
  const last = new WeakMap<object, number>();
  const server = await startScriptedTcpServer((_n, socket) => {
    const now = performance.now();
    const previous = last.get(socket);
    last.set(socket, now);
    return previous !== undefined && now - previous > timeoutMs ? 'swallow' : 'echo';
  });
  t.after(() => server.close());
  return server;
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
  assert.equal(server.accepted, 8);
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
