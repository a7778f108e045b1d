/**
 * `t3-probe idle-check`: open one connection per idle time (one for a plain check, a ladder of
 * them for --sweep), all at once; verify each echoes; keep each silent for its idle time; probe.
 * The result says which idle times survived and brackets the path's idle timeout.
 *
 * One control connection per run heartbeats to the same far end meanwhile. A connection that
 * died while the control failed too is inconclusive, not expired: the far end or the whole path
 * went away, and that says nothing about idle timeouts.
 */
import type { IdleExpiry } from '../errors.js';
import { ProbeError } from '../errors.js';
import type { TlsOptions } from '../config/types.js';
import { openEchoChannel, type EchoChannel } from '../net/echo-channel.js';
import { IdleControl, verifyControl, type ControlFailure } from '../net/idle-control.js';
import { controlledIdleCycle, verifyEcho } from '../net/idle-cycle.js';
import { errorCodeChain, reasonOf, type Reason } from '../reasons.js';
import { hostnameOf, resolveWithin, createResolver } from '../net/resolver.js';
import { KNOWN_IDLE_TIMEOUTS } from './ladder.js';

export type Expectation = 'survive' | 'expire';

export interface IdleCheckOptions {
  readonly target: URL;
  /** One idle time per connection, in milliseconds. */
  readonly idlesMs: readonly number[];
  readonly deadlineMs: number;
  readonly keepaliveMs?: number;
  readonly connectTimeoutMs: number;
  /** Heartbeat period of the control connection. */
  readonly controlIntervalMs: number;
  readonly expect: Expectation;
  /** Dial this IP instead of resolving the target's hostname. */
  readonly pin?: string;
  readonly tls: TlsOptions;
}

export interface RungResult {
  readonly idleSeconds: number;
  /** inconclusive: the connection died, but the control connection failed too. */
  readonly result: 'survived' | 'expired' | 'inconclusive';
  /** How long it really stayed idle before the probe (or before it died while idle). */
  readonly measuredIdleSeconds: number;
  readonly rttSeconds?: number;
  /** Expired rungs: how the path showed the connection was dead. */
  readonly expiry?: IdleExpiry;
  readonly whileIdle?: boolean;
  /** Expired and inconclusive rungs: what the idle connection's failure was. */
  readonly error?: string;
  readonly code?: string;
}

/** How the run's control connection failed, if it did. */
export interface ControlOutcome {
  /** When the control was found dead (RFC 3339). */
  readonly failedAt: string;
  readonly reason: Reason;
  readonly code: string;
}

export interface IdleCheckReport {
  readonly target: string;
  readonly expect: Expectation;
  readonly deadlineSeconds: number;
  readonly keepaliveSeconds: number | null;
  readonly controlIntervalSeconds: number | null;
  readonly rungs: readonly RungResult[];
  /** The control connection's failure during the run; null when it stayed up. */
  readonly control: ControlOutcome | null;
  /** Some rung died while the control failed too: the run proves nothing either way. */
  readonly inconclusive: boolean;
  /** Largest idle that survived, smallest that expired (null when none did); inconclusive rungs don't count. */
  readonly bracket: { readonly survivedSeconds: number | null; readonly expiredSeconds: number | null };
  /** A longer idle survived while a shorter one expired: the path is flaky, not time-based. */
  readonly inconsistent: boolean;
  /** Known idle timeouts inside the bracket. */
  readonly matches: readonly string[];
  /**
   * Whether the expectation held: survive = every rung survived; expire = at least one expired.
   * Never true for an inconclusive run.
   */
  readonly ok: boolean;
}

export interface Progress {
  readonly elapsedSeconds: number;
  readonly done: number;
  readonly total: number;
}

/** The first connection of some rung could not be made or did not echo: a usage-level failure. */
export class FirstConnectionError extends ProbeError {}

