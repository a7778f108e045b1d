/**
 * The echo server faces strangers: every bound on what one of them can make it hold, proven with
 * raw sockets against short configured values (the defaults are checked as configuration).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { ECHO_DEFAULTS } from '../src/echo/options.js';
import { startEchoServer, type EchoServer, type StartEchoOptions } from '../src/echo/server.js';
import { startTcpEcho } from '../src/echo/tcp-echo.js';
import { MIN_CONTROL_INTERVAL_MS } from '../src/config/leg-kinds.js';
import { DEFAULT_INTERVAL_MS } from '../src/config/defaults.js';
import { parseResponse, rawUpgrade, readUntilClose, upgradeRequest } from './helpers/raw-http.js';
import { waitFor } from './helpers/wait.js';
import { clientFrame, closeCodeOf, OPCODE, parseServerFrames } from './helpers/ws-frame.js';

const LOOPBACK = { host: '127.0.0.1', port: 0 };
/** Slack for a loaded 2-core machine on top of a configured bound. */
const MARGIN_MS = 1_500;

async function startServer(t: TestContext, options: Partial<StartEchoOptions> = {}): Promise<EchoServer> {
  const server = await startEchoServer({ listen: LOOPBACK, ...options });
  t.after(() => server.close());
  return server;
}

