/**
 * A permanent, deliberately idle leg (kind `idle`): connect to a TCP or WebSocket echo, verify
 * one echo, then repeat forever on the same connection: stay completely silent for `idle`, send
 * one probe, expect its echo within `deadline`. A connection that turns out dead drops the leg
 * with reason `idle_expired` and is replaced. This is how a Swarm VIP's IPVS idle expiry
 * (900 s, moby/moby#31208) shows up as data instead of as a user's hung request.
 */
import type { IdleLegOptions } from '../config/types.js';
import { ProbeError } from '../errors.js';
import type { IdleLegMetrics } from '../metrics/registry.js';
import type { Logger } from '../log.js';
import { openEchoChannel, type EchoChannel } from './echo-channel.js';
import { idleThenProbe, verifyEcho } from './idle-cycle.js';
import type { LegSession } from './leg.js';
import { UrlLeg, type UrlLegDeps } from './url-leg.js';

export interface IdleLegDeps extends UrlLegDeps {
  readonly idleMetrics: IdleLegMetrics;
}

export class IdleLeg extends UrlLeg<IdleLegOptions> {
  readonly #idleMetrics: IdleLegMetrics;

  constructor(options: IdleLegOptions, deps: IdleLegDeps) {
    super(options, deps);
    this.#idleMetrics = deps.idleMetrics;
  }

  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address, remainingMs } = await this.resolveForConnect(signal);
    const channel = await openEchoChannel(
      { url: this.url, hostname: this.hostname, address, tls: this.options.tls, headers: this.options.headers },
      {
        connectTimeoutMs: remainingMs,
        ...(this.options.keepaliveMs === undefined ? {} : { keepaliveMs: this.options.keepaliveMs }),
        onPhase: (phase, seconds) => this.recordPhase(phase, seconds),
      },
      signal,
    );
    try {
      this.recordRtt(await verifyEcho(channel, this.options.deadlineMs, signal));
    } catch (err) {
      channel.terminate();
      throw err;
    }
    return new IdleSession(channel, this.options, this.#idleMetrics, this.log, (seconds) => this.recordRtt(seconds));
  }
}

class IdleSession implements LegSession {
  readonly ended: Promise<Error>;
  readonly #stop = new AbortController();
  readonly #channel: EchoChannel;
  #done = false;

  constructor(
    channel: EchoChannel,
    options: IdleLegOptions,
    metrics: IdleLegMetrics,
    log: Logger,
    recordRtt: (seconds: number) => void,
  ) {
    this.#channel = channel;
    this.ended = this.#cycle(options, metrics, log, recordRtt).finally(() => metrics.setIdleSince(undefined));
  }

  async #cycle(options: IdleLegOptions, metrics: IdleLegMetrics, log: Logger, recordRtt: (seconds: number) => void): Promise<Error> {
    const signal = this.#stop.signal;
    for (;;) {
      let outcome;
      try {
        outcome = await idleThenProbe(this.#channel, options.idleMs, options.deadlineMs, signal, (ns) => metrics.setIdleSince(ns));
      } catch (err) {
        return err instanceof Error ? err : new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe');
      }
      metrics.setIdleSince(undefined);
      if (outcome.result === 'survived') {
        metrics.recordSurvived(outcome.idleSeconds);
        recordRtt(outcome.rttSeconds);
        log.info({ idleSeconds: round(outcome.idleSeconds), rttSeconds: outcome.rttSeconds }, 'idle check survived');
        continue;
      }
      metrics.recordExpired(outcome.expiry);
      this.#finish();
      const how = outcome.whileIdle ? 'died while idle' : 'did not answer the post-idle probe';
      return new ProbeError(
        'PROBE_ERR_IDLE_EXPIRED',
        `idle connection ${how} after ${round(outcome.idleSeconds)} s (${outcome.expiry}): ${outcome.error.message}`,
        { expiry: outcome.expiry, cause: outcome.error },
      );
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    // An expired connection is terminated, never closed politely.
    this.#channel.terminate();
  }

  close(): Promise<void> {
    this.#stop.abort(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
    this.#finish();
    return this.ended.then(() => undefined);
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
