/**
 * A permanent HTTP leg: a GET every interval on one keep-alive connection, straight to the serve
 * process. Every 2xx is an `ok` heartbeat and an RTT sample, whether or not the request had to
 * open a connection (a far end that answers HTTP/1.0 closes each one). RTT runs from the request
 * being written on a connected socket to the response headers: connection setup is already in
 * the connect phases (dns/tcp/tls), and a slow body is the payload's time, not the process's
 * answer. The body is still read, up to `maxBodyBytes`, before the next request.
 */
import { Client, type Dispatcher } from 'undici';
import type { HttpLegOptions } from '../config/types.js';
import { ProbeError, errorText, isProbeError, toError } from '../errors.js';
import { anySignal } from '../util/any-signal.js';
import { nowNs, secondsSince } from '../util/clock.js';
import type { LegSession } from './leg.js';
import { hostnameOf } from '../net/resolver.js';
import { SessionEnd } from './session-end.js';
import { UrlLeg } from './url-leg.js';
import { openTimedSocket } from '../net/socket.js';
import { RunDeadline, stalledNote, type DeadlineSpent, type StallClock } from '../util/run-deadline.js';

export class HttpLeg extends UrlLeg<HttpLegOptions> {
  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address } = await this.resolveForConnect(signal);
    const session = new HttpPollSession(this.options, this.url, address, {
      onPhase: (phase, seconds) => this.recordPhase(phase, seconds),
      onRtt: (seconds) => this.recordRtt(seconds),
      onFailure: () => this.recordHeartbeat('failed'),
      onTimeout: () => this.recordHeartbeat('timeout'),
      stalls: this.stalls,
    });
    try {
      await session.first(signal);
    } catch (err) {
      await session.destroy();
      throw err;
    }
    return this.watchDns(session);
  }
}

interface PollHooks {
  onPhase(phase: 'tcp' | 'tls', seconds: number): void;
  onRtt(seconds: number): void;
  onFailure(): void;
  onTimeout(): void;
  /** Request deadlines discount time the probe itself was stalled. */
  readonly stalls: StallClock;
}

class HttpPollSession implements LegSession {
  readonly #end = new SessionEnd();
  readonly #client: Client;
  readonly #options: HttpLegOptions;
  readonly #path: string;
  readonly #hooks: PollHooks;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  /** Answers on the current connection: a request that finds it closed after one is the keep-alive race. */
  #answeredOnConnection = 0;

