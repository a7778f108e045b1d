/**
 * A permanent, deliberately idle leg (kind `idle`): connect to a TCP or WebSocket echo, verify
 * one echo, then repeat forever on the same connection: stay completely silent for `idle`, send
 * one probe, expect its echo within `deadline`. A connection that turns out dead drops the leg
 * with reason `idle_expired` and is replaced. This is how a Swarm VIP's IPVS idle expiry
 * (900 s, moby/moby#31208) shows up as data instead of as a user's hung request.
 *
 * Next to the idle connection a control connection to the same far end heartbeats every
 * `controlInterval`. An idle death counts as `idle_expired` only while the control stayed up;
 * when both die (the echo was redeployed, the path went away) the check is inconclusive and the
 * drop takes the control's reason, so a rollout of the echo never looks like an idle timeout.
 */
import { defaultControlIntervalMs } from '../config/leg-kinds.js';
import type { IdleLegOptions } from '../config/types.js';
import { ProbeError } from '../errors.js';
import type { IdleLegMetrics } from '../metrics/registry.js';
import type { Logger } from '../log.js';
import { secondsSince } from '../util/clock.js';
import { openEchoChannel, type EchoChannel, type EchoChannelOptions, type EchoChannelTarget } from '../net/echo-channel.js';
import { IdleControl, verifyControl, type ControlFailure } from '../net/idle-control.js';
import { controlledIdleCycle, verifyEcho } from '../net/idle-cycle.js';
import type { IdleLegStatus, LegSession } from './leg.js';
import { errorCodeChain, reasonOf } from '../reasons.js';
import { UrlLeg, type UrlLegDeps } from './url-leg.js';

export interface IdleLegDeps extends UrlLegDeps {
  readonly idleMetrics: IdleLegMetrics;
}

export class IdleLeg extends UrlLeg<IdleLegOptions> {
  /** The leg's idle metrics, with the counts snapshot() reports kept alongside. */
  readonly #idleMetrics: IdleLegMetrics;
  readonly #checks = { survived: 0, expired: 0, inconclusive: 0 };
  #longestSurvived: number | null = null;
  #idleSinceNs: bigint | undefined;
  #control: IdleControl | undefined;

  constructor(options: IdleLegOptions, deps: IdleLegDeps) {
    super(options, deps);
    const metrics = deps.idleMetrics;
    this.#idleMetrics = {
      setIdleSince: (startedNs) => {
        this.#idleSinceNs = startedNs;
        metrics.setIdleSince(startedNs);
      },
      recordSurvived: (idleSeconds) => {
        this.#checks.survived++;
        this.#longestSurvived = Math.max(this.#longestSurvived ?? 0, idleSeconds);
        metrics.recordSurvived(idleSeconds);
      },
      recordExpired: (expiry) => {
        this.#checks.expired++;
        metrics.recordExpired(expiry);
      },
      recordInconclusive: () => {
        this.#checks.inconclusive++;
        metrics.recordInconclusive();
      },
    };
  }

  protected override idleStatus(): IdleLegStatus {
    return {
      idleForSeconds: this.#idleSinceNs === undefined ? null : secondsSince(this.#idleSinceNs),
      checks: { ...this.#checks },
      longestSurvivedSeconds: this.#longestSurvived,
      control: this.#control?.up === true ? 'up' : 'down',
    };
  }

  protected override async openSession(signal: AbortSignal): Promise<LegSession> {
    const { address, remainingMs } = await this.resolveForConnect(signal);
    const target: EchoChannelTarget = { url: this.url, hostname: this.hostname, address, tls: this.options.tls, headers: this.options.headers };
    const { deadlineMs } = this.options;
    // Both connections at once, to the same address; the session needs both.
    const [idle, control] = await Promise.allSettled([
      openVerified(
        target,
        {
          connectTimeoutMs: remainingMs,
          stalls: this.stalls,
          ...(this.options.keepaliveMs === undefined ? {} : { keepaliveMs: this.options.keepaliveMs }),
          onPhase: (phase, seconds) => this.recordPhase(phase, seconds),
        },
        verifyEcho,
        deadlineMs,
        signal,
      ),
      openVerified(target, { connectTimeoutMs: remainingMs, stalls: this.stalls }, verifyControl, deadlineMs, signal),
    ]);
    if (idle.status === 'rejected' || control.status === 'rejected') {
      if (idle.status === 'fulfilled') idle.value.channel.terminate();
      if (control.status === 'fulfilled') control.value.channel.terminate();
      throw idle.status === 'rejected' ? idle.reason : (control as PromiseRejectedResult).reason;
    }
    this.recordRtt(idle.value.rttSeconds);
    const log = this.log;
    this.#control = new IdleControl(control.value.channel, {
      open: async (s) => (await openVerified(target, { connectTimeoutMs: this.options.connectTimeoutMs, stalls: this.stalls }, verifyControl, deadlineMs, s)).channel,
      intervalMs: this.options.controlIntervalMs ?? defaultControlIntervalMs(this.options.idleMs),
      deadlineMs,
      onDown: ({ error }) => log.warn({ reason: reasonOf(error), code: errorCodeChain(error), err: error }, 'idle control connection dropped'),
    });
    return new IdleSession(idle.value.channel, this.#control, this.options, this.#idleMetrics, log, (seconds) => this.recordRtt(seconds));
  }
}

