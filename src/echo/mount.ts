/**
 * Mount the echo routes onto an existing http/https server that already serves something else.
 * Our one 'request' and one 'upgrade' listener replace the server's existing ones: our two paths
 * are served here, every other request or upgrade is handed to the original listeners, in their
 * original order. `close()` puts the original listeners back and closes our WebSocket clients.
 *
 * What a mount enforces: everything from the moment a complete request head reaches our paths
 * (access controls, both connection caps, the first-message timeout, the rate limit, message
 * size, backpressure, small answers). What it cannot: the time a connection may take to send
 * that head, or its TLS handshake. Those belong to the server that owns the connections; set its
 * `headersTimeout`/`requestTimeout` and, at creation, `connectionsCheckingInterval` (Node checks
 * only every 30 s by default) and, for https, `handshakeTimeout`.
 */
import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { newEchoCounters, type EchoCounters } from './counters.js';
import { requestPath, serveHealth, serveNotFound, serveUpgradeRequired } from './http-routes.js';
import { resolveEchoOptions, type EchoOptions, type ResolvedEchoOptions } from './options.js';
import { WsEcho } from './ws-echo.js';

export interface EchoMount {
  /** Open WebSocket echo clients. */
  readonly connections: number;
  /** Echo bytes queued for clients and not yet written to their sockets. */
  readonly bufferedBytes: number;
  /** Clients the server stopped reading from because they do not read their echoes. */
  readonly pausedClients: number;
  /** What was refused or cut off since the mount, by bound. A live view: read it, don't keep it. */
  readonly counters: Readonly<EchoCounters>;
  /**
   * Graceful, idempotent: restore the original listeners, send close 1001 to every client,
   * terminate those that have not finished the closing handshake after a short grace.
   */
  close(): Promise<void>;
  /** Immediate: restore the original listeners and destroy every client socket. */
  destroy(): void;
}

// EventEmitter listeners, as returned by rawListeners(); `once` wrappers are kept as they are.
type Listener = (this: unknown, ...args: unknown[]) => unknown;

export function mountEcho(server: HttpServer | HttpsServer, options: EchoOptions = {}): EchoMount {
  return mountResolvedEcho(server, resolveEchoOptions(options), newEchoCounters());
}

/** For startEchoServer, which validated the options already and counts into the same counters. */
export function mountResolvedEcho(server: HttpServer | HttpsServer, resolved: ResolvedEchoOptions, counters: EchoCounters): EchoMount {
  const echo = new WsEcho(resolved, counters);
  const originalRequest = server.rawListeners('request') as Listener[];
  const originalUpgrade = server.rawListeners('upgrade') as Listener[];

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = requestPath(req.url);
    if (path === resolved.healthPath) {
      serveHealth(req, res, counters);
    } else if (path === resolved.wsPath) {
      serveUpgradeRequired(req, res, counters);
    } else if (originalRequest.length === 0) {
      serveNotFound(req, res, counters);
    } else {
      for (const listener of originalRequest) listener.call(server, req, res);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (requestPath(req.url) === resolved.wsPath) {
      echo.handleUpgrade(req, socket, head);
    } else if (originalUpgrade.length === 0) {
      echo.reject(socket, 404);
    } else {
      for (const listener of originalUpgrade) listener.call(server, req, socket, head);
    }
  };

  for (const listener of originalRequest) server.removeListener('request', listener);
  for (const listener of originalUpgrade) server.removeListener('upgrade', listener);
  server.on('request', onRequest);
  server.on('upgrade', onUpgrade);

  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    server.removeListener('request', onRequest);
    server.removeListener('upgrade', onUpgrade);
    // Prepended in reverse: the originals go back in front of anything added since, in order.
    for (const listener of originalRequest.toReversed()) server.prependListener('request', listener);
    for (const listener of originalUpgrade.toReversed()) server.prependListener('upgrade', listener);
  };

  return {
    get connections() {
      return echo.connections;
    },
    get bufferedBytes() {
      return echo.bufferedBytes;
    },
    get pausedClients() {
      return echo.pausedClients;
    },
    counters,
    close() {
      unmount();
      return echo.close();
    },
    destroy() {
      unmount();
      echo.destroy();
    },
  };
}
