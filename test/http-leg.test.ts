import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { startEchoServer } from '../src/echo/server.js';
import type { ProbeMetrics } from '../src/metrics/registry.js';
import { FAST, httpLegOptions, startLeg } from './helpers/legs.js';
import { sampleSum } from './helpers/exposition.js';
import { freePort, startHttpServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

/** One series of a metric by its exposed name (`t3probe_rtt_seconds_count`, ...). */
function series(metrics: ProbeMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sampleSum(metrics, name, labels);
}

const rttCount = (metrics: ProbeMetrics): Promise<number> => series(metrics, 't3probe_rtt_seconds_count');

/**
 * Python's http.server: HTTP/1.0, one request per connection, an access-log line on stderr per
 * answered request. Port 0 is only reachable from a script, which prints the port it got.
 */
async function startPythonHttpServer(t: TestContext): Promise<{ port: number; answered(status: number): number }> {
  const root = await mkdtemp(join(tmpdir(), 't3probe-http10-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'healthz'), 'ok\n');
  const script = [
    'import http.server, sys',
    "server = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)",
    'print(server.server_address[1], flush=True)',
    'server.serve_forever()',
  ].join('\n');
  const child = spawn('python3', ['-u', '-c', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const statuses: number[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    const match = /"GET \S+ HTTP\/1\.1" (\d{3}) /.exec(line);
    if (match?.[1] !== undefined) statuses.push(Number(match[1]));
  });
  const [line] = (await Promise.race([once(createInterface({ input: child.stdout }), 'line'), exited.then(() => [])])) as string[];
  if (line === undefined) throw new Error('python3 http.server exited before printing its port');
  return { port: Number(line), answered: (status) => statuses.filter((s) => s === status).length };
}

test('an http leg polls on one persistent keep-alive connection and measures RTT', async (t) => {
  const server = await startHttpServer({ onRequest: (_req, res) => res.end('ok') });
  t.after(() => server.close());
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz` }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('6 successful requests', async () => (await probe.heartbeats('ok')) >= 6);
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

test('every answered GET is an ok heartbeat and an RTT sample, even when the far end closes each connection (HTTP/1.0)', async (t) => {
  const server = await startPythonHttpServer(t);
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz`, deadlineMs: 2_000 }));
  t.after(() => probe.close());
  await probe.up();
  // The server logs a request just before answering it, so poll for a moment when both sides agree.
  const n = await waitFor('ok heartbeats and RTT samples equal to the 200s the server answered (at least 5)', async () => {
    const answered = server.answered(200);
    const ok = await probe.heartbeats('ok');
    const samples = await rttCount(probe.metrics);
    return answered >= 5 && ok === answered && samples === answered && server.answered(200) === answered && answered;
  });
  // Each request really opened a connection of its own.
  assert.equal(await series(probe.metrics, 't3probe_connect_seconds_count', { phase: 'tcp' }) >= n, true);
  assert.equal(await probe.disconnects(), 0);
});

test('the first request on a keep-alive connection is an ok heartbeat and an RTT sample too', async (t) => {
  const server = await startHttpServer({ onRequest: (_req, res) => res.end('ok') });
  t.after(() => server.close());
  // A slower interval, so nothing else happens between the first answer and the reads below.
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz`, intervalMs: 400 }));
  t.after(() => probe.close());
  await probe.up();
  // Right after the first answer: one request, one heartbeat, one sample.
  assert.equal(await probe.heartbeats('ok'), 1);
  assert.equal(await rttCount(probe.metrics), 1);
  await waitFor('ok heartbeats and RTT samples equal to the requests answered (at least 3)', async () => {
    const answered = server.requests;
    return answered >= 3 && (await probe.heartbeats('ok')) === answered && (await rttCount(probe.metrics)) === answered;
  });
  assert.equal(server.sockets, 1);
});

/**
 * A TCP relay that holds every new connection for `delayMs` before dialling `upstreamPort`: a slow
 * connection setup (here: a TLS handshake that takes at least `delayMs`).
 */
async function startSlowSetupRelay(t: TestContext, upstreamPort: number, delayMs: number): Promise<number> {
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.pause();
    const timer = setTimeout(() => {
      timers.delete(timer);
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    }, delayMs);
    timers.add(timer);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.after(async () => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  return (relay.address() as AddressInfo).port;
}

test('RTT ends at the response headers: a body that comes late is not in the RTT', async (t) => {
  const BODY_DELAY_MS = 400;
  const bodyTimers = new Set<NodeJS.Timeout>();
  const server = await startHttpServer({
    onRequest: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders();
      const timer = setTimeout(() => {
        bodyTimers.delete(timer);
        res.end('ok');
      }, BODY_DELAY_MS);
      bodyTimers.add(timer);
    },
  });
  t.after(() => {
    for (const timer of bodyTimers) clearTimeout(timer);
    return server.close();
  });
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz`, deadlineMs: 2_000 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('3 RTT samples', async () => (await rttCount(probe.metrics)) >= 3);
  const samples = await rttCount(probe.metrics);
  const rttSum = await series(probe.metrics, 't3probe_rtt_seconds_sum');
  assert.ok(rttSum / samples < BODY_DELAY_MS / 1000 / 2, `mean RTT ${rttSum / samples} s`);
  assert.equal(await probe.heartbeats('ok'), samples);
  assert.equal(server.sockets, 1);
});

test('RTT starts when the request is written: a slow connection setup lands in the tls phase, not in the RTT', async (t) => {
  const SETUP_DELAY_MS = 400;
  const tlsCa = createCertificateAuthority('http-leg rtt CA');
  const leaf = tlsCa.issue(['serve.example.test']);
  // A new connection for every request, so every request pays the slow setup.
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => {
    res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const relayPort = await startSlowSetupRelay(t, (server.address() as AddressInfo).port, SETUP_DELAY_MS);
  const probe = startLeg(
    httpLegOptions({
      url: `https://serve.example.test:${relayPort}/healthz`,
      resolve: { mode: 'pin', address: '127.0.0.1' },
      tls: { ca: tlsCa.certPem, insecure: false },
      deadlineMs: 3_000,
    }),
  );
  t.after(() => probe.close());
  await probe.up();
  await waitFor('2 RTT samples', async () => (await rttCount(probe.metrics)) >= 2, { timeoutMs: 8_000 });
  const samples = await rttCount(probe.metrics);
  const rttSum = await series(probe.metrics, 't3probe_rtt_seconds_sum');
  const tlsCount = await series(probe.metrics, 't3probe_connect_seconds_count', { phase: 'tls' });
  const tlsSum = await series(probe.metrics, 't3probe_connect_seconds_sum', { phase: 'tls' });
  assert.ok(tlsCount >= samples && tlsSum / tlsCount >= SETUP_DELAY_MS / 1000, `tls phase mean ${tlsSum / tlsCount} s`);
  assert.ok(rttSum / samples < SETUP_DELAY_MS / 1000 / 2, `mean RTT ${rttSum / samples} s`);
});

/**
 * A raw HTTP server whose `closeOn(connection, request)` decides, per request, to close the
 * connection (FIN) instead of answering: what a server does when its keep-alive idle timeout and
 * the next request cross on the wire.
 */
async function closingServer(t: TestContext, closeOn: (connection: number, request: number) => boolean): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const connection = ++connections;
    let requests = 0;
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        if (closeOn(connection, ++requests)) {
          socket.end();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

test('the keep-alive race (a kept connection closed as the next request goes out) is retried on a new connection, not a drop', async (t) => {
  // The first connection answers twice, then closes instead of answering its third request.
  const server = await closingServer(t, (connection, request) => connection === 1 && request === 3);
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz`, intervalMs: 50, deadlineMs: 1_000 }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('5 successful requests', async () => (await probe.heartbeats('ok')) >= 5);
  assert.deepEqual(probe.drops, [], 'no drop');
  assert.equal(server.connections(), 2, 'the third request went out again on a second connection');
});

test('a fresh connection closed before it answers is still a drop (closed), never retried', async (t) => {
  // Every connection answers its first request and closes on its second, except the second
  // connection, which closes on its very first request.
  const server = await closingServer(t, (connection, request) => (connection === 2 ? request === 1 : request === 2));
  const probe = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/healthz`, intervalMs: 50, deadlineMs: 1_000 }));
  t.after(() => probe.close());
  await probe.up();
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'closed');
  assert.equal(server.connections(), 2, 'one retry, on connection 2, which closed unanswered');
});