/** Open one echo connection and verify one echo on it; nothing is left open on failure. */
async function openVerified(
  target: EchoChannelTarget,
  options: EchoChannelOptions,
  verify: (channel: EchoChannel, deadlineMs: number, signal: AbortSignal) => Promise<number>,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<{ channel: EchoChannel; rttSeconds: number }> {
  const channel = await openEchoChannel(target, options, signal);
  try {
    return { channel, rttSeconds: await verify(channel, deadlineMs, signal) };
  } catch (err) {
    channel.terminate();
    throw err;
  }
}

class IdleSession implements LegSession {
  readonly ended: Promise<Error>;
  readonly #stop = new AbortController();
  readonly #channel: EchoChannel;
  readonly #control: IdleControl;
  #done = false;

  constructor(
    channel: EchoChannel,
    control: IdleControl,
    options: IdleLegOptions,
    metrics: IdleLegMetrics,
    log: Logger,
    recordRtt: (seconds: number) => void,
  ) {
    this.#channel = channel;
    this.#control = control;
    this.ended = this.#cycle(options, metrics, log, recordRtt).finally(() => {
      metrics.setIdleSince(undefined);
      control.close();
    });
  }

  async #cycle(options: IdleLegOptions, metrics: IdleLegMetrics, log: Logger, recordRtt: (seconds: number) => void): Promise<Error> {
    const signal = this.#stop.signal;
    const control = this.#control;
    let reopenFailed = false;
    for (;;) {
      let verdict;
      try {
        if (!control.up) {
          // A control lost in an earlier cycle is replaced before the next idle period. Until it
          // is, an idle death can't be told apart from the far end going away.
          if (await control.reopen(signal)) {
            log.info('idle control connection reopened');
            reopenFailed = false;
          } else if (!reopenFailed) {
            reopenFailed = true;
            const error = control.lastFailure?.error;
            log.warn({ reason: reasonOf(error), code: errorCodeChain(error), err: error }, 'idle control connection cannot be reopened; idle deaths are inconclusive until it is');
          }
        }
        verdict = await controlledIdleCycle(this.#channel, control, options.idleMs, options.deadlineMs, signal, (ns) => metrics.setIdleSince(ns));
      } catch (err) {
        return err instanceof Error ? err : new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe');
      }
      metrics.setIdleSince(undefined);
      if (verdict.result === 'survived') {
        metrics.recordSurvived(verdict.idleSeconds);
        recordRtt(verdict.rttSeconds);
        log.info({ idleSeconds: round(verdict.idleSeconds), rttSeconds: verdict.rttSeconds }, 'idle check survived');
        continue;
      }
      this.#finish();
      const how = verdict.whileIdle ? 'died while idle' : 'did not answer the post-idle probe';
      if (verdict.result === 'inconclusive') {
        metrics.recordInconclusive();
        return inconclusive(`idle connection ${how} after ${round(verdict.idleSeconds)} s (${verdict.error.message})`, verdict.control);
      }
      metrics.recordExpired(verdict.expiry);
      return new ProbeError(
        'PROBE_ERR_IDLE_EXPIRED',
        `idle connection ${how} after ${round(verdict.idleSeconds)} s (${verdict.expiry}): ${verdict.error.message}`,
        { expiry: verdict.expiry, cause: verdict.error },
      );
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    // An expired connection is terminated, never closed politely.
    this.#channel.terminate();
    this.#control.close();
  }

  close(): Promise<void> {
    this.#stop.abort(new ProbeError('PROBE_ERR_CLOSED', 'closed by the probe'));
    this.#finish();
    return this.ended.then(() => undefined);
  }
}

/** The session's end when the control failed too: its reason is the control's (see reasons.ts). */
function inconclusive(what: string, control: ControlFailure): ProbeError {
  return new ProbeError(
    'PROBE_ERR_IDLE_INCONCLUSIVE',
    `inconclusive, not an idle expiry: ${what}, and the control connection to the same far end failed too at ` +
      `${new Date(control.at).toISOString()}: ${control.error.message}`,
    { cause: control.error },
  );
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