  constructor(options: HttpLegOptions, url: URL, address: string, hooks: PollHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#path = url.pathname + url.search;
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const hostname = hostnameOf(url);
    // Keep the connection across intervals; undici still honours a shorter server Keep-Alive hint.
    const keepAliveMs = Math.max(4_000, options.intervalMs * 2 + 1_000);
    this.#client = new Client(url.origin, {
      pipelining: 1,
      keepAliveTimeout: keepAliveMs,
      keepAliveMaxTimeout: keepAliveMs,
      connect: (_opts, callback) => {
        const socket = openTimedSocket(
          { address, port, hostname, secure, tls: options.tls },
          { timeoutMs: options.connectTimeoutMs, onPhase: (phase, seconds) => hooks.onPhase(phase, seconds) },
        );
        const readyEvent = secure ? 'secureConnect' : 'connect';
        const onReady = (): void => {
          socket.removeListener('error', onError);
          callback(null, socket);
        };
        const onError = (err: Error): void => {
          socket.removeListener(readyEvent, onReady);
          callback(err, null);
        };
        socket.once(readyEvent, onReady);
        socket.once('error', onError);
      },
    });
    this.#client.on('connectionError', noop);
    this.#client.on('connect', () => (this.#answeredOnConnection = 0));
  }

  /** The first request decides whether the session is up at all. */
  async first(signal: AbortSignal): Promise<void> {
    await this.#request(signal);
    this.#schedule(this.#options.intervalMs);
  }

  get ended(): Promise<Error> {
    return this.#end.ended;
  }

  #schedule(delayMs: number): void {
    if (this.#end.done) return;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, delayMs));
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    const started = nowNs();
    try {
      await this.#request(this.#stop.signal);
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#finish(toError(err));
      return;
    }
    this.#schedule(this.#options.intervalMs - secondsSince(started) * 1000);
  }

  async #request(signal: AbortSignal): Promise<void> {
    const deadline = new AbortController();
    // Judged on the time this process ran: after a stall, an answer already in the socket is read
    // before the deadline decides (see util/run-deadline.ts).
    let spent: DeadlineSpent | undefined;
    const timer = new RunDeadline(
      this.#options.deadlineMs,
      (s) => {
        spent = s;
        deadline.abort();
      },
      this.#hooks.stalls,
    );
    const both = anySignal([signal, deadline.signal]);
    let answer: TimedAnswer;
    const request = { path: this.#path, headers: this.#options.headers, maxBodyBytes: this.#options.maxBodyBytes };
    // Not AbortSignal.any(): on Node 20 it leaves a WeakRef per request on the session's signal.
    const requestSignal = both.signal;
    try {
      try {
        answer = await timedGet(this.#client, request, requestSignal);
      } catch (err) {
        // The keep-alive race: the server closed a connection it had kept after answering (its
        // idle timeout, or the probe itself stalled past it) just as this request was written.
        // That is HTTP working as designed, not the path failing, so the request is sent once
        // more, on a new connection, within the same deadline (as Go's and curl's clients do).
        // A fresh connection closed before answering is still a drop.
        if (!isKeepAliveRace(err) || this.#answeredOnConnection === 0 || requestSignal.aborted) throw err;
        this.#answeredOnConnection = 0;
        answer = await timedGet(this.#client, request, requestSignal);
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (deadline.signal.aborted) {
        this.#hooks.onTimeout();
        const note = spent === undefined ? '' : stalledNote(spent);
        throw new ProbeError('PROBE_ERR_REQUEST_TIMEOUT', `GET ${this.#path} took longer than ${this.#options.deadlineMs} ms${note}`, { cause: err });
      }
      this.#hooks.onFailure();
      throw isProbeError(err) ? err : new ProbeError('PROBE_ERR_CONNECT', errorText(err), { cause: err });
    } finally {
      timer.cancel();
      both.dispose();
    }
    if (answer.status < 200 || answer.status > 299) {
      this.#hooks.onFailure();
      throw new ProbeError('PROBE_ERR_HTTP_STATUS', `GET ${this.#path} answered HTTP ${answer.status}`, { status: answer.status });
    }
    this.#answeredOnConnection++;
    this.#hooks.onRtt(answer.rttSeconds);
  }

  /** End the session from outside (for example a failed DNS recheck); counted as its drop. */
  fail(err: Error): void {
    this.#finish(err);
  }

  #finish(err: Error): void {
    if (!this.#end.end(err)) return;
    this.#stopPolling();
    void this.#client.destroy().catch(noop);
  }

  #stopPolling(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#stop.abort();
  }

  async destroy(): Promise<void> {
    this.#finish(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
    await this.#client.destroy().catch(noop);
  }

  async close(): Promise<void> {
    if (!this.#end.end(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'))) return;
    this.#stopPolling();
    await this.#client.close().catch(noop);
  }
}

interface TimedAnswer {
  readonly status: number;
  /** From the request being written to the first response headers. */
  readonly rttSeconds: number;
}

interface TimedGetRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxBodyBytes: number;
}

/**
 * One GET, timed by undici's own dispatch hooks rather than around `client.request()`, whose
 * promise starts before any connection exists and resolves a few turns after the headers.
 * `onRequestStart` runs synchronously on a connected socket right before undici writes the
 * request, and `onResponseStart` when the headers are parsed: exactly the interval we want, with
 * no process-wide diagnostics channel to subscribe and correlate. The body is then read and
 * dropped; past `maxBodyBytes` the answer counts and the connection is cut, as `dump()` would.
 */
function timedGet(client: Client, request: TimedGetRequest, signal: AbortSignal): Promise<TimedAnswer> {
  signal.throwIfAborted();
  return new Promise<TimedAnswer>((resolve, reject) => {
    let writtenNs: bigint | undefined;
    let rttSeconds: number | undefined;
    let status = 0;
    let bodyBytes = 0;
    let settled = false;
    let controller: Dispatcher.DispatchController | undefined;
    const settle = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve({ status, rttSeconds: rttSeconds ?? 0 });
    };
    // A request still queued behind a connect has no controller yet; onRequestStart aborts it.
    const onAbort = (): void => {
      const reason = toError(signal.reason);
      controller?.abort(reason);
      settle(reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    client.dispatch(
      { method: 'GET', path: request.path, headers: request.headers },
      {
        onRequestStart: (started) => {
          controller = started;
          if (signal.aborted) started.abort(toError(signal.reason));
          else writtenNs = nowNs();
        },
        onResponseStart: (_controller, statusCode) => {
          // A 1xx (103 Early Hints) is already the far end answering; the final status decides.
          if (rttSeconds === undefined && writtenNs !== undefined) rttSeconds = secondsSince(writtenNs);
          status = statusCode;
        },
        onResponseData: (running, chunk) => {
          bodyBytes += chunk.length;
          if (bodyBytes <= request.maxBodyBytes) return;
          settle(undefined);
          running.abort(new ProbeError('PROBE_ERR_CLOSED', `body longer than ${request.maxBodyBytes} bytes, connection cut`));
        },
        onResponseEnd: () => settle(undefined),
        onResponseError: (_controller, err) => settle(err),
      },
    );
  });
}

/** undici's error for a connection the server closed (FIN) before any response: not a reset. */
function isKeepAliveRace(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'UND_ERR_SOCKET' && err.message === 'other side closed';
}

function noop(): void {}
