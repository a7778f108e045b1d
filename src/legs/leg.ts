/**
 * The lifecycle every leg shares: connect, stay up until something ends the session, count that
 * drop exactly once with exactly one reason, reconnect with exponential backoff plus jitter
 * (p-retry), and log each state change once.
 *
 * A subclass only knows how to open one session (`openSession`). Drops are transitions into
 * `down`: a session that ended, or the very first connect failing. Failed retries while already
 * down are not drops; they only update `currentError`.
 *
 * A drop is expected, so its `warn` line is for an operator: reason, the code chain and one line
 * of text (`errorText`), no stack. The error itself, stack and causes, goes to a `debug` line.
 * Every kind's errors pass through here, so this is also where a platform error that reached the
 * leg unwrapped gets the PROBE_ERR_CONNECT code the other kinds give it.
 */
import { EventEmitter } from 'node:events';
import pRetry from 'p-retry';
import type { Logger } from 'pino';
import type { LegRole } from '../roles.js';
import type { BackoffOptions, LegKind } from '../config/types.js';
import { STALL_REACH_MS } from '../config/defaults.js';
import { ProbeError, errorText, isProbeError, toError, type IdleExpiry } from '../errors.js';
import type { ConnectPhase, HeartbeatResult, LegMetrics } from '../metrics/registry.js';
import { msReadingToNs, nowMs, nowNs, secondsSince } from '../util/clock.js';
import { NO_STALLS, type StallClock } from '../util/run-deadline.js';
import { abortableDelay } from '../util/abortable-delay.js';
import { errorCodeChain, reasonOf, type Reason } from '../reasons.js';
import { RttHistory, type RttSample } from './rtt-history.js';

export type LegState = 'connecting' | 'up' | 'down' | 'closed';

/** One live connection of a leg. */
export interface LegSession {
  /** Resolves, never rejects, with the error that ended the session. */
  readonly ended: Promise<Error>;
  /** Polite shutdown (for example a WebSocket close frame), bounded in time. Not a drop. */
  close(): Promise<void>;
}

export interface DropEvent {
  readonly leg: string;
  readonly kind: LegKind;
  readonly reason: Reason;
  /** Stable error code chain, for example PROBE_ERR_PEER_CLOSED or PROBE_ERR_CONNECT/ECONNRESET. */
  readonly code: string;
  readonly message: string;
  /** Unix time in milliseconds. */
  readonly at: number;
  /** The same instant as an RFC 3339 string, for humans reading /status. */
  readonly time: string;
  /** How long the connection had been up; null when it never came up. */
  readonly upForSeconds: number | null;
  readonly lastRttSeconds: number | null;
  readonly closeCode?: number;
  readonly status?: number;
  /** Idle legs: how the expired connection showed it was dead. */
  readonly expiry?: IdleExpiry;
  /**
   * Seconds the probe process itself was stalled between the leg's last sign of life and this
   * drop (0: it ran the whole time). Above 0, a `timeout` may be the probe's doing, not the path's.
   */
  readonly probeStalledSeconds: number;
  /**
   * Unix ms the leg came back up after this drop; null while it is still down. Set once, on
   * recovery, so a window that starts while the leg is still down knows it was down.
   */
  recoveredAt: number | null;
}

export interface LegStatus {
  readonly name: string;
  readonly kind: LegKind;
  readonly role: LegRole;
  readonly state: LegState;
  /** When the leg entered its current state (RFC 3339). */
  readonly since: string;
  readonly lastRttSeconds: number | null;
  readonly lastDrop: DropEvent | null;
  readonly drops: number;
  /** Failed connect attempts since the leg went down. */
  readonly reconnectAttempts: number;
  /** While down: why the latest attempt failed. */
  readonly currentError: { readonly reason: Reason; readonly code: string; readonly message: string } | null;
  readonly remoteAddress: string | null;
  /** The last RTT samples (at most RTT_HISTORY_SAMPLES), oldest first. */
  readonly rttHistory: readonly RttSample[];
  /** Idle legs only: the current silence, the checks so far, and the control connection. */
  readonly idle?: IdleLegStatus;
}

