/**
 * The transport under every leg: a TCP (or TLS) socket to an address we chose, with Host/SNI and
 * certificate checks bound to the URL's hostname, and the tcp/tls phases timed. Both the ws and
 * the http leg open their sockets here, so "pinned to an IP, verified against the name" means the
 * same thing everywhere.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ProbeError } from '../errors.js';
import type { TlsOptions } from '../config/types.js';
import { nowNs, secondsSince } from '../util/clock.js';

export interface SocketTarget {
  /** IP address to connect to. */
  readonly address: string;
  readonly port: number;
  /** The URL's hostname: SNI and certificate identity. */
  readonly hostname: string;
  readonly secure: boolean;
  readonly tls: TlsOptions;
  /** ALPN protocols to offer over TLS; default http/1.1. */
  readonly alpn?: readonly string[];
}

export type SocketPhase = 'tcp' | 'tls';

export interface TimedSocketOptions {
  /** Destroy the socket with PROBE_ERR_CONNECT_TIMEOUT if it is not connected (and secured) in time. */
  readonly timeoutMs?: number;
  readonly onPhase?: (phase: SocketPhase, seconds: number) => void;
}

/** Open a socket now; events tell the caller when it is ready ('connect' or 'secureConnect'). */
export function openTimedSocket(target: SocketTarget, options: TimedSocketOptions = {}): net.Socket {
  const started = nowNs();
  let socket: net.Socket;
  if (target.secure) {
    const servername = net.isIP(target.hostname) === 0 ? target.hostname : undefined;
    const tlsOptions: tls.ConnectionOptions = {
      host: target.address,
      port: target.port,
      ALPNProtocols: [...(target.alpn ?? ['http/1.1'])],
      rejectUnauthorized: !target.tls.insecure,
      // The identity check runs against the URL's hostname, never against the IP we dialled.
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(target.hostname, cert),
    };
    if (servername !== undefined) tlsOptions.servername = servername;
    if (target.tls.ca !== undefined) tlsOptions.ca = target.tls.ca;
    socket = tls.connect(tlsOptions);
  } else {
    socket = net.connect({ host: target.address, port: target.port });
  }
  socket.setNoDelay(true);

  let tcpDoneNs: bigint | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Once settled, nothing of the handshake stays reachable from the socket: a listener left on
  // 'close' would keep this whole scope (target, options, the timer) alive as long as the connection.
  const settle = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    socket.removeListener('close', settle);
  };
  socket.once('connect', () => {
    tcpDoneNs = nowNs();
    options.onPhase?.('tcp', secondsSince(started));
    if (!target.secure) settle();
  });
  if (target.secure) {
    socket.once('secureConnect', () => {
      if (tcpDoneNs !== undefined) options.onPhase?.('tls', secondsSince(tcpDoneNs));
      settle();
    });
  }
  socket.once('close', settle);
  if (options.timeoutMs !== undefined) {
    const timeoutMs = options.timeoutMs;
    timer = setTimeout(() => {
      timer = undefined;
      const phase = tcpDoneNs === undefined ? 'tcp connect' : 'TLS handshake';
      socket.destroy(
        new ProbeError('PROBE_ERR_CONNECT_TIMEOUT', `${phase} to ${target.address}:${target.port} took longer than ${timeoutMs} ms`),
      );
    }, timeoutMs);
    timer.unref();
  }
  return socket;
}
