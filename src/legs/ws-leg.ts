/**
 * A permanent WebSocket leg. The hostname is resolved by the leg's resolver (system, DoH or a
 * pinned IP); the socket goes to that address while Host, SNI and the certificate check stay bound
 * to the URL's hostname. Liveness is an application heartbeat (see ws-heartbeat.ts); a missed
 * deadline terminates the socket rather than waiting for a polite close from a peer that may be
 * gone.
 */
import WebSocket from 'ws';
import type { WsLegOptions } from '../config/types.js';
import { ProbeError, errorText } from '../errors.js';
import { closeErrorOf, connectWebSocket } from '../net/websocket.js';
import type { LegSession } from './leg.js';
import { SessionEnd } from './session-end.js';
import { UrlLeg } from './url-leg.js';
import { HeartbeatTracker, type HeartbeatHooks } from './ws-heartbeat.js';
import { heartbeatSchedule, type ScheduledBeat } from './heartbeat-schedule.js';
import type { StallClock } from '../util/run-deadline.js';
import type { HeartbeatResult } from '../metrics/leg-vocabulary.js';

const SEND_OPTIONS = { binary: false, compress: false } as const;

export class WsLeg extends UrlLeg<WsLegOptions> {
  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address, remainingMs } = await this.resolveForConnect(signal);
    const { ws, socketError } = await connectWebSocket(
      { url: this.url, hostname: this.hostname, address, tls: this.options.tls, headers: this.options.headers },
      { timeoutMs: remainingMs, maxPayloadBytes: this.options.maxPayloadBytes, onPhase: (phase, seconds) => this.recordPhase(phase, seconds) },
      signal,
    );
    return this.watchDns(
      new WsHeartbeatSession(
        ws,
        this.options,
        socketError,
        {
          onRtt: (seconds, result) => this.recordRtt(seconds, result),
          onResult: (result) => this.recordHeartbeat(result),
        },
        this.stalls,
      ),
    );
  }
}

function noop(): void {}

/**
 * One open WebSocket with its heartbeat running. The session is its tracker's hooks itself
 * (methods, not a closure each): at 10,000 legs every per-session closure is about 0.5 MiB.
 */
class WsHeartbeatSession implements LegSession, HeartbeatHooks {
  readonly #end = new SessionEnd();
  readonly #ws: WebSocket;
  readonly #tracker: HeartbeatTracker;
  /** The heartbeat's place on the probe-wide schedule (heartbeat-schedule.ts). */
  readonly #scheduled: ScheduledBeat;
  readonly #closeTimeoutMs: number;
  readonly #record: Pick<HeartbeatHooks, 'onRtt' | 'onResult'>;

  constructor(
    ws: WebSocket,
    options: WsLegOptions,
    socketError: () => Error | undefined,
    record: Pick<HeartbeatHooks, 'onRtt' | 'onResult'>,
    stalls: StallClock,
  ) {
    this.#ws = ws;
    this.#closeTimeoutMs = options.closeTimeoutMs;
    this.#record = record;
    this.#tracker = new HeartbeatTracker(options.deadlineMs, this, stalls);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#tracker.receive(data, isBinary));
    ws.on('error', (err) => this.#finish(socketError() ?? new ProbeError('PROBE_ERR_PROTOCOL', errorText(err), { cause: err })));
    ws.on('close', (code: number, reason: Buffer) => this.#finish(closeErrorOf(code, reason, socketError())));
    // The first heartbeat goes at once, the rest from the emptiest slot of the interval on.
    this.#scheduled = heartbeatSchedule.add(options.intervalMs, this.#tracker);
    this.#tracker.beat();
  }

  get ended(): Promise<Error> {
    return this.#end.ended;
  }

  send(frame: Buffer): void {
    this.#ws.send(frame, SEND_OPTIONS);
  }

  onRtt(seconds: number, result: HeartbeatResult): void {
    this.#record.onRtt(seconds, result);
  }

  onResult(result: HeartbeatResult): void {
    this.#record.onResult(result);
  }

  onTimeout(err: ProbeError): void {
    this.#finish(err);
  }

  /** End the session from outside (for example a failed DNS recheck); counted as its drop. */
  fail(err: Error): void {
    this.#finish(err);
  }

  /**
   * The session never closes its socket while it runs, so a WebSocket that is no longer open was
   * ended by the far end: ws reads a close frame, a FIN or an error as CLOSING at once, but emits
   * 'close' only when TCP is closed, which after a close frame waits for the far end's FIN (up to
   * ws's 30 s close timeout). Terminating now brings that 'close' within this turn of the loop,
   * still carrying what was read: the close code (1006 for a bare FIN) or the socket's error.
   */
  farEndEnded(): boolean {
    if (this.#ws.readyState === WebSocket.OPEN) return false;
    this.#ws.terminate();
    return true;
  }

  #finish(err: Error): void {
    if (!this.#end.end(err)) return;
    this.#scheduled.cancel();
    this.#tracker.stop();
    this.#ws.removeAllListeners('message');
    this.#ws.on('error', noop);
    // Never wait for a polite close from a peer that may be gone.
    this.#ws.terminate();
  }

  async close(): Promise<void> {
    if (this.#end.done) return;
    this.#scheduled.cancel();
    this.#tracker.stop();
    const ws = this.#ws;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    const grace = setTimeout(() => ws.terminate(), this.#closeTimeoutMs);
    grace.unref();
    ws.close(1001, 'probe shutting down');
    await closed;
    clearTimeout(grace);
    this.#finish(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
  }
}
