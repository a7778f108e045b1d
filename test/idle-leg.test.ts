import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEchoServer } from '../src/echo/server.js';
import { idleLegOptions, startLeg } from './helpers/legs.js';
import { startScriptedTcpServer } from './helpers/tcp-servers.js';
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
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('3 survived checks', async () => (await sampleIdle(probe, 'idle_checks_total', { result: 'survived' })) >= 3);
  assert.equal(server.accepted, 1, 'every check reused the first connection');
  const times = server.receivedAt[0] ?? [];
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
  assert.equal(echo.connections, 1);
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
  // Echo the verification of each connection, swallow everything after it: a forgotten connection.
  const server = await startScriptedTcpServer((n) => (n === 0 ? 'echo' : 'swallow'));
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 200, deadlineMs: 300 }));
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
  assert.equal(server.accepted, 2, 'the dead connection was replaced');
});

test('a reset answering the post-idle probe is the reset variant', async (t) => {
  const server = await startScriptedTcpServer((n) => (n === 0 ? 'echo' : 'reset'));
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 200 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'idle_expired');
  assert.equal(drop.expiry, 'reset');
  assert.equal(await sampleIdle(probe, 'idle_expiries_total', { expiry: 'reset' }), 1);
});

test('a connection closed while idle expires with the closed variant, before any probe is sent', async (t) => {
  const server = await startScriptedTcpServer(() => 'echo');
  t.after(() => server.close());
  const probe = startLeg(idleLegOptions({ url: server.url, idleMs: 10_000 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('the leg to be idle', async () => (await sampleIdle(probe, 'idle_seconds', {})) > 0);
  const dropped = probe.nextDrop();
  server.endAll();
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
