import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer, type ClientOptions } from 'ws';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { mountEcho } from '../src/echo/mount.js';
import { startEchoServer, type EchoServer, type StartEchoOptions } from '../src/echo/server.js';
import { startTcpEcho } from '../src/echo/tcp-echo.js';
import { isProbeError } from '../src/errors.js';
import { httpText } from './helpers/http-text.js';
import { rawConnect, rawExchange, rawUpgrade, readUntilClose, upgradeRequest } from './helpers/raw-http.js';
import { waitFor } from './helpers/wait.js';
import { clientFrame, closeCodeOf, OPCODE, parseServerFrames } from './helpers/ws-frame.js';

const LOOPBACK = { host: '127.0.0.1', port: 0 };

async function startServer(t: TestContext, options: Partial<StartEchoOptions> = {}): Promise<EchoServer> {
  const server = await startEchoServer({ listen: LOOPBACK, ...options });
  t.after(() => server.close());
  return server;
}

async function openWs(t: TestContext, url: string, options: ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

async function echoOnce(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(ws, 'message');
  ws.send(data);
  const [received, isBinary] = (await reply) as [Buffer, boolean];
  return { data: received, isBinary };
}

async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

async function tcpClient(t: TestContext, port: number): Promise<Socket> {
  const socket = await rawConnect(port);
  t.after(() => socket.destroy());
  return socket;
}

/** Write `data` and read until as many bytes came back. */
async function tcpEcho(socket: Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= data.length) {
        socket.removeListener('data', onData);
        socket.removeListener('close', onClose);
        resolve();
      }
    };
    const onClose = (): void => reject(new Error(`closed after ${length} of ${data.length} bytes`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
  socket.write(data);
  await done;
  return Buffer.concat(chunks);
}

function countResources(type: string): number {
  return process.getActiveResourcesInfo().filter((name) => name === type).length;
}

void test('echoes text as text and binary as binary, byte for byte, up to exactly maxPayloadBytes', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+\/probe\/ws$/);
  const ws = await openWs(t, server.url);

  const text = await echoOnce(ws, 'héllo ✓ \u{1F600}');
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString('utf8'), 'héllo ✓ \u{1F600}');

  const bytes = randomBytes(1000);
  const binary = await echoOnce(ws, bytes);
  assert.equal(binary.isBinary, true);
  assert.deepEqual(binary.data, bytes);

  const empty = await echoOnce(ws, Buffer.alloc(0));
  assert.equal(empty.isBinary, true);
  assert.equal(empty.data.length, 0);

  const exactlyMax = randomBytes(65_536);
  const big = await echoOnce(ws, exactlyMax);
  assert.equal(big.isBinary, true);
  assert.deepEqual(big.data, exactlyMax);
  assert.equal(server.connections, 1);
});

void test('1000 messages come back in the order they were sent', { timeout: 20_000 }, async (t) => {
  // A burst this size is over the default rate limit (echo-limits.test.ts); ordering is the point here.
  const server = await startServer(t, { maxMessagesPerSecond: 100_000, messageBurst: 1000 });
  const ws = await openWs(t, server.url);
  const received: string[] = [];
  const all = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      received.push(data.toString());
      if (received.length === 1000) resolve();
    });
  });
  const sent = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
  for (const message of sent) ws.send(message);
  await all;
  assert.deepEqual(received, sent);
});

void test('nothing is sent unsolicited: no greeting, no pings', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  const { socket, head } = await rawUpgrade(server.httpAddress.port, '/probe/ws?token=ignored');
  t.after(() => socket.destroy());
  assert.equal(head.length, 0);
  // The only frame that arrives is the echo of the one we send.
  socket.resume();
  const reply = once(socket, 'data');
  socket.write(clientFrame(OPCODE.text, Buffer.from('only this')));
  const [chunk] = (await reply) as [Buffer];
  const frames = parseServerFrames(chunk);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.opcode, OPCODE.text);
  assert.equal(frames[0]!.payload.toString(), 'only this');
  // This client would not answer the server's close frame; drop it rather than make teardown wait.
  socket.destroy();
});

