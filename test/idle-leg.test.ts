import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { startEchoServer } from '../src/echo/server.js';
import { startTcpEcho } from '../src/echo/tcp-echo.js';
import { isProbeError } from '../src/errors.js';
import { idleLegOptions, startLeg } from './helpers/legs.js';
import { startForgetfulTcpServer, startScriptedTcpServer } from './helpers/tcp-servers.js';
import { waitFor } from './helpers/wait.js';

async function sampleIdle(leg: ReturnType<typeof startLeg>, name: string, labels: Record<string, string>): Promise<number> {
  const metric = leg.metrics.registry.getSingleMetric(`t3probe_${name}`);
  assert.ok(metric, name);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

test('an idle leg over TCP stays completely silent between checks and survives on the same connection', async (t) => {
  const server = await startScriptedTcpServer(() => 'echo');
  t.after(() => server.close());
  const idleMs = 300;
  // idle_survived_seconds is a metrics.detail: full series.
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs }), { detail: 'full' });
  t.after(() => probe.close());
  await probe.up();
  await waitFor('3 survived checks', async () => (await sampleIdle(probe, 'idle_checks_total', { result: 'survived' })) >= 3);
  assert.equal(server.idle.accepted, 1, 'every check reused the first connection');
  const times = server.idle.receivedAt[0] ?? [];
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
    assert.ok(gap >= idleMs - 5, `nothing was sent for ${gap.toFixed(0)} ms between probes ${i - 1} and ${i}`);
  }
  assert.equal(await probe.disconnects(), 0);
  assert.ok((await sampleIdle(probe, 'idle_longest_survived_seconds', {})) >= idleMs / 1000, 'never shorter than asked');
  const text = await probe.metrics.render();
  assert.match(text, /^t3probe_idle_survived_seconds_count\{leg="test-idle"\} [3-9]/m);
});

test('an idle leg over WebSocket works against the echo server', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const probe = startLeg(idleLegOptions({ url: echo.url }));
  t.after(() => probe.close());
  await waitFor('2 survived checks', async () => (await sampleIdle(probe, 'idle_checks_total', { result: 'survived' })) >= 2);
  // The idle connection and its control connection, both reused for every check.
  assert.equal(echo.connections, 2);
});

test('t3probe_idle_seconds shows the current idle time while the connection is silent', async (t) => {
  const server = await startScriptedTcpServer(() => 'echo');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 2_000 }));
  t.after(() => probe.close());
  await probe.up();
  const idle = await waitFor('idle time above 0.2 s', async () => {
    const seconds = await sampleIdle(probe, 'idle_seconds', {});
    return seconds > 0.2 && seconds;
  });
  assert.ok(idle < 2.5);
});

test('a connection that swallows the post-idle probe expires silently: idle_expired, counted once, then a new connection', async (t) => {
  // A middlebox that forgets a connection silent for over 300 ms: the idle one (500 ms) is
  // forgotten, the control (heartbeats every 100 ms) never is, so the expiry is conclusive.
  const server = await startForgetfulTcpServer(300, 'swallow');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 500, deadlineMs: 300, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'idle_expired');
  assert.equal(drop.expiry, 'silent');
  assert.equal(drop.code, 'PROBE_ERR_IDLE_EXPIRED/PROBE_ERR_HEARTBEAT_TIMEOUT');
  assert.equal(await probe.disconnects('idle_expired'), 1);
  assert.equal(await probe.disconnects(), 1);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'expired' }), 1);
  assert.equal(await sampleIdle(probe, 'idle_expiries_total', { expiry: 'silent' }), 1);
  await probe.up();
  assert.equal(server.idle.accepted, 2, 'the dead connection was replaced');
});

test('a reset answering the post-idle probe is the reset variant', async (t) => {
  const server = await startForgetfulTcpServer(300, 'reset');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 500, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'idle_expired');
  assert.equal(drop.expiry, 'reset');
  assert.equal(await sampleIdle(probe, 'idle_expiries_total', { expiry: 'reset' }), 1);
});

test('a connection closed while idle expires with the closed variant, before any probe is sent', async (t) => {
  // An LB that closes connections silent for 400 ms; the control heartbeats every 100 ms.
  const server = await startForgetfulTcpServer(400, 'end');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 10_000, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  const dropped = probe.nextDrop();
  await probe.up();
  await waitFor('the leg to be idle', async () => (await sampleIdle(probe, 'idle_seconds', {})) > 0);
  const drop = await dropped;
  assert.equal(drop.reason, 'idle_expired');
  assert.equal(drop.expiry, 'closed');
  assert.match(drop.message, /died while idle/);
});

