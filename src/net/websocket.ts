/**
 * The one WebSocket client handshake, for ws legs and the idle echo channel alike: the socket goes
 * to an address we chose while Host, SNI and the certificate check stay bound to the URL's
 * hostname; the tcp, tls and upgrade phases are timed; and every way a handshake, or later the
 * connection, can end is mapped to one ProbeError here.
 */
import type net from 'node:net';
import WebSocket from 'ws';
import type { TlsOptions } from '../config/types.js';
import { ProbeError, errorText, isProbeError } from '../errors.js';
import { nowNs, secondsSince } from '../util/clock.js';
import { openTimedSocket, type SocketPhase } from './socket.js';

export interface WebSocketTarget {
  /** ws:// or wss:// URL: path, Host header and the name TLS verifies. */
  readonly url: URL;
  /** The URL's hostname, without IPv6 brackets. */
  readonly hostname: string;
  /** The address to dial. */
  readonly address: string;
  readonly tls: TlsOptions;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface WebSocketOptions {
  /** The whole handshake (tcp, tls and upgrade) must finish within this. */
  readonly timeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly onPhase?: (phase: SocketPhase | 'upgrade', seconds: number) => void;
  /** Called with the socket as soon as it exists (for example to set TCP keepalive). */
  readonly onSocket?: (socket: net.Socket) => void;
}

export interface OpenWebSocket {
  readonly ws: WebSocket;
  /** The socket's first error: ws hides it behind a 1006 close, and a reset should read as one. */
  readonly socketError: () => Error | undefined;
}

function noop(): void {}

/** Open a WebSocket and resolve once it is open; reject with a ProbeError (or the signal's reason). */
export function connectWebSocket(target: WebSocketTarget, options: WebSocketOptions, signal: AbortSignal): Promise<OpenWebSocket> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  const secure = target.url.protocol === 'wss:';
  const port = Number(target.url.port || (secure ? 443 : 80));
  let socketError: () => Error | undefined = () => undefined;
  let readyNs: bigint | undefined;
  const ws = new WebSocket(target.url, {
    perMessageDeflate: false,
    followRedirects: false,
    maxPayload: options.maxPayloadBytes,
    headers: { ...target.headers },
    createConnection: () => {
      const socket = openTimedSocket(
        { address: target.address, port, hostname: target.hostname, secure, tls: target.tls },
        {
          timeoutMs: options.timeoutMs,
          onPhase: (phase, seconds) => {
            options.onPhase?.(phase, seconds);
            if (phase === 'tls' || !secure) readyNs = nowNs();
          },
        },
      );
      socketError = firstErrorOf(socket);
      options.onSocket?.(socket);
      return socket;
    },
  });

  return new Promise<OpenWebSocket>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new ProbeError('PROBE_ERR_CONNECT_TIMEOUT', `WebSocket handshake with ${target.url.host} took longer than ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      ws.removeListener('open', onOpen);
      ws.removeListener('unexpected-response', onUnexpectedResponse);
      ws.removeListener('error', onError);
      ws.removeListener('close', onClose);
    };
    const fail = (err: Error): void => {
      cleanup();
      ws.on('error', noop);
      ws.terminate();
      reject(err);
    };
    const onAbort = (): void => fail(signal.reason as Error);
    const onOpen = (): void => {
      cleanup();
      if (readyNs !== undefined) options.onPhase?.('upgrade', secondsSince(readyNs));
      // The socket's own small closure (firstErrorOf), not one over this whole handshake scope.
      resolve({ ws, socketError });
    };
    const onUnexpectedResponse = (_req: unknown, res: { statusCode?: number; resume(): void }): void => {
      res.resume();
      const status = res.statusCode ?? 0;
      fail(new ProbeError('PROBE_ERR_HANDSHAKE', `WebSocket upgrade to ${target.url.href} answered HTTP ${status}`, { status }));
    };
    const onError = (err: Error): void => fail(connectError(err, socketError()));
    const onClose = (): void =>
      fail(connectError(new ProbeError('PROBE_ERR_PEER_CLOSED', 'connection closed during the WebSocket handshake'), socketError()));
    signal.addEventListener('abort', onAbort, { once: true });
    ws.once('open', onOpen);
    ws.once('unexpected-response', onUnexpectedResponse);
    ws.once('error', onError);
    ws.once('close', onClose);
  });
}

/** Why an open WebSocket closed: the socket's own error if it had one, else the close frame (or its absence). */
export function closeErrorOf(code: number, reason: Buffer, socketError: Error | undefined): ProbeError {
  if (socketError !== undefined) return asConnectError(socketError);
  const text = reason.toString('utf8').slice(0, 128);
  const message = code === 1006 ? 'peer closed the connection without a close frame' : `peer closed the WebSocket with code ${code}${text ? ` (${text})` : ''}`;
  return new ProbeError('PROBE_ERR_PEER_CLOSED', message, { closeCode: code, closeReason: text });
}

/**
 * A module-level function on purpose: the closure it returns keeps only this small scope alive
 * for the life of the connection, not the whole handshake.
 */
function firstErrorOf(socket: net.Socket): () => Error | undefined {
  let first: Error | undefined;
  socket.on('error', (err) => {
    first ??= err;
  });
  return () => first;
}

/** The socket's own error (ECONNREFUSED, a TLS alert, a reset) is more precise than ws's wrapper. */
function connectError(err: Error, socketError: Error | undefined): Error {
  return asConnectError(socketError ?? err);
}

function asConnectError(err: Error): ProbeError {
  return isProbeError(err) ? err : new ProbeError('PROBE_ERR_CONNECT', errorText(err), { cause: err });
}