void test('GET and HEAD /probe/healthz answer 200 "ok\\n" and close; other paths 404', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  const base = `http://127.0.0.1:${server.httpAddress.port}`;

  const health = await httpText(`${base}/probe/healthz?from=test`);
  assert.equal(health.status, 200);
  // No Content-Type any more: every answer stays smaller than its request (echo-exposure.test.ts).
  assert.equal(health.headers.connection, 'close');
  assert.equal(health.body, 'ok\n');

  const head = await httpText(`${base}/probe/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '3');
  assert.equal(head.body, '');

  const post = await httpText(`${base}/probe/healthz`, { method: 'POST' });
  assert.equal(post.status, 405);

  const missing = await httpText(`${base}/nope`);
  assert.equal(missing.status, 404);

  // A curl-sized request: Node's bare 68-byte one is too small to pay for the 81-byte 426 and
  // is closed unanswered (echo-exposure.test.ts).
  const port = server.httpAddress.port;
  const plainGetOnWsPath = await rawExchange(port, `GET /probe/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`);
  assert.equal(plainGetOnWsPath.status, 426);
  assert.equal(plainGetOnWsPath.headers.upgrade, 'websocket');
});

void test('an upgrade to any other path is answered 404 and the socket closed', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  const response = await rawExchange(server.httpAddress.port, upgradeRequest('/probe/other', server.httpAddress.port));
  assert.equal(response.statusLine, 'HTTP/1.1 404 Not Found');
  assert.equal(response.headers.connection, 'close');
  assert.equal(server.connections, 0);
});

void test('a message over maxPayloadBytes closes the client with 1009', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { maxPayloadBytes: 1024 });
  const ws = await openWs(t, server.url);
  const fits = await echoOnce(ws, Buffer.alloc(1024, 1));
  assert.equal(fits.data.length, 1024);

  const closed = closeOf(ws);
  ws.send(Buffer.alloc(1025, 1));
  assert.equal((await closed).code, 1009);
  await waitFor('the server to forget the closed client', () => server.connections === 0);
});

void test('over maxConnections the upgrade is answered 503 with Connection: close', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { maxConnections: 3 });
  const clients = [await openWs(t, server.url), await openWs(t, server.url), await openWs(t, server.url)];
  assert.equal(server.connections, 3);

  const refused = await rawExchange(server.httpAddress.port, upgradeRequest('/probe/ws', server.httpAddress.port));
  assert.equal(refused.statusLine, 'HTTP/1.1 503 Service Unavailable');
  assert.equal(refused.headers.connection, 'close');
  assert.equal(server.connections, 3);

  // The refused client does not disturb the admitted ones, and a freed slot can be reused.
  assert.equal((await echoOnce(clients[0]!, 'still here')).data.toString(), 'still here');
  clients[2]!.close();
  await waitFor('a slot to free up', () => server.connections === 2);
  const again = await openWs(t, server.url);
  assert.equal((await echoOnce(again, 'admitted')).data.toString(), 'admitted');
  assert.equal(server.connections, 3);
});

void test('a client that floods and never reads is paused, and the queued echo bytes stay bounded', { timeout: 30_000 }, async (t) => {
  const highWaterMarkBytes = 256 * 1024;
  const maxPayloadBytes = 64 * 1024;
  const server = await startServer(t, { highWaterMarkBytes, maxPayloadBytes });
  const { socket } = await rawUpgrade(server.httpAddress.port, '/probe/ws');
  t.after(() => socket.destroy());
  socket.on('error', () => {});

  // 128 MiB of masked frames (one buffer, written by reference), more than every kernel buffer
  // on the path can absorb; the socket is paused, so no echo is ever read.
  const frame = clientFrame(OPCODE.binary, Buffer.alloc(60 * 1024, 0x5a));
  const frames = Math.ceil((128 * 1024 * 1024) / frame.length);
  for (let i = 0; i < frames; i++) socket.write(frame);

  await waitFor('the server to pause the flooding client', () => server.pausedClients === 1, { timeoutMs: 15_000 });
  // Bound: the high-water mark, plus what one socket read (64 KiB) and one message can add
  // before the pause takes effect.
  const bound = highWaterMarkBytes + 64 * 1024 + 2 * maxPayloadBytes;
  assert.ok(server.bufferedBytes > highWaterMarkBytes / 2, `bufferedBytes ${server.bufferedBytes}`);
  assert.ok(server.bufferedBytes <= bound, `bufferedBytes ${server.bufferedBytes} > ${bound}`);
  // The server stopped reading: most of the flood is still queued on our side.
  assert.ok(socket.writableLength > 32 * 1024 * 1024, `client still has ${socket.writableLength} bytes to write`);

  // Everyone else is served while the flooder is parked.
  const other = await openWs(t, server.url);
  assert.equal((await echoOnce(other, 'unaffected')).data.toString(), 'unaffected');
  assert.equal((await httpText(`http://127.0.0.1:${server.httpAddress.port}/probe/healthz`)).status, 200);
  assert.ok(server.bufferedBytes <= bound, `bufferedBytes ${server.bufferedBytes} > ${bound}`);
  assert.equal(server.pausedClients, 1);

  socket.destroy();
  await waitFor('the flooder to be forgotten', () => server.connections === 1 && server.bufferedBytes === 0);
});