/** An idle leg's part of `Leg.snapshot()`, for the status page. */
export interface IdleLegStatus {
  /** How long the connection has been silent right now; null when it is not idle. */
  readonly idleForSeconds: number | null;
  readonly checks: { readonly survived: number; readonly expired: number; readonly inconclusive: number };
  readonly longestSurvivedSeconds: number | null;
  readonly control: 'up' | 'down';
}

export interface LegDeps {
  readonly metrics: LegMetrics;
  readonly log: Logger;
  /** The probe's stall detector: deadlines discount time the process did not run. Default: none. */
  readonly stalls?: StallClock;
}

export interface LegEvents {
  state: [state: LegState, previous: LegState];
  drop: [event: DropEvent];
  heartbeat: [result: HeartbeatResult, rttSeconds: number | undefined];
}

export interface LegCommonOptions {
  readonly name: string;
  readonly kind: LegKind;
  readonly role: LegRole;
  readonly backoff: BackoffOptions;
}

export abstract class Leg extends EventEmitter<LegEvents> {
  readonly name: string;
  readonly kind: LegKind;
  readonly role: LegRole;
  protected readonly metrics: LegMetrics;
  protected readonly log: Logger;
  protected readonly stalls: StallClock;
  readonly #backoff: BackoffOptions;
  /** Set once by close(): the loop stops and nothing starts again. */
  #closed = false;
  /**
   * Aborts the connect phase in progress (connect attempts, backoff), so close() can stop it.
   * One per phase, dropped once a session is up: a long-lived AbortSignal keeps the listener maps
   * and the hidden class every listener it ever had left behind, about 0.8 KiB a leg.
   */
  #connectAbort: AbortController | undefined;
  #state: LegState = 'connecting';
  #since = Date.now();
  #upSinceNs: bigint | undefined;
  /** The leg's last sign of life (start, up, an answer): a drop's stall is measured from here. */
  #aliveMs = nowMs();
  /** The last RTT in seconds; NaN before the first (a number field, written in place each beat). */
  #lastRtt = Number.NaN;
  readonly #rttHistory = new RttHistory();
  #lastDrop: DropEvent | null = null;
  #drops = 0;
  #attempts = 0;
  #currentError: LegStatus['currentError'] = null;
  #remoteAddress: string | null = null;
  #session: LegSession | undefined;
  #running: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: LegCommonOptions, deps: LegDeps) {
    super();
    this.name = options.name;
    this.kind = options.kind;
    this.role = options.role;
    this.#backoff = options.backoff;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.stalls = deps.stalls ?? NO_STALLS;
  }

  /** Open one session. Throw (any error) when the connection can't be established. */
  protected abstract openSession(signal: AbortSignal): Promise<LegSession>;

  get state(): LegState {
    return this.#state;
  }

  /** Start the permanent connect/drop/reconnect loop. Calling it twice is a no-op. */
  start(): void {
    if (this.#running !== undefined || this.#closed) return;
    this.#aliveMs = nowMs();
    this.#running = this.#run();
  }

  /** Stop for good: close the live session politely (bounded), stop retrying. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#connectAbort?.abort(new ProbeError('PROBE_ERR_CLOSED', `leg ${this.name} closed`));
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await session.close();
    await this.#running;
    this.metrics.setConnected(false);
    this.#setState('closed');
    this.removeAllListeners();
  }

  get #lastRttOrNull(): number | null {
    return Number.isNaN(this.#lastRtt) ? null : this.#lastRtt;
  }

  snapshot(): LegStatus {
    const idle = this.idleStatus();
    return {
      name: this.name,
      kind: this.kind,
      role: this.role,
      state: this.#state,
      since: new Date(this.#since).toISOString(),
      lastRttSeconds: this.#lastRttOrNull,
      lastDrop: this.#lastDrop,
      drops: this.#drops,
      reconnectAttempts: this.#attempts,
      currentError: this.#currentError,
      remoteAddress: this.#remoteAddress,
      rttHistory: this.#rttHistory.toArray(),
      ...(idle === undefined ? {} : { idle }),
    };
  }

  // ---- hooks for subclasses -------------------------------------------------------------

  /** What an idle leg adds to its snapshot; other kinds add nothing. */
  protected idleStatus(): IdleLegStatus | undefined {
    return undefined;
  }

  protected recordRtt(seconds: number, result: HeartbeatResult = 'ok'): void {
    this.#aliveMs = nowMs();
    this.#lastRtt = seconds;
    this.#rttHistory.push(Date.now(), seconds);
    this.metrics.observeRtt(seconds);
    this.metrics.countHeartbeat(result);
    this.emit('heartbeat', result, seconds);
  }

  protected recordHeartbeat(result: HeartbeatResult): void {
    this.metrics.countHeartbeat(result);
    this.emit('heartbeat', result, undefined);
  }

  protected recordPhase(phase: ConnectPhase, seconds: number): void {
    this.metrics.observeConnectPhase(phase, seconds);
  }

  protected setRemoteAddress(address: string): void {
    this.#remoteAddress = address;
  }

  // ---- the loop ---------------------------------------------------------------------------

  /** A fresh signal for one connect phase, aborted by close(). */
  #connectPhase(): AbortSignal {
    const phase = new AbortController();
    this.#connectAbort = phase;
    return phase.signal;
  }

  async #run(): Promise<void> {
    let shortSessions = 0;
    while (!this.#closed) {
      const session = await this.#connect();
      if (session === undefined) continue;
      if (this.#closed) {
        await session.close();
        return;
      }
      this.#session = session;
      this.#markUp();
      const upSince = nowNs();
      const cause = await session.ended;
      this.#session = undefined;
      if (this.#closed) return;
      this.#markDown(cause);
      // A far end that accepts and then drops at once (an LB with no healthy backend, a crash
      // loop) would otherwise spin connect/drop as fast as the network allows. Sessions shorter
      // than backoff.max back off like failed connects; a longer one resets the ladder.
      if (secondsSince(upSince) * 1000 < this.#backoff.maxMs) {
        shortSessions++;
        try {
          await abortableDelay(this.#backoffDelayMs(shortSessions), this.#connectPhase());
        } catch {
          return;
        }
      } else {
        shortSessions = 0;
      }
    }
  }

  /**
   * Connect, retrying with backoff until a session is up; undefined when the phase ended without
   * one (closed, or p-retry gave up). Its own method, so the phase's signal and closures are not
   * kept alive by the loop's frame while the session runs.
   */
  async #connect(): Promise<LegSession | undefined> {
    const signal = this.#connectPhase();
    try {
      return await pRetry(() => this.#attempt(signal), {
        retries: Number.POSITIVE_INFINITY,
        factor: this.#backoff.factor,
        minTimeout: this.#backoff.minMs,
        maxTimeout: this.#backoff.maxMs,
        randomize: true,
        unref: true,
        signal,
        onFailedAttempt: ({ error }) => this.#onConnectFailed(error),
      });
    } catch (err) {
      // Not reachable with the ProbeErrors #attempt throws, but a permanent leg must never
      // stop: record it and go round again (p-retry's own backoff restarts).
      if (!this.#closed) this.#onConnectFailed(toError(err));
      return undefined;
    } finally {
      this.#connectAbort = undefined;
    }
  }

  /** Exponential backoff with the same ×[1, 2) jitter p-retry applies to failed connects. */
  #backoffDelayMs(attempt: number): number {
    const { minMs, maxMs, factor } = this.#backoff;
    return Math.min(maxMs, minMs * factor ** (attempt - 1)) * (1 + Math.random());
  }

  async #attempt(signal: AbortSignal): Promise<LegSession> {
    try {
      return await this.openSession(signal);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // p-retry refuses to retry plain TypeErrors; ours are never plain.
      throw err instanceof Error && !(err instanceof TypeError) ? err : new ProbeError('PROBE_ERR_CONNECT', String(err), { cause: err });
    }
  }

  #onConnectFailed(failure: Error): void {
    if (this.#closed) return;
    const error = withProbeCode(failure);
    this.#attempts++;
    const reason = reasonOf(error);
    this.#currentError = { reason, code: errorCodeChain(error), message: errorText(error) };
    if (this.#state === 'connecting') {
      // The first connect failed: that is a drop (the leg never came up), counted once.
      this.#markDown(error);
      return;
    }
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ ...this.#currentError, attempt: this.#attempts, err: error }, 'reconnect attempt failed');
    }
  }

  #markUp(): void {
    const previous = this.#state;
    this.#upSinceNs = nowNs();
    this.#aliveMs = nowMs();
    this.metrics.setConnected(true);
    // One clock reading: the drop's recovery is exactly when the leg's `since` says it came up.
    const upAt = Date.now();
    if (this.#lastDrop !== null && this.#lastDrop.recoveredAt === null) this.#lastDrop.recoveredAt = upAt;
    if (previous === 'down') {
      this.log.info(
        { downForSeconds: (Date.now() - this.#since) / 1000, attempts: this.#attempts, remoteAddress: this.#remoteAddress },
        'leg recovered',
      );
    } else {
      this.log.info({ remoteAddress: this.#remoteAddress }, 'leg up');
    }
    this.#attempts = 0;
    this.#currentError = null;
    this.#setState('up', upAt);
  }

  #markDown(failure: Error): void {
    const error = withProbeCode(failure);
    const reason = reasonOf(error);
    const code = errorCodeChain(error);
    const message = errorText(error);
    const upForSeconds = this.#upSinceNs === undefined ? null : secondsSince(this.#upSinceNs);
    this.#upSinceNs = undefined;
    const at = Date.now();
    const details = error instanceof ProbeError ? error : undefined;
    // Since the leg's last answer, but no further back than a stall can still decide a drop: an
    // idle leg answers once per idle period, and a GC pause minutes ago excuses nothing.
    const reachNs = nowNs() - BigInt(STALL_REACH_MS) * 1_000_000n;
    const aliveNs = msReadingToNs(this.#aliveMs);
    const probeStalledSeconds = Math.round(this.stalls.stallsMsSince(aliveNs > reachNs ? aliveNs : reachNs)) / 1000;
    const event: DropEvent = {
      leg: this.name,
      kind: this.kind,
      reason,
      code,
      message,
      at,
      time: new Date(at).toISOString(),
      upForSeconds,
      lastRttSeconds: this.#lastRttOrNull,
      ...(details?.closeCode === undefined ? {} : { closeCode: details.closeCode }),
      ...(details?.status === undefined ? {} : { status: details.status }),
      ...(details?.expiry === undefined ? {} : { expiry: details.expiry }),
      probeStalledSeconds,
      recoveredAt: null,
    };
    this.#drops++;
    this.#lastDrop = event;
    this.#currentError ??= { reason, code, message };
    this.metrics.setConnected(false);
    this.metrics.recordDrop(reason, upForSeconds ?? undefined, at);
    this.log.warn(
      {
        reason,
        code,
        message,
        closeCode: event.closeCode,
        closeReason: details?.closeReason,
        status: event.status,
        expiry: event.expiry,
        upForSeconds,
        lastRttSeconds: this.#lastRttOrNull,
        ...(probeStalledSeconds > 0 ? { probeStalledSeconds } : {}),
      },
      'leg dropped',
    );
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, code, err: error }, 'leg dropped: error detail');
    this.#setState('down', at);
    this.emit('drop', event);
  }

  #setState(next: LegState, at = Date.now()): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#since = at;
    this.emit('state', next, previous);
  }
}

/**
 * The ws and http legs wrap platform errors in PROBE_ERR_CONNECT themselves; an idle leg's echo
 * channel (shared with idle-check) rejects with the raw socket or TLS error. Wrap such an error
 * once, here, so the code chain reads PROBE_ERR_CONNECT/ECONNREFUSED on every kind. reasonOf
 * looks through PROBE_ERR_CONNECT to its cause, so the reason does not change. An error with no
 * code at all stays as it is: there is nothing to say it was a connection failure.
 */
function withProbeCode(error: Error): Error {
  if (isProbeError(error) || errorCodeChain(error) === 'UNKNOWN') return error;
  return new ProbeError('PROBE_ERR_CONNECT', errorText(error), { cause: error });
}
