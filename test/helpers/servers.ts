/**
 * Misbehaving far ends for leg tests, each a real server on port 0: silent (never echoes),
 * scripted (echo with extras), plain HTTP answering upgrades with a status, and a free port that
 * nothing listens on.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ScriptedServer {
  readonly port: number;
  readonly url: string;
  readonly upgrades: IncomingMessage[];
  readonly clients: Set<WebSocket>;
  close(): Promise<void>;
}

/** A ws server whose per-connection behaviour is a function: the test scripts the far end. */
export async function startScriptedWsServer(
  onConnection: (ws: WebSocket, req: IncomingMessage) => void,
  tls?: { certPem: string; keyPem: string },
): Promise<ScriptedServer> {
  const server = tls === undefined ? http.createServer() : https.createServer({ cert: tls.certPem, key: tls.keyPem });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const upgrades: IncomingMessage[] = [];
  const clients = new Set<WebSocket>();
  wss.on('connection', (ws, req) => {
    upgrades.push(req);
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => {});
    onConnection(ws, req);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}/probe/ws`,
    upgrades,
    clients,
    async close() {
      for (const ws of clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Plain HTTP server: upgrades get `status`, requests get whatever `onRequest` says. */
export async function startHttpServer(options: {
  upgradeStatus?: number;
  onRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}): Promise<{ port: number; server: http.Server; requests: number; sockets: number; close(): Promise<void> }> {
  let requests = 0;
  let sockets = 0;
  const server = http.createServer((req, res) => {
    requests++;
    (options.onRequest ?? ((_q, r) => r.end('ok')))(req, res);
  });
  server.on('connection', () => sockets++);
  server.on('upgrade', (_req, socket) => {
    const status = options.upgradeStatus ?? 404;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    get requests() {
      return requests;
    },
    get sockets() {
      return sockets;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port that was just free: bind, read the port, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
