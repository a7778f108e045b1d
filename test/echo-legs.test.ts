/**
 * The echo's bounds against the probe's own legs: none of them may ever cut a leg that is doing
 * its job, and the token works end to end through a leg's `headers:`.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startEchoServer, type EchoServer, type StartEchoOptions } from '../src/echo/server.js';
import { idleLegOptions, startLeg, wsLegOptions } from './helpers/legs.js';
import { waitFor } from './helpers/wait.js';

const LOOPBACK = { host: '127.0.0.1', port: 0 };
const TOKEN = 'f4e1c9b27d3a8e60a5b1c2d3';

async function startServer(t: TestContext, options: Partial<StartEchoOptions> = {}): Promise<EchoServer> {
  const server = await startEchoServer({ listen: LOOPBACK, ...options });
  t.after(() => server.close());
  return server;
}

async function idleChecks(leg: ReturnType<typeof startLeg>, result: string): Promise<number> {
  const metric = leg.metrics.registry.getSingleMetric('t3probe_idle_checks_total');
  assert.ok(metric);
  const { values } = await metric.get();
  return values.filter((v) => v.labels.result === result).reduce((sum, v) => sum + v.value, 0);
}

void test('an idle leg over ws:// speaks first, so a silence longer than firstMessageTimeoutMs never cuts it', { timeout: 30_000 }, async (t) => {
  const firstMessageTimeoutMs = 400;
  const server = await startServer(t, { firstMessageTimeoutMs });
  // Silent for 3x the echo's never-spoke timeout between probes; the control beats every 250 ms.
  const leg = startLeg(idleLegOptions({ url: server.url, idleMs: 1_200, deadlineMs: 1_000, controlIntervalMs: 250 }));
  t.after(() => leg.close());
  await waitFor('2 survived idle checks', async () => (await idleChecks(leg, 'survived')) >= 2, { timeoutMs: 15_000 });
  assert.equal(await idleChecks(leg, 'expired'), 0);
  assert.equal(await leg.disconnects(), 0);
  assert.equal(server.counters.firstMessageTimeouts, 0);
  // The idle connection and its control, each the same one all along.
  assert.equal(server.connections, 2);
});

void test('a ws leg beats right after the upgrade, so even an interval longer than firstMessageTimeoutMs is never cut', { timeout: 30_000 }, async (t) => {
  const firstMessageTimeoutMs = 300;
  const server = await startServer(t, { firstMessageTimeoutMs });
  const leg = startLeg(wsLegOptions({ url: server.url, intervalMs: 1_000, deadlineMs: 800 }));
  t.after(() => leg.close());
  await leg.up();
  await waitFor('3 heartbeats answered', async () => (await leg.heartbeats('ok')) >= 3, { timeoutMs: 10_000 });
  assert.equal(await leg.disconnects(), 0);
  assert.equal(server.counters.firstMessageTimeouts, 0);
});

void test('token end to end: a ws leg sending Authorization: Bearer through headers: is admitted, without it refused 401', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { token: TOKEN });
  const good = startLeg(wsLegOptions({ name: 'with-token', url: server.url, headers: { Authorization: `Bearer ${TOKEN}` } }));
  t.after(() => good.close());
  await good.up();
  await waitFor('heartbeats answered', async () => (await good.heartbeats('ok')) >= 2);
  assert.equal(await good.disconnects(), 0);

  const bad = startLeg(wsLegOptions({ name: 'no-token', url: server.url }));
  t.after(() => bad.close());
  const drop = await bad.nextDrop();
  assert.equal(drop.reason, 'handshake');
  assert.equal(drop.status, 401);
  assert.ok(server.counters.refusedToken >= 1);
  assert.equal(await good.disconnects(), 0);
});