async function connectFrom(t: TestContext, port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Milliseconds from `startedAt` until the socket closes (whatever the server sent meanwhile). */
async function closedAfter(socket: Socket, startedAt: number): Promise<number> {
  socket.resume();
  // Not events.once(): it rejects on 'error', and a destroyed slowloris still writing reads ECONNRESET.
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
  return performance.now() - startedAt;
}

async function openWs(t: TestContext, url: string, localAddress?: string): Promise<WebSocket> {
  const ws = new WebSocket(url, localAddress === undefined ? {} : { localAddress });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

async function echoOnce(ws: WebSocket, data: string): Promise<string> {
  const reply = once(ws, 'message');
  ws.send(data);
  const [received] = (await reply) as [Buffer];
  return received.toString();
}

/** An upgrade from a given source address, read to the end: the refusal's status. */
async function upgradeStatusFrom(t: TestContext, port: number, localAddress: string): Promise<number> {
  const socket = await connectFrom(t, port, localAddress);
  socket.write(upgradeRequest('/probe/ws', port));
  const raw = (await readUntilClose(socket)).toString('latin1');
  return parseResponse(raw).status;
}

void test('the defaults: a slowloris is cut in under 10 s, a silent client after 30 s, per-IP below the total', () => {
  assert.ok(ECHO_DEFAULTS.handshakeTimeoutMs > 0 && ECHO_DEFAULTS.handshakeTimeoutMs < 10_000, `${ECHO_DEFAULTS.handshakeTimeoutMs}`);
  assert.ok(ECHO_DEFAULTS.maxConnectionsPerIp < ECHO_DEFAULTS.maxConnections);
  // Longer than the default heartbeat and the fastest idle-leg control by far; the probe's own
  // legs speak right after the upgrade anyway (see echo-legs.test.ts).
  assert.ok(ECHO_DEFAULTS.firstMessageTimeoutMs >= 10 * Math.max(DEFAULT_INTERVAL_MS, MIN_CONTROL_INTERVAL_MS));
  // A leg may heartbeat every 10 ms (100/s): the default rate limit must never cut it.
  assert.ok(ECHO_DEFAULTS.maxMessagesPerSecond >= 100);
  assert.ok(ECHO_DEFAULTS.messageBurst >= ECHO_DEFAULTS.maxMessagesPerSecond);
});

void test('handshake timeout: a silent connection and a byte-by-byte slowloris are closed within the bound', { timeout: 20_000 }, async (t) => {
  const handshakeTimeoutMs = 600;
  const server = await startServer(t, { handshakeTimeoutMs });
  const port = server.httpAddress.port;

  const silentStart = performance.now();
  const silent = await connectFrom(t, port);
  const dribbleStart = performance.now();
  const dribbler = await connectFrom(t, port);
  const request = upgradeRequest('/probe/ws', port);
  let sent = 0;
  // One byte every 50 ms: the head would take over 7 s to finish.
  const ticker = setInterval(() => {
    if (!dribbler.destroyed && sent < request.length - 1) dribbler.write(request[sent++]!);
  }, 50);
  t.after(() => clearInterval(ticker));

  const [silentMs, dribbleMs] = await Promise.all([closedAfter(silent, silentStart), closedAfter(dribbler, dribbleStart)]);
  clearInterval(ticker);
  for (const [name, ms] of [['silent', silentMs], ['slowloris', dribbleMs]] as const) {
    assert.ok(ms >= handshakeTimeoutMs - 50, `${name} closed after ${ms.toFixed(0)} ms, before the bound`);
    assert.ok(ms < handshakeTimeoutMs + MARGIN_MS, `${name} closed after ${ms.toFixed(0)} ms`);
  }
  assert.ok(sent < request.length - 1, 'the slowloris never finished its head');
  assert.equal(server.counters.handshakeTimeouts, 2);
});

void test('handshake timeout: a completed upgrade is not cut by it, and neither is a quick health check', { timeout: 20_000 }, async (t) => {
  const handshakeTimeoutMs = 300;
  const server = await startServer(t, { handshakeTimeoutMs });
  const ws = await openWs(t, server.url);
  assert.equal(await echoOnce(ws, 'first'), 'first');
  // The one bounded wait for the absence of an event: well past the handshake bound.
  await delay(handshakeTimeoutMs * 3);
  assert.equal(await echoOnce(ws, 'still open'), 'still open');
  assert.equal(server.counters.handshakeTimeouts, 0);
});

void test('handshake timeout over TLS: a client that never sends its ClientHello is closed within the bound', { timeout: 20_000 }, async (t) => {
  const ca = createCertificateAuthority();
  const leaf = ca.issue(['127.0.0.1']);
  const handshakeTimeoutMs = 500;
  const server = await startServer(t, { handshakeTimeoutMs, tls: { certPem: leaf.certPem, keyPem: leaf.keyPem } });
  const start = performance.now();
  const socket = await connectFrom(t, server.httpAddress.port);
  const ms = await closedAfter(socket, start);
  assert.ok(ms >= handshakeTimeoutMs - 50 && ms < handshakeTimeoutMs + MARGIN_MS, `closed after ${ms.toFixed(0)} ms`);
});

void test('per-IP cap: one address gets at most maxConnectionsPerIp, 503 above it, others are still admitted', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { maxConnections: 10, maxConnectionsPerIp: 2 });
  const port = server.httpAddress.port;
  const first = await openWs(t, server.url, '127.0.0.2');
  await openWs(t, server.url, '127.0.0.2');
  assert.equal(await upgradeStatusFrom(t, port, '127.0.0.2'), 503);
  assert.equal(server.counters.refusedPerIp, 1);

  const other = await openWs(t, server.url, '127.0.0.3');
  assert.equal(await echoOnce(other, 'another address'), 'another address');
  assert.equal(server.connections, 3);

  // A freed slot is that address's again.
  first.close();
  await waitFor('the slot of 127.0.0.2 to free up', () => server.connections === 2);
  const again = await openWs(t, server.url, '127.0.0.2');
  assert.equal(await echoOnce(again, 'admitted'), 'admitted');
});

void test('per-IP cap on the TCP echo: over it the connection is closed at once, other addresses still served', { timeout: 20_000 }, async (t) => {
  const echo = await startTcpEcho({ listen: LOOPBACK, maxConnections: 10, maxConnectionsPerIp: 1 });
  t.after(() => echo.close());
  const first = await connectFrom(t, echo.address.port, '127.0.0.2');
  await waitFor('the first connection', () => echo.connections === 1);
  const second = await connectFrom(t, echo.address.port, '127.0.0.2');
  assert.equal((await readUntilClose(second)).length, 0);
  const other = await connectFrom(t, echo.address.port, '127.0.0.3');
  other.write('x');
  assert.equal(((await once(other, 'data')) as [Buffer])[0].toString(), 'x');
  first.write('y');
  assert.equal(((await once(first, 'data')) as [Buffer])[0].toString(), 'y');
});

