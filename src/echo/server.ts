/**
 * The standalone far end: an HTTP (or HTTPS) server carrying the health route and the WebSocket
 * echo, plus, optionally, the plain TCP echo for the idle-connection leg. Everything it opens is
 * tracked, so `close()` and `destroy()` leave nothing behind that would keep a process alive.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenAddress } from '../config/types.js';
import { CloseTracker } from './close-tracker.js';
import { newEchoCounters, type EchoCounters } from './counters.js';
import { HandshakeDeadline } from './handshake-deadline.js';
import { serveNotFound } from './http-routes.js';
import { closeServer, formatHostPort, listen, type BoundAddress } from '../net/listen.js';
import { mountResolvedEcho } from './mount.js';
import { CLOSE_GRACE_MS, resolveEchoOptions, type EchoOptions } from './options.js';
import { rejectUpgrade } from './reject-upgrade.js';
import { startTcpEcho, type TcpEcho } from './tcp-echo.js';
import { closeOnAbort } from '../util/close-on-abort.js';

export interface StartEchoOptions extends EchoOptions {
  /** Address of the HTTP(S) server (health route and WebSocket echo). Port 0 picks a free port. */
  listen: ListenAddress;
  /** Address of the plain TCP echo. Default: no TCP echo. */
  tcpListen?: ListenAddress;
  /** Serve HTTPS (and so wss://) with this certificate. Default: plain HTTP. */
  tls?: { certPem: string; keyPem: string };
  /** Aborting closes the server (gracefully). */
  signal?: AbortSignal;
}

export interface EchoServer {
  /** WebSocket URL of the echo route, for example `ws://127.0.0.1:PORT/probe/ws`. */
  readonly url: string;
  readonly httpAddress: BoundAddress;
  readonly tcpAddress: BoundAddress | undefined;
  /** Open WebSocket echo clients. */
  readonly connections: number;
  /** Open TCP echo clients (0 without `tcpListen`). */
  readonly tcpConnections: number;
  /** Echo bytes queued for WebSocket clients and not yet written to their sockets. */
  readonly bufferedBytes: number;
  /** WebSocket clients the server stopped reading from because they do not read their echoes. */
  readonly pausedClients: number;
  /**
   * What was refused or cut off since the start, by bound (HTTP and WebSocket side; the TCP
   * echo's own refusals are not in it). A live view: read it, don't keep it.
   */
  readonly counters: Readonly<EchoCounters>;
  /**
   * Graceful, idempotent: stop listening, close WebSocket clients with 1001, end TCP clients,
   * and destroy whatever is still open after a short grace.
   */
  close(): Promise<void>;
  /** Immediate: destroy every socket, as if the far end had been killed. */
  destroy(): void;
}

/** How much sooner than the handshake deadline Node closes an idle kept-alive connection. */
const KEEP_ALIVE_MARGIN_MS = 500;

export async function startEchoServer(options: StartEchoOptions): Promise<EchoServer> {
  const { listen: listenAddress, tcpListen, tls, signal, ...rest } = options;
  signal?.throwIfAborted();
  const echoOptions = resolveEchoOptions(rest);

  // The base handler answers 404; the mount serves our routes in front of it. After close() it is
  // what a request still arriving on a keep-alive connection gets.
  const counters = newEchoCounters();
  const notFound = (req: IncomingMessage, res: ServerResponse): void => serveNotFound(req, res, counters);
  const server: HttpServer | HttpsServer =
    tls === undefined
      ? createHttpServer(notFound)
      : // The TLS handshake gets the same bound before the HTTP one starts (both are per phase).
        createHttpsServer({ cert: tls.certPem, key: tls.keyPem, handshakeTimeout: echoOptions.handshakeTimeoutMs }, notFound);
  const sockets = new CloseTracker<Socket>();
  const deadline = new HandshakeDeadline(echoOptions.handshakeTimeoutMs, () => counters.handshakeTimeouts++);
  // TLS servers emit the raw TCP socket on 'connection' and the TLS socket on 'secureConnection';
  // both are tracked so destroy() reaches either layer. The deadline runs on the socket HTTP
  // reads from, which is the one the 'upgrade' event hands over.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    if (tls === undefined) deadline.start(socket);
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    deadline.start(socket);
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') counters.handshakeTimeouts++;
    socket.destroy();
  });
  // Node's default answer to a malformed request is a fixed 400 whatever the request's size;
  // ours obeys the reply budget like every other answer.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    rejectUpgrade(socket, err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, counters);
  });
  // Accept errors (EMFILE) after listening must not crash the process.
  server.on('error', ignore);
  const mount = mountResolvedEcho(server, echoOptions, counters);
  // After the mount's own listener: by then the upgrade has been accepted or refused.
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => deadline.stop(socket));
  // A complete request head is off the clock while it is answered; a connection kept alive after
  // its answer goes back on it, for the head of its next request.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    deadline.stop(req.socket);
    res.once('finish', () => {
      if (res.shouldKeepAlive && !req.socket.destroyed) deadline.start(req.socket);
    });
  });
  // Node closes an idle kept connection first (cleanly, between requests); the deadline above is
  // for a next request that starts and never finishes.
  server.keepAliveTimeout = Math.max(1, echoOptions.handshakeTimeoutMs - KEEP_ALIVE_MARGIN_MS);

  let httpAddress: BoundAddress;
  let tcp: TcpEcho | undefined;
  const destroySockets = (): void => {
    deadline.stopAll();
    mount.destroy();
    server.closeAllConnections();
    for (const socket of sockets) socket.destroy();
  };
  try {
    httpAddress = await listen(server, listenAddress, 'echo server');
    if (tcpListen !== undefined) {
      tcp = await startTcpEcho({
        listen: tcpListen,
        maxConnections: echoOptions.maxConnections,
        maxConnectionsPerIp: echoOptions.maxConnectionsPerIp,
      });
    }
  } catch (err) {
    destroySockets();
    await closeServer(server);
    throw err;
  }

  let closing: Promise<void> | undefined;
  let untieSignal = (): void => {};
  const scheme = tls === undefined ? 'ws' : 'wss';

  const echoServer: EchoServer = {
    url: `${scheme}://${formatHostPort({ host: connectableHost(httpAddress.host), port: httpAddress.port })}${echoOptions.wsPath}`,
    httpAddress,
    tcpAddress: tcp?.address,
    get connections() {
      return mount.connections;
    },
    get tcpConnections() {
      return tcp?.connections ?? 0;
    },
    get bufferedBytes() {
      return mount.bufferedBytes;
    },
    get pausedClients() {
      return mount.pausedClients;
    },
    counters,
    close() {
      closing ??= (async () => {
        untieSignal();
        deadline.stopAll();
        const closed = closeServer(server);
        server.closeIdleConnections();
        const httpDone = async (): Promise<void> => {
          if (!(await sockets.settled(CLOSE_GRACE_MS))) destroySockets();
        };
        await Promise.all([mount.close(), tcp?.close(), httpDone()]);
        await closed;
      })();
      return closing;
    },
    destroy() {
      untieSignal();
      closing ??= Promise.all([closeServer(server), tcp?.close()]).then(() => undefined);
      destroySockets();
      tcp?.destroy();
    },
  };

  untieSignal = await closeOnAbort(signal, () => echoServer.close());
  return echoServer;
}

/** A wildcard listen address is not something a client can connect to; loopback is. */
function connectableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function ignore(): void {
  // See the call site.
}
