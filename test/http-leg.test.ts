import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { startEchoServer } from '../src/echo/server.js';
import { FAST, httpLegOptions, startLeg } from './helpers/legs.js';
import { freePort, startHttpServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

test('an http leg polls on one persistent keep-alive connection and measures RTT', async (t) => {
  const server = await startHttpServer({ onRequest: (_req, res) => res.end('ok') });
  t.after(() => server.close());
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz` }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('5 successful requests', async () => (await probe.heartbeats('ok')) >= 5);
  assert.equal(server.sockets, 1, 'every request reused the first connection');
  assert.ok(server.requests >= 6);
  assert.equal(await probe.connected(), 1);
  const rtt = probe.leg.snapshot().lastRttSeconds;
  assert.ok(rtt !== null && rtt > 0 && rtt < 1);
});

test('a 503 drops the http leg with reason http_status, and a 2xx brings it back', async (t) => {
  let status = 200;
  const server = await startHttpServer({ onRequest: (_req, res) => res.writeHead(status).end('x') });
  t.after(() => server.close());
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz` }));
  t.after(() => probe.close());
  await probe.up();
  status = 503;
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'http_status');
  assert.equal(drop.status, 503);
  assert.equal(await probe.disconnects('http_status'), 1);
  assert.equal(await probe.disconnects(), 1);
  await waitFor('a failed retry while down', () => probe.leg.snapshot().reconnectAttempts >= 1);
  status = 204;
  await probe.up();
  assert.equal(await probe.disconnects(), 1);
});

test('nothing listening: the http leg drops with reason refused', async (t) => {
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${await freePort()}/healthz` }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'refused');
  assert.equal(await probe.disconnects(), 1);
});

test('a stalled response drops the http leg with reason timeout after the deadline', async (t) => {
  let stall = false;
  const server = await startHttpServer({
    onRequest: (_req, res) => {
      if (!stall) res.end('ok');
      // else: never answer, like a serve process whose event loop is stuck
    },
  });
  t.after(() => server.close());
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz` }));
  t.after(() => probe.close());
  await probe.up();
  stall = true;
  const stalledAt = performance.now();
  const drop = await probe.nextDrop();
  const elapsed = performance.now() - stalledAt;
  assert.equal(drop.reason, 'timeout');
  assert.equal(drop.code, 'PROBE_ERR_REQUEST_TIMEOUT');
  assert.ok(elapsed >= FAST.deadlineMs - 5 && elapsed <= FAST.intervalMs + FAST.deadlineMs + 100, `after ${elapsed.toFixed(0)} ms`);
  assert.equal(await probe.heartbeats('timeout'), 1);
});

test('the http leg works over https against the echo server health route, pinned, verified against the hostname', async (t) => {
  const ca = createCertificateAuthority('http-leg CA');
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tls: ca.issue(['serve.example.test']) });
  t.after(() => echo.close());
  const probe = startLeg(
    httpLegOptions({
      url: `https://serve.example.test:${echo.httpAddress.port}/probe/healthz`,
      resolve: { mode: 'pin', address: '127.0.0.1' },
      tls: { ca: ca.certPem, insecure: false },
    }),
  );
  t.after(() => probe.close());
  await probe.up();
  await waitFor('2 successful requests', async () => (await probe.heartbeats('ok')) >= 2);
});

test('killing the serve process drops the http leg, and it recovers when it returns', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  const port = echo.httpAddress.port;
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${port}/probe/healthz` }));
  t.after(() => probe.close());
  await probe.up();
  const dropped = probe.nextDrop();
  echo.destroy();
  const drop = await dropped;
  assert.ok(['refused', 'reset', 'closed'].includes(drop.reason), drop.reason);
  assert.equal(await probe.disconnects(), 1);
  const back = await startEchoServer({ listen: { host: '127.0.0.1', port } });
  t.after(() => back.close());
  await probe.up();
  assert.equal(await probe.disconnects(), 1);
});
