/**
 * A permanent HTTP leg: a GET every interval on one keep-alive connection, straight to the serve
 * process. A 2xx is up; RTT runs from the start of the request to the end of the response body.
 * Requests that had to open a new connection are not RTT samples (their cost lands in the
 * connect phases instead), so the histogram measures the process, not the handshake.
 */
import { Client } from 'undici';
import type { HttpLegOptions } from '../config/types.js';
import { ProbeError, isProbeError, toError } from '../errors.js';
import { nowNs, secondsSince } from '../util/clock.js';
import type { LegSession } from './leg.js';
import { hostnameOf } from './resolver.js';
import { UrlLeg } from './url-leg.js';
import { openTimedSocket } from './socket.js';

export class HttpLeg extends UrlLeg<HttpLegOptions> {
  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address } = await this.resolveForConnect(signal);
    const session = new HttpPollSession(this.options, this.url, address, {
      onPhase: (phase, seconds) => this.recordPhase(phase, seconds),
      onRtt: (seconds) => this.recordRtt(seconds),
      onFailure: () => this.recordHeartbeat('failed'),
      onTimeout: () => this.recordHeartbeat('timeout'),
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
}

class HttpPollSession implements LegSession {
  readonly ended: Promise<Error>;
  readonly #client: Client;
  readonly #options: HttpLegOptions;
  readonly #path: string;
  readonly #hooks: PollHooks;
  readonly #stop = new AbortController();
  #resolveEnded!: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #socketsOpened = 0;
  #done = false;

  constructor(options: HttpLegOptions, url: URL, address: string, hooks: PollHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#path = url.pathname + url.search;
    this.ended = new Promise<Error>((resolve) => {
      this.#resolveEnded = resolve;
    });
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
        this.#socketsOpened++;
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
  }

  /** The first request decides whether the session is up at all. */
  async first(signal: AbortSignal): Promise<void> {
    await this.#request(signal);
    this.#schedule(this.#options.intervalMs);
  }

  #schedule(delayMs: number): void {
    if (this.#done) return;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, delayMs));
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    const started = nowNs();
    try {
      await this.#request(this.#stop.signal);
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#end(toError(err));
      return;
    }
    this.#schedule(this.#options.intervalMs - secondsSince(started) * 1000);
  }

  async #request(signal: AbortSignal): Promise<void> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#options.deadlineMs);
    timer.unref();
    const socketsBefore = this.#socketsOpened;
    const started = nowNs();
    try {
      const response = await this.#client.request({
        method: 'GET',
        path: this.#path,
        headers: this.#options.headers,
        signal: AbortSignal.any([signal, deadline.signal]),
      });
      await response.body.dump({ limit: this.#options.maxBodyBytes });
      if (response.statusCode < 200 || response.statusCode > 299) {
        this.#hooks.onFailure();
        throw new ProbeError('PROBE_ERR_HTTP_STATUS', `GET ${this.#path} answered HTTP ${response.statusCode}`, {
          status: response.statusCode,
        });
      }
      const seconds = secondsSince(started);
      if (this.#socketsOpened === socketsBefore) this.#hooks.onRtt(seconds);
    } catch (err) {
      if (isProbeError(err, 'PROBE_ERR_HTTP_STATUS')) throw err;
      if (signal.aborted) throw signal.reason;
      if (deadline.signal.aborted) {
        this.#hooks.onTimeout();
        throw new ProbeError('PROBE_ERR_REQUEST_TIMEOUT', `GET ${this.#path} took longer than ${this.#options.deadlineMs} ms`, { cause: err });
      }
      this.#hooks.onFailure();
      throw isProbeError(err) ? err : new ProbeError('PROBE_ERR_CONNECT', toError(err).message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** End the session from outside (for example a failed DNS recheck); counted as its drop. */
  fail(err: Error): void {
    this.#end(err);
  }

  #end(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#stop.abort();
    void this.#client.destroy().catch(noop);
    this.#resolveEnded(err);
  }

  async destroy(): Promise<void> {
    this.#end(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
    await this.#client.destroy().catch(noop);
  }

  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#stop.abort();
    await this.#client.close().catch(noop);
    this.#resolveEnded(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
  }
}

function noop(): void {}
