/**
 * Plain TCP echo for the idle-connection leg. Bytes go back verbatim through `pipe`, which stops
 * reading from a client whose echoes are not being read. There is deliberately no idle timeout
 * and no TCP keepalive: the leg exists to find out whether something on the path drops a
 * connection that has been silent for 20+ minutes, and keepalive probes from this end would
 * keep NAT and firewall state alive and hide exactly that.
 */
import { createServer, type Socket } from 'node:net';
import type { ListenAddress } from '../config/types.js';
import { AddressCounts } from './address-counts.js';
import { clientAddressKey } from './client-address.js';
import { CloseTracker } from './close-tracker.js';
import { closeServer, listen, type BoundAddress } from '../net/listen.js';
import { CLOSE_GRACE_MS, ECHO_DEFAULTS, positiveInteger } from './options.js';
import { closeOnAbort } from '../util/close-on-abort.js';

export interface TcpEchoOptions {
  listen: ListenAddress;
  /** Concurrent clients; connections over it are accepted and closed at once. Default 1024. */
  maxConnections?: number;
  /** Concurrent clients from one address (IPv6: one /64); over it, closed at once. Default 256. */
  maxConnectionsPerIp?: number;
  /** Aborting closes the server (gracefully). */
  signal?: AbortSignal;
}

export interface TcpEcho {
  readonly address: BoundAddress;
  /** Open client connections. */
  readonly connections: number;
  /** Connections closed at once because their address had maxConnectionsPerIp open. */
  readonly refusedPerIp: number;
  /** Graceful, idempotent: stop listening, end every client, destroy those still open after a short grace. */
  close(): Promise<void>;
  /** Immediate: stop listening and destroy every client socket. */
  destroy(): void;
}

export async function startTcpEcho(options: TcpEchoOptions): Promise<TcpEcho> {
  const { signal } = options;
  signal?.throwIfAborted();
  const maxConnections = options.maxConnections ?? ECHO_DEFAULTS.maxConnections;
  positiveInteger('tcpEcho', 'maxConnections', maxConnections);
  const maxConnectionsPerIp = options.maxConnectionsPerIp ?? ECHO_DEFAULTS.maxConnectionsPerIp;
  positiveInteger('tcpEcho', 'maxConnectionsPerIp', maxConnectionsPerIp);

  const sockets = new CloseTracker<Socket>();
  const perAddress = new AddressCounts(maxConnectionsPerIp);
  let refusedPerIp = 0;
  const server = createServer({ noDelay: true, keepAlive: false }, (socket) => {
    // A byte stream has no way to say why: over the cap, the connection just closes.
    const addressKey = clientAddressKey(socket.remoteAddress);
    if (!perAddress.tryAdd(addressKey)) {
      refusedPerIp++;
      socket.on('error', ignore);
      socket.destroy();
      return;
    }
    socket.once('close', () => perAddress.release(addressKey));
    sockets.add(socket);
    socket.setNoDelay(true);
    // A client that vanishes (ECONNRESET, EPIPE) ends its own connection, never the process.
    socket.on('error', ignore);
    socket.pipe(socket);
  });
  server.maxConnections = maxConnections;
  // Accept errors (EMFILE) after listening must not crash the process; the listener keeps going.
  server.on('error', ignore);

  let address: BoundAddress;
  try {
    address = await listen(server, options.listen, 'tcp echo');
  } catch (err) {
    server.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  let untieSignal = (): void => {};

  const echo: TcpEcho = {
    address,
    get connections() {
      return sockets.size;
    },
    get refusedPerIp() {
      return refusedPerIp;
    },
    close() {
      closing ??= (async () => {
        untieSignal();
        const closed = closeServer(server);
        for (const socket of sockets) socket.end();
        await sockets.settled(CLOSE_GRACE_MS);
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
    destroy() {
      untieSignal();
      closing ??= closeServer(server);
      for (const socket of sockets) socket.destroy();
    },
  };

  untieSignal = await closeOnAbort(signal, () => echo.close());
  return echo;
}

function ignore(): void {
  // See the call sites: each error ends one connection and is expected.
}