void test('a paused client resumes once it reads its echoes', { timeout: 30_000 }, async (t) => {
  // 2048 frames at once are over the default rate limit (echo-limits.test.ts); backpressure is the point here.
  const server = await startServer(t, { highWaterMarkBytes: 64 * 1024, maxMessagesPerSecond: 100_000, messageBurst: 4096 });
  const { socket } = await rawUpgrade(server.httpAddress.port, '/probe/ws');
  t.after(() => socket.destroy());
  const frame = clientFrame(OPCODE.binary, Buffer.alloc(16 * 1024, 1));
  const total = 2048;
  for (let i = 0; i < total; i++) socket.write(frame);
  await waitFor('the server to pause the client', () => server.pausedClients === 1, { timeoutMs: 15_000 });

  // Now read everything: every byte of every frame comes back, and the server un-pauses.
  let received = 0;
  const expected = total * (16 * 1024 + 4);
  const all = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= expected) resolve();
    });
  });
  socket.resume();
  await all;
  assert.equal(received, expected);
  assert.equal(server.pausedClients, 0);
  assert.equal(server.bufferedBytes, 0);
  socket.destroy();
});

void test('malformed frames and garbage close only the offending connection', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  const good = await openWs(t, server.url);
  const port = server.httpAddress.port;

  const cases: { name: string; bytes: Buffer; code: number }[] = [
    { name: 'unmasked client frame', bytes: clientFrame(OPCODE.text, Buffer.from('x'), { mask: null }), code: 1002 },
    { name: 'reserved opcode', bytes: clientFrame(0x3, Buffer.from('x')), code: 1002 },
    { name: 'invalid UTF-8 in a text frame', bytes: clientFrame(OPCODE.text, Buffer.from([0xff, 0xfe])), code: 1007 },
    { name: 'fragmented control frame', bytes: clientFrame(OPCODE.ping, Buffer.from('x'), { fin: false }), code: 1002 },
    { name: 'continuation without a start', bytes: clientFrame(OPCODE.continuation, Buffer.from('x')), code: 1002 },
    { name: 'random garbage', bytes: Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(64)]), code: 1002 },
  ];
  for (const { name, bytes, code } of cases) {
    const { socket } = await rawUpgrade(port, '/probe/ws');
    socket.write(bytes);
    const frames = parseServerFrames(await readUntilClose(socket));
    const close = frames.find((frame) => frame.opcode === OPCODE.close);
    assert.ok(close, `${name}: expected a close frame`);
    assert.equal(closeCodeOf(close), code, name);
    assert.equal((await echoOnce(good, name)).data.toString(), name);
  }

  // Not HTTP at all, and a connection dropped in the middle of the handshake.
  const junk = await rawConnect(port);
  junk.write('\x00\x01\x02 this is not http\r\n\r\n');
  await readUntilClose(junk);
  const halfway = await rawConnect(port);
  halfway.write(upgradeRequest('/probe/ws', port).slice(0, 40));
  halfway.destroy();

  await waitFor('only the good client to remain', () => server.connections === 1);
  assert.equal((await echoOnce(good, 'still fine')).data.toString(), 'still fine');
  assert.equal((await httpText(`http://127.0.0.1:${port}/probe/healthz`)).status, 200);
});

void test('mountEcho shares an existing server with its own routes and upgrades, and close() restores them', { timeout: 20_000 }, async (t) => {
  const theirRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.end(`theirs:${req.url}`);
  };
  const theirWss = new WebSocketServer({ noServer: true });
  theirWss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(`theirs:${data.toString()}`)));
  const theirUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (req.url === '/theirs') theirWss.handleUpgrade(req, socket, head, (ws) => theirWss.emit('connection', ws, req));
    else socket.destroy();
  };
  const server = createServer(theirRequest);
  server.on('upgrade', theirUpgrade);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const ws of theirWss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  const mount = mountEcho(server);
  assert.equal(server.listenerCount('request'), 1);
  assert.equal(server.listenerCount('upgrade'), 1);

  assert.equal((await httpText(`${base}/probe/healthz`)).body, 'ok\n');
  assert.equal((await httpText(`${base}/elsewhere?q=1`)).body, 'theirs:/elsewhere?q=1');
  const ours = await openWs(t, `ws://127.0.0.1:${port}/probe/ws`);
  assert.equal((await echoOnce(ours, 'ours')).data.toString(), 'ours');
  const theirs = await openWs(t, `ws://127.0.0.1:${port}/theirs`);
  assert.equal((await echoOnce(theirs, 'x')).data.toString(), 'theirs:x');
  assert.equal(mount.connections, 1);

  const oursClosed = closeOf(ours);
  const closing = mount.close();
  assert.equal(mount.close(), closing);
  await closing;
  assert.deepEqual(await oursClosed, { code: 1001, reason: 'echo server closing' });
  assert.equal(mount.connections, 0);

  assert.deepEqual(server.listeners('request'), [theirRequest]);
  assert.deepEqual(server.listeners('upgrade'), [theirUpgrade]);
  assert.equal((await httpText(`${base}/probe/healthz`)).body, 'theirs:/probe/healthz');
  assert.equal((await echoOnce(theirs, 'y')).data.toString(), 'theirs:y');
  // Their upgrade handler owns /probe/ws again, and it destroys unknown paths.
  const refused = new WebSocket(`ws://127.0.0.1:${port}/probe/ws`);
  await assert.rejects(once(refused, 'open'));
});

