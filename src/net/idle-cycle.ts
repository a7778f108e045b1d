/**
 * The idle cycle shared by the permanent idle leg and `t3-probe idle-check`: stay completely
 * silent on an open echo channel for a given time, then send one probe and expect its echo.
 * A connection that dies while idle, or fails the probe, is expired; how it showed it was dead
 * (silent, reset, closed) is kept, because a reset points at the same-node case of moby#37466.
 * With a control connection (`controlledIdleCycle`), a death while the control failed too is
 * inconclusive instead: the far end or the whole path went away, not an idle timeout.
 */
import { toError, type IdleExpiry } from '../errors.js';
import { nowNs, secondsSince } from '../util/clock.js';
import type { EchoChannel } from './echo-channel.js';
import type { ControlFailure, IdleControl } from './idle-control.js';
import { idleExpiryOf } from '../reasons.js';

type Expired = { readonly result: 'expired'; readonly idleSeconds: number; readonly expiry: IdleExpiry; readonly error: Error; readonly whileIdle: boolean };

export type IdleOutcome = { readonly result: 'survived'; readonly idleSeconds: number; readonly rttSeconds: number } | Expired;

export type IdleVerdict =
  | IdleOutcome
  | {
      readonly result: 'inconclusive';
      readonly idleSeconds: number;
      /** How the idle connection died. */
      readonly error: Error;
      readonly whileIdle: boolean;
      /** What the control connection saw. */
      readonly control: ControlFailure;
    };

let sequence = 0;

/** A small, unique, human-readable probe: `t3probe idle <seq> <unix ms>\n`. */
export function idleProbePayload(): Buffer {
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return Buffer.from(`t3probe idle ${sequence} ${Date.now()}\n`);
}

/** Send one probe now and wait for its echo: the check right after connecting. */
export async function verifyEcho(channel: EchoChannel, deadlineMs: number, signal?: AbortSignal): Promise<number> {
  return channel.exchange(idleProbePayload(), deadlineMs, signal);
}

/**
 * Stay silent for `idleMs` (or until the connection dies on its own), then probe. Rejects only
 * when `signal` aborts; every network outcome is a resolved IdleOutcome.
 */
export async function idleThenProbe(
  channel: EchoChannel,
  idleMs: number,
  deadlineMs: number,
  signal: AbortSignal,
  onIdleStart?: (startedNs: bigint) => void,
): Promise<IdleOutcome> {
  const started = nowNs();
  onIdleStart?.(started);
  const diedWhileIdle = await new Promise<Error | undefined>((resolve, reject) => {
    // Node's timers run on a cached millisecond clock and can fire a fraction of a millisecond
    // early by hrtime; re-arm for the remainder so the silence is never shorter than asked.
    const onTimer = (): void => {
      const remainingMs = idleMs - secondsSince(started) * 1000;
      if (remainingMs > 0) {
        timer = setTimeout(onTimer, Math.ceil(remainingMs));
        timer.unref();
      } else {
        done(undefined);
      }
    };
    let timer = setTimeout(onTimer, idleMs);
    timer.unref();
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason as Error);
    };
    let settled = false;
    let unsubscribe = (): void => {};
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    };
    const done = (err: Error | undefined): void => {
      if (settled) return;
      cleanup();
      resolve(err);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Assigned last: onceGone calls done at once if the connection is already gone.
    unsubscribe = channel.onceGone(done);
  });
  if (diedWhileIdle !== undefined) {
    return { result: 'expired', idleSeconds: secondsSince(started), expiry: idleExpiryOf(diedWhileIdle), error: diedWhileIdle, whileIdle: true };
  }
  const idleSeconds = secondsSince(started);
  try {
    const rttSeconds = await channel.exchange(idleProbePayload(), deadlineMs, signal);
    return { result: 'survived', idleSeconds, rttSeconds };
  } catch (err) {
    signal.throwIfAborted();
    const error = toError(err);
    return { result: 'expired', idleSeconds, expiry: idleExpiryOf(error), error, whileIdle: false };
  }
}

/**
 * One idle cycle judged against `control`: an idle connection that died is expired only if the
 * control had no failure since this idle period began and passes one more exchange right then.
 * Rejects only when `signal` aborts.
 */
export async function controlledIdleCycle(
  channel: EchoChannel,
  control: IdleControl,
  idleMs: number,
  deadlineMs: number,
  signal: AbortSignal,
  onIdleStart?: (startedNs: bigint) => void,
): Promise<IdleVerdict> {
  const mark = control.mark();
  const outcome = await idleThenProbe(channel, idleMs, deadlineMs, signal, onIdleStart);
  if (outcome.result === 'survived') return outcome;
  const failure = await control.check(mark, signal);
  if (failure === undefined) return outcome;
  return { result: 'inconclusive', idleSeconds: outcome.idleSeconds, error: outcome.error, whileIdle: outcome.whileIdle, control: failure };
}
