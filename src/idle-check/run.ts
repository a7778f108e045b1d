/**
 * `t3-probe idle-check`: open one connection per idle time (one for a plain check, a ladder of
 * them for --sweep), all at once; verify each echoes; keep each silent for its idle time; probe.
 * The result says which idle times survived and brackets the path's idle timeout.
 */
import type { IdleExpiry } from '../errors.js';
import { ProbeError } from '../errors.js';
import type { TlsOptions } from '../config/types.js';
import { openEchoChannel, type EchoChannel } from '../legs/echo-channel.js';
import { idleThenProbe, verifyEcho } from '../legs/idle-cycle.js';
import { errorCodeChain } from '../legs/reasons.js';
import { hostnameOf, resolveWithin, createResolver } from '../legs/resolver.js';
import { KNOWN_IDLE_TIMEOUTS } from './ladder.js';

export type Expectation = 'survive' | 'expire';

export interface IdleCheckOptions {
  readonly target: URL;
  /** One idle time per connection, in milliseconds. */
  readonly idlesMs: readonly number[];
  readonly deadlineMs: number;
  readonly keepaliveMs?: number;
  readonly connectTimeoutMs: number;
  readonly expect: Expectation;
  /** Dial this IP instead of resolving the target's hostname. */
  readonly pin?: string;
  readonly tls: TlsOptions;
}

export interface RungResult {
  readonly idleSeconds: number;
  readonly result: 'survived' | 'expired';
  /** How long it really stayed idle before the probe (or before it died while idle). */
  readonly measuredIdleSeconds: number;
  readonly rttSeconds?: number;
  readonly expiry?: IdleExpiry;
  readonly whileIdle?: boolean;
  readonly error?: string;
  readonly code?: string;
}

export interface IdleCheckReport {
  readonly target: string;
  readonly expect: Expectation;
  readonly deadlineSeconds: number;
  readonly keepaliveSeconds: number | null;
  readonly rungs: readonly RungResult[];
  /** Largest idle that survived, smallest that expired (null when none did). */
  readonly bracket: { readonly survivedSeconds: number | null; readonly expiredSeconds: number | null };
  /** A longer idle survived while a shorter one expired: the path is flaky, not time-based. */
  readonly inconsistent: boolean;
  /** Known idle timeouts inside the bracket. */
  readonly matches: readonly string[];
  /** Whether the expectation held: survive = every rung survived; expire = at least one expired. */
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
  const channels: (EchoChannel | undefined)[] = options.idlesMs.map(() => undefined);
  try {
    // Every connection is opened and verified before any idle time starts, so a dead target
    // fails fast (exit 2) instead of after the longest idle.
    await Promise.all(
      options.idlesMs.map(async (_idleMs, i) => {
        const channel = await openEchoChannel(
          { url: options.target, hostname, address, tls: options.tls },
          { connectTimeoutMs: options.connectTimeoutMs, ...(options.keepaliveMs === undefined ? {} : { keepaliveMs: options.keepaliveMs }) },
          both,
        );
        channels[i] = channel;
        await verifyEcho(channel, options.deadlineMs, both);
      }),
    ).catch((err: unknown) => {
      signal.throwIfAborted();
      throw new FirstConnectionError('PROBE_ERR_CONNECT', `first connection to ${options.target.href} failed: ${(err as Error).message}`, {
        cause: err,
      });
    });

    let done = 0;
    const rungs = await Promise.all(
      options.idlesMs.map(async (idleMs, i): Promise<RungResult> => {
        const channel = channels[i] as EchoChannel;
        const outcome = await idleThenProbe(channel, idleMs, options.deadlineMs, both);
        channel.terminate();
        const rung: RungResult =
          outcome.result === 'survived'
            ? { idleSeconds: idleMs / 1000, result: 'survived', measuredIdleSeconds: outcome.idleSeconds, rttSeconds: outcome.rttSeconds }
            : {
                idleSeconds: idleMs / 1000,
                result: 'expired',
                measuredIdleSeconds: outcome.idleSeconds,
                expiry: outcome.expiry,
                whileIdle: outcome.whileIdle,
                error: outcome.error.message,
                code: errorCodeChain(outcome.error),
              };
        onRung?.(rung, ++done, options.idlesMs.length);
        return rung;
      }),
    );
    return summarize(options, rungs);
  } finally {
    stop.abort();
    for (const channel of channels) channel?.terminate();
  }
}

export function summarize(options: Pick<IdleCheckOptions, 'target' | 'expect' | 'deadlineMs' | 'keepaliveMs'>, rungs: readonly RungResult[]): IdleCheckReport {
  const sorted = [...rungs].sort((a, b) => a.idleSeconds - b.idleSeconds);
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
    rungs: sorted,
    bracket: { survivedSeconds, expiredSeconds },
    inconsistent,
    matches,
    ok: options.expect === 'survive' ? expired.length === 0 : expired.length > 0,
  };
}