void test('TCP echo: bytes come back verbatim and an idle connection is left alone', { timeout: 20_000 }, async (t) => {
  const echo = await startTcpEcho({ listen: LOOPBACK });
  t.after(() => echo.close());
  const socket = await tcpClient(t, echo.address.port);
  const payload = randomBytes(256 * 1024);
  assert.deepEqual(await tcpEcho(socket, payload), payload);
  assert.equal(echo.connections, 1);

  // The one bounded wait for the absence of an event: the server must not close an idle client.
  const ended = Promise.race([once(socket, 'end'), once(socket, 'close')]).then(() => 'closed');
  assert.equal(await Promise.race([ended, delay(300, 'idle')]), 'idle');
  assert.equal(echo.connections, 1);
  assert.deepEqual(await tcpEcho(socket, Buffer.from('after idle')), Buffer.from('after idle'));
});

void test('TCP echo: maxConnections is enforced', { timeout: 20_000 }, async (t) => {
  const echo = await startTcpEcho({ listen: LOOPBACK, maxConnections: 2 });
  t.after(() => echo.close());
  const first = await tcpClient(t, echo.address.port);
  const second = await tcpClient(t, echo.address.port);
  await waitFor('two connections', () => echo.connections === 2);

  const third = await tcpClient(t, echo.address.port);
  third.on('error', () => {});
  await readUntilClose(third);
  assert.equal(echo.connections, 2);
  assert.deepEqual(await tcpEcho(first, Buffer.from('one')), Buffer.from('one'));
  assert.deepEqual(await tcpEcho(second, Buffer.from('two')), Buffer.from('two'));
});

void test('TLS: https health route and wss echo with a certificate from the throwaway CA', { timeout: 20_000 }, async (t) => {
  const ca = createCertificateAuthority();
  const leaf = ca.issue(['localhost', '127.0.0.1']);
  const server = await startServer(t, { tls: { certPem: leaf.certPem, keyPem: leaf.keyPem } });
  assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+\/probe\/ws$/);

  const health = await httpText(`https://127.0.0.1:${server.httpAddress.port}/probe/healthz`, { ca: ca.certPem });
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok\n');

  const ws = await openWs(t, server.url, { ca: ca.certPem });
  const bytes = randomBytes(4096);
  assert.deepEqual((await echoOnce(ws, bytes)).data, bytes);
  const viaName = await openWs(t, `wss://localhost:${server.httpAddress.port}/probe/ws`, { ca: ca.certPem });
  assert.equal((await echoOnce(viaName, 'by name')).data.toString(), 'by name');

  const untrusting = new WebSocket(server.url);
  await assert.rejects(once(untrusting, 'open'), /self-signed|unable to verify|certificate/i);

  const closed = closeOf(ws);
  await server.close();
  assert.equal((await closed).code, 1001);
});

void test('close() is graceful and idempotent: 1001 to WebSocket clients, FIN to TCP clients, port released', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { tcpListen: LOOPBACK });
  const ws = await openWs(t, server.url);
  const tcp = await tcpClient(t, server.tcpAddress!.port);
  assert.deepEqual(await tcpEcho(tcp, Buffer.from('hi')), Buffer.from('hi'));
  await waitFor('the TCP client to be counted', () => server.tcpConnections === 1);

  const wsClosed = closeOf(ws);
  const tcpEnded = once(tcp, 'end');
  const first = server.close();
  assert.equal(server.close(), first);
  await first;
  await server.close();

  // 1001 proves the closing handshake completed: a terminated client would see 1006.
  assert.deepEqual(await wsClosed, { code: 1001, reason: 'echo server closing' });
  await tcpEnded;
  assert.equal(server.connections, 0);
  assert.equal(server.tcpConnections, 0);
  await assert.rejects(rawConnect(server.httpAddress.port), { code: 'ECONNREFUSED' });
  await assert.rejects(rawConnect(server.tcpAddress!.port), { code: 'ECONNREFUSED' });
});