void test('first-message timeout: a WebSocket that never speaks is closed with 4408; one that spoke once is left alone', { timeout: 20_000 }, async (t) => {
  const firstMessageTimeoutMs = 500;
  const server = await startServer(t, { firstMessageTimeoutMs });
  const port = server.httpAddress.port;

  const start = performance.now();
  const { socket: mute } = await rawUpgrade(port, '/probe/ws');
  t.after(() => mute.destroy());
  const { socket: spoke } = await rawUpgrade(port, '/probe/ws');
  t.after(() => spoke.destroy());
  spoke.on('error', () => {});
  spoke.write(clientFrame(OPCODE.text, Buffer.from('hello')));

  const frames = parseServerFrames(await readUntilClose(mute));
  const ms = performance.now() - start;
  assert.equal(closeCodeOf(frames.at(-1)!), 4408);
  assert.ok(ms >= firstMessageTimeoutMs - 50 && ms < firstMessageTimeoutMs + MARGIN_MS, `closed after ${ms.toFixed(0)} ms`);
  assert.equal(server.counters.firstMessageTimeouts, 1);

  // The talker went silent after its first message, for three times the timeout.
  await delay(firstMessageTimeoutMs * 3 - (performance.now() - start));
  const replies: Buffer[] = [];
  spoke.on('data', (chunk: Buffer) => replies.push(chunk));
  spoke.resume();
  spoke.write(clientFrame(OPCODE.text, Buffer.from('after silence')));
  await waitFor('both echoes', () => {
    const texts = parseServerFrames(Buffer.concat(replies)).map((f) => f.payload.toString());
    return texts.includes('after silence') && texts;
  });
  assert.equal(server.counters.firstMessageTimeouts, 1);
});

void test('the TCP echo has no idle timeout: a silent client outlives the WebSocket first-message timeout', { timeout: 20_000 }, async (t) => {
  const firstMessageTimeoutMs = 300;
  const server = await startServer(t, { firstMessageTimeoutMs, handshakeTimeoutMs: 300, tcpListen: LOOPBACK });
  const socket = await connectFrom(t, server.tcpAddress!.port);
  const closed = once(socket, 'close').then(() => 'closed');
  // The one bounded wait for the absence of an event.
  assert.equal(await Promise.race([closed, delay(firstMessageTimeoutMs * 4, 'open')]), 'open');
  socket.write('late but fine');
  assert.equal(((await once(socket, 'data')) as [Buffer])[0].toString(), 'late but fine');
});

void test('rate limit: a flooding client is closed with 1008 and counted; a client within the rate is not', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { maxMessagesPerSecond: 20, messageBurst: 10 });
  const polite = await openWs(t, server.url);
  const flooder = await openWs(t, server.url);
  let echoed = 0;
  flooder.on('message', () => echoed++);
  const closed = once(flooder, 'close') as Promise<[number, Buffer]>;
  for (let i = 0; i < 200; i++) flooder.send(`flood ${i}`);
  const [code] = await closed;
  assert.equal(code, 1008);
  // The burst went through; the flood did not.
  assert.ok(echoed >= 10 && echoed < 20, `${echoed} echoes before the close`);
  assert.equal(server.counters.rateLimitedClients, 1);

  for (let i = 0; i < 5; i++) assert.equal(await echoOnce(polite, `polite ${i}`), `polite ${i}`);
  assert.equal(server.counters.rateLimitedClients, 1);
  await waitFor('the flooder to be forgotten', () => server.connections === 1);
});

void test('options: every new bound is validated with its key named', async () => {
  const cases: [Partial<StartEchoOptions>, string][] = [
    [{ handshakeTimeoutMs: 0 }, 'echo.handshakeTimeoutMs'],
    [{ firstMessageTimeoutMs: -1 }, 'echo.firstMessageTimeoutMs'],
    [{ maxConnectionsPerIp: 1.5 }, 'echo.maxConnectionsPerIp'],
    [{ maxMessagesPerSecond: 0 }, 'echo.maxMessagesPerSecond'],
    [{ messageBurst: 0 }, 'echo.messageBurst'],
  ];
  for (const [options, key] of cases) {
    await assert.rejects(startEchoServer({ listen: LOOPBACK, ...options }), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'PROBE_ERR_CONFIG');
      assert.equal((err as { key?: string }).key, key);
      return true;
    });
  }
});