test('a far end that does not echo at all fails the first check with reason timeout, not idle_expired', async (t) => {
  const server = await startScriptedTcpServer(() => 'swallow');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, deadlineMs: 200 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'timeout');
  assert.equal(await probe.disconnects('idle_expired'), 0);
});

test('the far end going away during the idle period is inconclusive, never idle_expired: the drop takes the control reason', async (t) => {
  const echo = await startTcpEcho({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.destroy());
  const probe = startLeg(idleLegOptions({ url: `tcp://127.0.0.1:${echo.address.port}`, idleMs: 10_000, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('the leg to be idle', async () => (await sampleIdle(probe, 'idle_seconds', {})) > 0.2);
  const dropped = probe.nextDrop();
  // The echo's process dies: every connection gets a FIN at the same moment, and nothing listens.
  echo.destroy();
  const drop = await dropped;
  // What the control saw: the FIN, or an RST when one of its heartbeats was still unread.
  assert.equal(drop.code, drop.reason === 'reset' ? 'PROBE_ERR_IDLE_INCONCLUSIVE/ECONNRESET' : 'PROBE_ERR_IDLE_INCONCLUSIVE/PROBE_ERR_PEER_CLOSED', JSON.stringify(drop));
  assert.equal(drop.expiry, undefined);
  assert.match(drop.message, /inconclusive/);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'inconclusive' }), 1);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'expired' }), 0);
  assert.equal(await sampleIdle(probe, 'idle_expiries_total', {}), 0);
  assert.equal(await probe.disconnects(drop.reason), 1);
  assert.equal(await probe.disconnects('idle_expired'), 0);
  assert.equal(await probe.disconnects(), 1);
  assert.equal(probe.leg.snapshot().idle?.checks.inconclusive, 1);
});

test('a true expiry while the control stayed up is idle_expired; the control heartbeated through the whole idle period', async (t) => {
  const server = await startForgetfulTcpServer(300, 'swallow');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 800, deadlineMs: 300, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'idle_expired');
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'expired' }), 1);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'inconclusive' }), 0);
  const control = server.control.receivedAt[0] ?? [];
  const idle = server.idle.receivedAt[0] ?? [];
  assert.ok(control.length >= 8, `the control heartbeated (${control.length} chunks)`);
  // The last control exchange is the confirmation after the idle connection was found dead.
  assert.ok((control.at(-1) ?? 0) > (idle.at(-1) ?? Infinity), 'the control was confirmed after the idle probe');
});

test('the control dropping alone ends nothing: the idle check survives and the control is reopened', async (t) => {
  let killControl = false;
  const server = await startScriptedTcpServer((_n, _socket, kind) => (kind === 'control' && killControl ? 'reset' : 'echo'));
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 600, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('the leg to be idle', async () => (await sampleIdle(probe, 'idle_seconds', {})) > 0);
  killControl = true;
  await waitFor('the control to be down', () => probe.leg.snapshot().idle?.control === 'down');
  killControl = false;
  await waitFor('a survived check', async () => (await sampleIdle(probe, 'idle_checks_total', { result: 'survived' })) >= 1);
  await waitFor('the control reopened', () => server.control.accepted === 2 && probe.leg.snapshot().idle?.control === 'up');
  assert.equal(await probe.disconnects(), 0);
  assert.equal(server.idle.accepted, 1, 'the idle connection was never replaced');
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'inconclusive' }), 0);
});

test('when the control cannot be reopened, a later idle death is inconclusive with the reason of the failed reopen', async (t) => {
  let refuseControl = false;
  let forgetIdle = false;
  // Control connections are reset once refuseControl is set (the live one at its next heartbeat,
  // a new one at its verification); the idle connection's bytes vanish once forgetIdle is set.
  const server = await startScriptedTcpServer((_n, _socket, kind) => {
    if (kind === 'control') return refuseControl ? 'reset' : 'echo';
    return forgetIdle ? 'swallow' : 'echo';
  });
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 600, deadlineMs: 300, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  await probe.up();
  refuseControl = true;
  await waitFor('the control to be down', () => probe.leg.snapshot().idle?.control === 'down');
  await waitFor('a failed attempt to reopen the control', () => server.control.accepted === 2 && (server.control.receivedAt[1]?.length ?? 0) >= 1);
  forgetIdle = true;
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'reset', JSON.stringify(drop));
  assert.match(drop.code, /^PROBE_ERR_IDLE_INCONCLUSIVE\/.*ECONNRESET/);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'survived' }), 1, 'the first check survived without the control');
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'inconclusive' }), 1);
  assert.equal(await sampleIdle(probe, 'idle_checks_total', { result: 'expired' }), 0);
  assert.equal(await probe.disconnects('idle_expired'), 0);
});