export async function runIdleCheck(
  options: IdleCheckOptions,
  signal: AbortSignal,
  onRung?: (rung: RungResult, done: number, total: number) => void,
): Promise<IdleCheckReport> {
  signal.throwIfAborted();
  const hostname = hostnameOf(options.target);
  const resolver = createResolver(options.pin === undefined ? { mode: 'system' } : { mode: 'pin', address: options.pin }, () => {
    throw new Error('idle-check does not use DoH');
  });
  let address: string;
  try {
    address = (await resolveWithin(resolver, hostname, options.connectTimeoutMs, signal)).address;
  } catch (err) {
    signal.throwIfAborted();
    throw new FirstConnectionError('PROBE_ERR_DNS', `cannot resolve ${hostname}: ${(err as Error).message}`, { cause: err });
  }

  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const target = { url: options.target, hostname, address, tls: options.tls };
  const open = (connectOptions: { keepaliveMs?: number }): Promise<EchoChannel> =>
    openEchoChannel(target, { connectTimeoutMs: options.connectTimeoutMs, ...connectOptions }, both);
  const channels: (EchoChannel | undefined)[] = options.idlesMs.map(() => undefined);
  let controlChannel: EchoChannel | undefined;
  let control: IdleControl | undefined;
  try {
    // Every connection, the control too, is opened and verified before any idle time starts, so
    // a dead target fails fast (exit 2) instead of after the longest idle.
    await Promise.all([
      ...options.idlesMs.map(async (_idleMs, i) => {
        const channel = await open(options.keepaliveMs === undefined ? {} : { keepaliveMs: options.keepaliveMs });
        channels[i] = channel;
        await verifyEcho(channel, options.deadlineMs, both);
      }),
      (async () => {
        controlChannel = await open({});
        await verifyControl(controlChannel, options.deadlineMs, both);
      })(),
    ]).catch((err: unknown) => {
      signal.throwIfAborted();
      throw new FirstConnectionError('PROBE_ERR_CONNECT', `first connection to ${options.target.href} failed: ${(err as Error).message}`, {
        cause: err,
      });
    });
    // One control for the whole run, never reopened: a failure at any time makes every later
    // death inconclusive, which is what it means.
    control = new IdleControl(controlChannel as EchoChannel, {
      intervalMs: options.controlIntervalMs,
      deadlineMs: options.deadlineMs,
    });
    const running = control;

    let done = 0;
    const rungs = await Promise.all(
      options.idlesMs.map(async (idleMs, i): Promise<RungResult> => {
        const channel = channels[i] as EchoChannel;
        const verdict = await controlledIdleCycle(channel, running, idleMs, options.deadlineMs, both);
        channel.terminate();
        const base = { idleSeconds: idleMs / 1000, measuredIdleSeconds: verdict.idleSeconds };
        const rung: RungResult =
          verdict.result === 'survived'
            ? { ...base, result: 'survived', rttSeconds: verdict.rttSeconds }
            : verdict.result === 'expired'
              ? { ...base, result: 'expired', expiry: verdict.expiry, whileIdle: verdict.whileIdle, error: verdict.error.message, code: errorCodeChain(verdict.error) }
              : { ...base, result: 'inconclusive', whileIdle: verdict.whileIdle, error: verdict.error.message, code: errorCodeChain(verdict.error) };
        onRung?.(rung, ++done, options.idlesMs.length);
        return rung;
      }),
    );
    return summarize(options, rungs, controlOutcome(running.lastFailure));
  } finally {
    stop.abort();
    control?.close();
    controlChannel?.terminate();
    for (const channel of channels) channel?.terminate();
  }
}

function controlOutcome(failure: ControlFailure | undefined): ControlOutcome | null {
  if (failure === undefined) return null;
  return { failedAt: new Date(failure.at).toISOString(), reason: reasonOf(failure.error), code: errorCodeChain(failure.error) };
}

export function summarize(
  options: Pick<IdleCheckOptions, 'target' | 'expect' | 'deadlineMs' | 'keepaliveMs'> & { readonly controlIntervalMs?: number },
  rungs: readonly RungResult[],
  control: ControlOutcome | null = null,
): IdleCheckReport {
  const sorted = [...rungs].sort((a, b) => a.idleSeconds - b.idleSeconds);
  // An inconclusive rung says nothing about the path's idle timeout, in either direction.
  const inconclusive = sorted.some((r) => r.result === 'inconclusive');
  const survived = sorted.filter((r) => r.result === 'survived').map((r) => r.idleSeconds);
  const expired = sorted.filter((r) => r.result === 'expired').map((r) => r.idleSeconds);
  const survivedSeconds = survived.length > 0 ? Math.max(...survived) : null;
  const expiredSeconds = expired.length > 0 ? Math.min(...expired) : null;
  const inconsistent = survivedSeconds !== null && expiredSeconds !== null && survivedSeconds > expiredSeconds;
  const low = survivedSeconds ?? 0;
  const matches =
    expiredSeconds === null || inconsistent
      ? []
      : KNOWN_IDLE_TIMEOUTS.filter((k) => k.seconds >= low && k.seconds <= expiredSeconds).map((k) => k.what);
  return {
    target: options.target.href,
    expect: options.expect,
    deadlineSeconds: options.deadlineMs / 1000,
    keepaliveSeconds: options.keepaliveMs === undefined ? null : options.keepaliveMs / 1000,
    controlIntervalSeconds: options.controlIntervalMs === undefined ? null : options.controlIntervalMs / 1000,
    rungs: sorted,
    control,
    inconclusive,
    bracket: { survivedSeconds, expiredSeconds },
    inconsistent,
    matches,
    ok: !inconclusive && (options.expect === 'survive' ? expired.length === 0 : expired.length > 0),
  };
}