void test('close() does not wait forever for a client that never answers', { timeout: 10_000 }, async (t) => {
  const server = await startServer(t);
  const { socket } = await rawUpgrade(server.httpAddress.port, '/probe/ws');
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  // The client neither reads nor answers the close frame; after the grace it is cut off.
  const clientClosed = readUntilClose(socket);
  socket.pause();
  await server.close();
  assert.equal(server.connections, 0);
  socket.resume();
  const frames = parseServerFrames(await clientClosed);
  assert.equal(closeCodeOf(frames.at(-1)!), 1001);
});

void test('destroy() drops every client at once, as a killed far end would', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { tcpListen: LOOPBACK });
  const ws = await openWs(t, server.url);
  const tcp = await tcpClient(t, server.tcpAddress!.port);
  tcp.on('error', () => {});
  assert.deepEqual(await tcpEcho(tcp, Buffer.from('hi')), Buffer.from('hi'));

  const wsClosed = closeOf(ws);
  const tcpClosed = once(tcp, 'close');
  server.destroy();
  server.destroy();
  // No close frame: the client sees an abnormal closure.
  assert.equal((await wsClosed).code, 1006);
  await tcpClosed;
  await server.close();
  await assert.rejects(rawConnect(server.httpAddress.port), { code: 'ECONNREFUSED' });
});

void test('a listen failure rejects with the errno code and leaves nothing open', { timeout: 20_000 }, async (t) => {
  const blocker = createNetServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.after(() => blocker.close());
  const busy = { host: '127.0.0.1', port: (blocker.address() as AddressInfo).port };

  const servers = countResources('TCPServerWrap');
  const addressInUse = (err: unknown): boolean => {
    assert.ok(isProbeError(err, 'PROBE_ERR_LISTEN'));
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${busy.port}: EADDRINUSE`));
    return true;
  };
  await assert.rejects(startEchoServer({ listen: busy }), addressInUse);
  // The HTTP side listens first; when the TCP echo fails it must be closed again.
  await assert.rejects(startEchoServer({ listen: LOOPBACK, tcpListen: busy }), addressInUse);
  await assert.rejects(startTcpEcho({ listen: busy }), addressInUse);
  await waitFor('every listener opened by the failed starts to close', () => countResources('TCPServerWrap') === servers);
});

void test('options are validated once, with the key named', { timeout: 20_000 }, async () => {
  await assert.rejects(startEchoServer({ listen: LOOPBACK, maxPayloadBytes: 0 }), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.equal(err.key, 'echo.maxPayloadBytes');
    return true;
  });
  await assert.rejects(startEchoServer({ listen: LOOPBACK, maxPayload: 10 } as StartEchoOptions), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.match(err.message, /did you mean "maxPayloadBytes"/);
    return true;
  });
  assert.throws(() => mountEcho(createServer(), { wsPath: 'no-slash' }), { code: 'PROBE_ERR_CONFIG' });
});

void test('the AbortSignal: already aborted rejects at once; aborting later closes the server', { timeout: 20_000 }, async (t) => {
  await assert.rejects(startEchoServer({ listen: LOOPBACK, signal: AbortSignal.abort() }), { name: 'AbortError' });

  const controller = new AbortController();
  const server = await startServer(t, { signal: controller.signal });
  const ws = await openWs(t, server.url);
  const closed = closeOf(ws);
  controller.abort();
  assert.equal((await closed).code, 1001);
  await waitFor('the port to be released', async () => {
    try {
      (await rawConnect(server.httpAddress.port)).destroy();
      return false;
    } catch {
      return true;
    }
  });
});

void test('a process that starts the echo server, uses it and closes it exits by itself', { timeout: 30_000 }, async () => {
  const fixture = fileURLToPath(new URL('./fixtures/echo-lifecycle.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const deadline = AbortSignal.timeout(20_000);
  try {
    const [code, signal] = await Promise.race([
      exited,
      once(deadline, 'abort').then(() => {
        throw new Error(`child did not exit by itself within 20 s; stdout=${stdout} stderr=${stderr}`);
      }),
    ]);
    assert.equal(signal, null);
    assert.equal(code, 0, `stderr: ${stderr}`);
    assert.equal(stdout.trim(), 'closed ws=1001 connections=0');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