test('snapshot() of an idle leg shows its silence, its checks, the longest survived idle and the control', async (t) => {
  const server = await startScriptedTcpServer(() => 'echo');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 300 }));
  t.after(() => probe.close());
  await waitFor('2 survived checks', async () => (await sampleIdle(probe, 'idle_checks_total', { result: 'survived' })) >= 2);
  const status = await waitFor('a snapshot while idle', () => {
    const s = probe.leg.snapshot();
    return (s.idle?.idleForSeconds ?? 0) > 0.05 && s;
  });
  assert.ok(status.idle !== undefined);
  assert.ok(status.idle.idleForSeconds !== null && status.idle.idleForSeconds < 0.5, String(status.idle.idleForSeconds));
  assert.ok(status.idle.checks.survived >= 2);
  assert.equal(status.idle.checks.expired, 0);
  assert.equal(status.idle.checks.inconclusive, 0);
  assert.ok(status.idle.longestSurvivedSeconds !== null && status.idle.longestSurvivedSeconds >= 0.3);
  assert.equal(status.idle.control, 'up');
  await probe.close();
  const closed = probe.leg.snapshot();
  assert.equal(closed.idle?.idleForSeconds, null);
  assert.equal(closed.idle?.control, 'down');
});

test('closing an idle leg closes its control connection too, and its heartbeats stop', async (t) => {
  const server = await startScriptedTcpServer(() => 'echo');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 5_000, controlIntervalMs: 100 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('control heartbeats', () => (server.control.receivedAt[0]?.length ?? 0) >= 3);
  await probe.close();
  await waitFor('both connections closed at the far end', () => server.open === 0);
  const heartbeats = server.control.receivedAt[0]?.length ?? 0;
  // Poll well past several intervals: not one more heartbeat may arrive.
  await assert.rejects(waitFor('another heartbeat', () => (server.control.receivedAt[0]?.length ?? 0) > heartbeats, { timeoutMs: 400 }));
});

test('config: controlInterval defaults to 5s, at most a quarter of idle, at least 100ms; an explicit one is validated', () => {
  const legs = (yaml: string) => parseConfig(`legs:\n${yaml}`, { env: {} }).legs;
  const [long, short, tiny, explicit] = legs(
    [
      '  - { name: a, kind: idle, url: "tcp://10.0.0.9:9000" }',
      '  - { name: b, kind: idle, url: "tcp://10.0.0.9:9000", idle: 8s }',
      '  - { name: c, kind: idle, url: "tcp://10.0.0.9:9000", idle: 200ms }',
      '  - { name: d, kind: idle, url: "tcp://10.0.0.9:9000", idle: 16m, controlInterval: 30s }',
    ].join('\n'),
  );
  const interval = (leg: unknown) => (leg as { controlIntervalMs?: number }).controlIntervalMs;
  assert.equal(interval(long), 5_000);
  assert.equal(interval(short), 2_000);
  assert.equal(interval(tiny), 100);
  assert.equal(interval(explicit), 30_000);
  for (const [yaml, message] of [
    ['  - { name: a, kind: idle, url: "tcp://10.0.0.9:9000", controlInterval: 50ms }', 'legs[0] (a).controlInterval: must be a duration of at least 100ms (got "50ms")'],
    ['  - { name: a, kind: idle, url: "tcp://10.0.0.9:9000", idle: 4s, controlInterval: 3s }', 'legs[0] (a).controlInterval: must be at most half of idle (4s) (got "3s")'],
    ['  - { name: a, kind: ws, url: "wss://h.example/", controlInterval: 1s }', 'legs[0] (a).controlInterval: only valid for kind: idle legs (this leg is kind: ws)'],
  ] as const) {
    assert.throws(
      () => legs(yaml),
      // Each line starts with where the problem is written in the text (line:col).
      (err) => isProbeError(err, 'PROBE_ERR_CONFIG') && err.message.split('\n').some((line) => line.replace(/^\d+:\d+: /, '') === message),
      message,
    );
  }
});
