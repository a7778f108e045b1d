/**
 * What a stranger gets back: never more bytes than they sent (no amplification), nothing about
 * the software, the host or the network, and, where the operator asks for it, nothing at all
 * without the right Origin or token.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import { test, type TestContext } from 'node:test';
import { isProbeError } from '../src/errors.js';
import { startEchoServer, type EchoServer, type StartEchoOptions } from '../src/echo/server.js';
import { startTcpEcho } from '../src/echo/tcp-echo.js';
import { parseResponse, rawUpgrade, upgradeRequest } from './helpers/raw-http.js';
import { waitFor } from './helpers/wait.js';
import { clientFrame, OPCODE, parseServerFrames } from './helpers/ws-frame.js';

const LOOPBACK = { host: '127.0.0.1', port: 0 };
const TOKEN = 'k3Lw9vQz2N8pXr4TfYb6HsJd';

async function startServer(t: TestContext, options: Partial<StartEchoOptions> = {}): Promise<EchoServer> {
  const server = await startEchoServer({ listen: LOOPBACK, ...options });
  t.after(() => server.close());
  return server;
}

interface Exchange {
  readonly sent: number;
  readonly received: Buffer;
}

/** Write `request` on a fresh connection and read until the server closes it. */
async function exchange(port: number, request: string | Buffer, localAddress = '127.0.0.1'): Promise<Exchange> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  // Not events.once(): it rejects on 'error', and a connection the server destroys may read ECONNRESET.
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
  return { sent: Buffer.byteLength(request), received: Buffer.concat(chunks) };
}

/** A request the way curl writes one: the smallest head a real client sends. */
function curlLike(method: string, path: string, port: number, extra: readonly string[] = []): string {
  return [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'User-Agent: curl/8.5.0', 'Accept: */*', ...extra, '', ''].join('\r\n');
}

function assertNothingRevealed(name: string, raw: string): void {
  const { headers, body } = parseResponse(raw);
  assert.equal(headers.server, undefined, `${name}: Server header`);
  assert.equal(headers['x-powered-by'], undefined, `${name}: X-Powered-By header`);
  for (const secret of [os.hostname(), process.version, 'node', '127.0.0.1', ' at ', 'Error', TOKEN]) {
    assert.ok(!body.toLowerCase().includes(secret.toLowerCase()), `${name}: body reveals ${JSON.stringify(secret)}: ${JSON.stringify(body)}`);
  }
  assert.match(body, /^[A-Za-z :\n]*$/, `${name}: body is a short plain phrase`);
}

