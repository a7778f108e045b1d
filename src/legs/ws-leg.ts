/**
 * A permanent WebSocket leg. The hostname is resolved by the leg's resolver (system, DoH or a
 * pinned IP); the socket goes to that address while Host, SNI and the certificate check stay bound
 * to the URL's hostname. Liveness is an application heartbeat (see ws-heartbeat.ts); a missed
 * deadline terminates the socket rather than waiting for a polite close from a peer that may be
 * gone.
 */
import type net from 'node:net';
import WebSocket from 'ws';
import type { WsLegOptions } from '../config/types.js';
import { ProbeError, errorText, isProbeError } from '../errors.js';
import { nowNs, secondsSince } from '../util/clock.js';
import type { LegSession } from './leg.js';
import { UrlLeg } from './url-leg.js';
import { openTimedSocket } from '../net/socket.js';
import { HeartbeatTracker, type HeartbeatHooks } from './ws-heartbeat.js';

/** How long a polite close (close frame, wait for the peer's) may take on shutdown. */
const CLOSE_GRACE_MS = 1_000;
const SEND_OPTIONS = { binary: false, compress: false } as const;

export class WsLeg extends UrlLeg<WsLegOptions> {
  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address, remainingMs } = await this.resolveForConnect(signal);
    return this.#handshake(address, remainingMs, signal);
  }

  #handshake(address: string, timeoutMs: number, signal: AbortSignal): Promise<LegSession> {
    const { secure, port } = this;
    let socket: net.Socket | undefined;
    let socketError: () => Error | undefined = () => undefined;
    let readyNs: bigint | undefined;
    const ws = new WebSocket(this.url, {
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: this.options.maxPayloadBytes,
      headers: { ...this.options.headers },
      createConnection: () => {
        socket = openTimedSocket(
          { address, port, hostname: this.hostname, secure, tls: this.options.tls },
          {
            timeoutMs,
            onPhase: (phase, seconds) => {
              this.recordPhase(phase, seconds);
              if (phase === 'tls' || !secure) readyNs = nowNs();
            },
          },
        );
        socketError = firstErrorOf(socket);
        return socket;
      },
    });

    return new Promise<LegSession>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(new ProbeError('PROBE_ERR_CONNECT_TIMEOUT', `WebSocket handshake with ${this.url.host} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
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
        if (readyNs !== undefined) this.recordPhase('upgrade', secondsSince(readyNs));
        resolve(
          this.watchDns(
            new WsHeartbeatSession(ws, this.options, socketError, {
              onRtt: (seconds, result) => this.recordRtt(seconds, result),
              onResult: (result) => this.recordHeartbeat(result),
            }),
          ),
        );
      };
      const onUnexpectedResponse = (_req: unknown, res: { statusCode?: number; resume(): void }): void => {
        res.resume();
        const status = res.statusCode ?? 0;
        fail(new ProbeError('PROBE_ERR_HANDSHAKE', `WebSocket upgrade to ${this.url.href} answered HTTP ${status}`, { status }));
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
}

function noop(): void {}

/**
 * ws hides socket errors behind a 1006 close; remember the first one so a reset is a reset.
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

function connectError(err: Error, socketError: Error | undefined): Error {
  // The socket's own error (ECONNREFUSED, TLS alert, reset) is more precise than ws's wrapper.
  const underlying = socketError ?? err;
  if (isProbeError(underlying)) return underlying;
  return new ProbeError('PROBE_ERR_CONNECT', errorText(underlying), { cause: underlying });
}

/** One open WebSocket with its heartbeat running. */
class WsHeartbeatSession implements LegSession {
  readonly ended: Promise<Error>;
  readonly #ws: WebSocket;
  readonly #tracker: HeartbeatTracker;
  readonly #interval: NodeJS.Timeout;
  #resolveEnded!: (err: Error) => void;
  #done = false;

  constructor(
    ws: WebSocket,
    options: WsLegOptions,
    socketError: () => Error | undefined,
    record: Pick<HeartbeatHooks, 'onRtt' | 'onResult'>,
  ) {
    this.#ws = ws;
    this.ended = new Promise<Error>((resolve) => {
      this.#resolveEnded = resolve;
    });
    this.#tracker = new HeartbeatTracker(options.deadlineMs, {
      ...record,
      send: (frame) => ws.send(frame, SEND_OPTIONS),
      onTimeout: (err) => this.#end(err),
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#tracker.receive(data, isBinary));
    ws.on('error', (err) => this.#end(socketError() ?? new ProbeError('PROBE_ERR_PROTOCOL', errorText(err), { cause: err })));
    ws.on('close', (code: number, reason: Buffer) => {
      const underlying = socketError();
      if (underlying !== undefined) {
        this.#end(new ProbeError('PROBE_ERR_CONNECT', errorText(underlying), { cause: underlying }));
        return;
      }
      const text = reason.toString('utf8').slice(0, 128);
      const message =
        code === 1006 ? 'peer closed the connection without a close frame' : `peer closed the WebSocket with code ${code}${text ? ` (${text})` : ''}`;
      this.#end(new ProbeError('PROBE_ERR_PEER_CLOSED', message, { closeCode: code, closeReason: text }));
    });
    this.#interval = setInterval(() => this.#tracker.beat(), options.intervalMs);
    this.#interval.unref();
    this.#tracker.beat();
  }

  /** End the session from outside (for example a failed DNS recheck); counted as its drop. */
  fail(err: Error): void {
    this.#end(err);
  }

  #end(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#interval);
    this.#tracker.stop();
    this.#ws.removeAllListeners('message');
    this.#ws.on('error', noop);
    // Never wait for a polite close from a peer that may be gone.
    this.#ws.terminate();
    this.#resolveEnded(err);
  }

  async close(): Promise<void> {
    if (this.#done) return;
    clearInterval(this.#interval);
    this.#tracker.stop();
    const ws = this.#ws;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    const grace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    grace.unref();
    ws.close(1001, 'probe shutting down');
    await closed;
    clearTimeout(grace);
    this.#end(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
  }
}