void test('no amplification: on every route the server sends fewer bytes than it received', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { maxConnections: 1, allowedOrigins: ['https://ok.example'], tcpListen: LOOPBACK });
  const port = server.httpAddress.port;
  const badKey = upgradeRequest('/probe/ws', port).replace('dGhlIHNhbXBsZSBub25jZQ==', 'short');

  const routes: [string, string | Buffer, number | 'silent'][] = [
    ['healthz GET', curlLike('GET', '/probe/healthz', port), 200],
    ['healthz HEAD', curlLike('HEAD', '/probe/healthz', port), 200],
    ['healthz POST', curlLike('POST', '/probe/healthz', port, ['Content-Length: 0']), 405],
    ['404', curlLike('GET', '/nope', port), 404],
    ['upgrade to another path', upgradeRequest('/other', port), 404],
    ['upgrade with a bad key', badKey, 400],
    ['upgrade from a foreign Origin', upgradeRequest('/probe/ws', port, ['Origin: https://evil.example']), 403],
    ['not HTTP at all', 'this is not http at all, not even close to it\r\n\r\n', 400],
    // Too small to pay for any answer: the connection is closed without one.
    ['tiny request', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'silent'],
  ];
  for (const [name, request, expected] of routes) {
    const { sent, received } = await exchange(port, request);
    assert.ok(received.length <= sent, `${name}: ${received.length} bytes back for ${sent} sent: ${JSON.stringify(received.toString('latin1'))}`);
    if (expected === 'silent') {
      assert.equal(received.length, 0, name);
    } else {
      assert.equal(parseResponse(received.toString('latin1')).status, expected, name);
      assertNothingRevealed(name, received.toString('latin1'));
    }
  }

  // 426 on the WebSocket path: a browser-sized GET gets the explanation.
  const browserGet = curlLike('GET', '/probe/ws', port, [
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language: en-US,en;q=0.5',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  ]);
  const plainGet = await exchange(port, browserGet);
  assert.ok(plainGet.received.length <= plainGet.sent);
  assert.equal(parseResponse(plainGet.received.toString('latin1')).status, 426);

  // The WebSocket echo itself, and 503 over the cap while it is held.
  const { socket, head } = await rawUpgrade(port, '/probe/ws');
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  const replies: Buffer[] = [head];
  socket.on('data', (chunk: Buffer) => replies.push(chunk));
  socket.resume();
  let sentFrames = 0;
  for (const size of [0, 1, 125, 126, 65_535, 65_536]) {
    const frame = clientFrame(OPCODE.binary, Buffer.alloc(size, 7));
    sentFrames += frame.length;
    socket.write(frame);
  }
  const ping = clientFrame(OPCODE.ping, Buffer.from('ping'));
  sentFrames += ping.length;
  socket.write(ping);
  await waitFor('every echo and the pong', () => parseServerFrames(Buffer.concat(replies)).length === 7);
  const upgradeBytes = Buffer.byteLength(upgradeRequest('/probe/ws', port));
  assert.ok(socket.bytesRead <= upgradeBytes + sentFrames, `${socket.bytesRead} > ${upgradeBytes + sentFrames}`);

  const full = await exchange(port, upgradeRequest('/probe/ws', port));
  assert.equal(parseResponse(full.received.toString('latin1')).status, 503);
  assert.ok(full.received.length <= full.sent);
  assertNothingRevealed('503', full.received.toString('latin1'));

  // TCP echo: exactly what was sent.
  const tcp = connect({ port: server.tcpAddress!.port, host: '127.0.0.1' });
  t.after(() => tcp.destroy());
  await once(tcp, 'connect');
  tcp.write('12345');
  tcp.end();
  let tcpBack = 0;
  tcp.on('data', (chunk: Buffer) => (tcpBack += chunk.length));
  await once(tcp, 'close');
  assert.equal(tcpBack, 5);
});

void test('the health route answers a curl-sized request in full and says nothing about the host', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t);
  const port = server.httpAddress.port;
  const { received } = await exchange(port, curlLike('GET', '/probe/healthz?x=1', port, ['Connection: close']));
  // Every byte of it: nothing but what a health check needs.
  assert.equal(received.toString('latin1'), 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n');
  assertNothingRevealed('healthz', received.toString('latin1'));
});

void test('a health connection is kept alive when asked, within the reply budget, and must send its next head within the handshake timeout', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { handshakeTimeoutMs: 1_000 });
  const port = server.httpAddress.port;
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const request = curlLike('GET', '/probe/healthz', port);
  const answer = 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nok\n';
  // Three requests on one connection, each answered in full, for longer than the handshake timeout:
  // answering puts the connection back on the clock, it does not run from the accept.
  for (let i = 1; i <= 3; i++) {
    socket.write(request);
    await waitFor(`answer ${i}`, () => received.length >= answer.length * i, { timeoutMs: 2_000 });
    await new Promise((resolve) => setTimeout(resolve, 600));
  }
  assert.equal(received, answer.repeat(3));
  assert.ok(answer.length < Buffer.byteLength(request), 'each answer is smaller than its request');
  assert.equal(socket.closed, false);
  // A next head that starts and never finishes is cut by the handshake deadline.
  const started = Date.now();
  socket.write('GET /probe/healthz HTTP/1.1\r\nHost: x\r\n');
  // Not events.once(): it rejects on 'error', and a connection the server destroys may read ECONNRESET.
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1_800, `cut after ${elapsed} ms`);
  assert.equal(received, answer.repeat(3), 'nothing answered to the unfinished head');
  assert.equal(server.counters.handshakeTimeouts, 1);
});

void test('allowedOrigins: a listed Origin and no Origin are admitted, any other is 403', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { allowedOrigins: ['https://ok.example', 'http://localhost:3000'] });
  const port = server.httpAddress.port;
  const status = async (extra: string[]): Promise<number> => {
    const socket = connect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(upgradeRequest('/probe/ws', port, extra));
    await waitFor('a status line', () => Buffer.concat(chunks).includes('\r\n\r\n'));
    socket.destroy();
    return parseResponse(Buffer.concat(chunks).toString('latin1')).status;
  };
  assert.equal(await status(['Origin: https://ok.example']), 101);
  assert.equal(await status(['Origin: http://localhost:3000']), 101);
  assert.equal(await status([]), 101);
  assert.equal(await status(['Origin: https://evil.example']), 403);
  assert.equal(await status(['Origin: https://ok.example.evil.example']), 403);
  assert.equal(await status(['Origin: HTTPS://OK.EXAMPLE']), 403);
  assert.equal(await status(['Origin: null']), 403);
  assert.equal(server.counters.refusedOrigin, 4);
});

void test('token: Bearer header or ?token= admits; wrong, missing or another length is 401; health needs none', { timeout: 20_000 }, async (t) => {
  const server = await startServer(t, { token: TOKEN });
  const port = server.httpAddress.port;
  const status = async (path: string, extra: string[] = []): Promise<number> => {
    const socket = connect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(upgradeRequest(path, port, extra));
    await waitFor('a status line', () => Buffer.concat(chunks).includes('\r\n\r\n'));
    socket.destroy();
    const response = parseResponse(Buffer.concat(chunks).toString('latin1'));
    if (response.status !== 101) assertNothingRevealed(`${path} ${extra.join()}`, Buffer.concat(chunks).toString('latin1'));
    return response.status;
  };
  assert.equal(await status('/probe/ws', [`Authorization: Bearer ${TOKEN}`]), 101);
  assert.equal(await status(`/probe/ws?token=${encodeURIComponent(TOKEN)}`), 101);
  assert.equal(await status('/probe/ws'), 401);
  assert.equal(await status('/probe/ws', [`Authorization: Bearer ${TOKEN.slice(0, -1)}x`]), 401);
  assert.equal(await status('/probe/ws', [`Authorization: Bearer ${TOKEN}${TOKEN}`]), 401);
  assert.equal(await status('/probe/ws', [`Authorization: Basic ${TOKEN}`]), 401);
  assert.equal(await status('/probe/ws?token=nope'), 401);
  assert.equal(server.counters.refusedToken, 5);
  assert.equal(server.connections, 0);

  const health = await exchange(port, curlLike('GET', '/probe/healthz', port));
  assert.equal(parseResponse(health.received.toString('latin1')).status, 200);
});

void test('access options are validated, and a bad token is never echoed in the error', async () => {
  const reject = async (options: Partial<StartEchoOptions>, key: string): Promise<void> => {
    await assert.rejects(startEchoServer({ listen: LOOPBACK, ...options }), (err: unknown) => {
      assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
      assert.equal(err.key, key);
      return true;
    });
  };
  await reject({ allowedOrigins: ['https://ok.example/'] }, 'echo.allowedOrigins[0]');
  await reject({ allowedOrigins: ['https://ok.example', 'ok.example'] }, 'echo.allowedOrigins[1]');
  await reject({ allowedOrigins: [] }, 'echo.allowedOrigins');
  await assert.rejects(startEchoServer({ listen: LOOPBACK, token: 'short-secret' }), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.equal(err.key, 'echo.token');
    assert.ok(!err.message.includes('short-secret'), err.message);
    return true;
  });
  await reject({ token: `${TOKEN} with spaces` }, 'echo.token');
});

void test('TCP echo: per-IP cap applies, and an echo is never larger than what was sent', { timeout: 20_000 }, async (t) => {
  const echo = await startTcpEcho({ listen: LOOPBACK, maxConnectionsPerIp: 2 });
  t.after(() => echo.close());
  const sockets: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = connect({ port: echo.address.port, host: '127.0.0.1', localAddress: '127.0.0.5' });
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    sockets.push(socket);
  }
  await waitFor('two connections', () => echo.connections === 2);
  const third = await exchange(echo.address.port, 'refused', '127.0.0.5');
  assert.equal(third.received.length, 0);
  assert.equal(echo.connections, 2);
});
