/**
 * A deadline judged on the time this process actually ran. A probe that was stopped, throttled
 * or paused by GC wakes up with every timer overdue at once, and Node runs due timers before it
 * reads the sockets: a reply that arrived during the stall would lose to its own deadline, and the
 * path would be blamed for the probe's stall. So when the timer fires:
 *   1. give I/O one turn first (setImmediate runs after the poll phase), so answers already in
 *      the socket are read;
 *   2. subtract the time the process was stalled since the deadline started (`StallClock`); if
 *      that leaves time, re-arm for the rest.
 * A far end that really did not answer still expires, after `deadlineMs` of running time.
 */
import { nowNs } from './clock.js';

/** What a deadline needs to know about the process's own stalls (the probe's stall detector). */
export interface StallClock {
  /** Milliseconds since `fromNs` (process.hrtime) during which this process did not run. */
  stalledMsSince(fromNs: bigint): number;
}

/** For code running without a stall detector: nothing is ever discounted. */
export const NO_STALLS: StallClock = { stalledMsSince: () => 0 };

/** How an expired deadline was spent: wall time, and the part of it the process was stalled. */
export interface DeadlineSpent {
  readonly elapsedMs: number;
  readonly stalledMs: number;
}

/** Milliseconds since `startNs` that this process ran, and how many it was stalled. */
export function spentSince(startNs: bigint, stalls: StallClock): DeadlineSpent {
  const elapsedMs = Number(nowNs() - startNs) / 1e6;
  return { elapsedMs, stalledMs: Math.min(elapsedMs, stalls.stalledMsSince(startNs)) };
}

/** " (the probe itself stalled for 5012 ms of that)", or "" when it did not stall. */
export function stalledNote(spent: DeadlineSpent): string {
  return spent.stalledMs >= 1 ? ` (the probe itself stalled for ${Math.round(spent.stalledMs)} ms of that)` : '';
}

export class RunDeadline {
  readonly #deadlineMs: number;
  readonly #startNs: bigint;
  readonly #stalls: StallClock;
  readonly #onExpired: (spent: DeadlineSpent) => void;
  #timer: NodeJS.Timeout | undefined;
  #turn: NodeJS.Immediate | undefined;
  #done = false;

  /** Starts now (or at `startNs`); `onExpired` runs at most once, never after `cancel()`. */
  constructor(deadlineMs: number, onExpired: (spent: DeadlineSpent) => void, stalls: StallClock = NO_STALLS, startNs: bigint = nowNs()) {
    this.#deadlineMs = deadlineMs;
    this.#onExpired = onExpired;
    this.#stalls = stalls;
    this.#startNs = startNs;
    this.#arm(deadlineMs - Number(nowNs() - startNs) / 1e6);
  }

  #arm(ms: number): void {
    // Node's timers may fire a fraction of a millisecond early by hrtime: round up, re-check.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Not unref'd: with only unref'd immediates pending, Node lets the poll phase block until the
      // next timer or I/O, and the deadline would wait for whatever wakes the loop next.
      this.#turn = setImmediate(() => this.#judge());
    }, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  #judge(): void {
    this.#turn = undefined;
    if (this.#done) return;
    const spent = spentSince(this.#startNs, this.#stalls);
    const ranMs = spent.elapsedMs - spent.stalledMs;
    if (ranMs < this.#deadlineMs) {
      this.#arm(this.#deadlineMs - ranMs);
      return;
    }
    this.#done = true;
    this.#onExpired(spent);
  }

  /** Idempotent; the deadline never fires afterwards. */
  cancel(): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#timer = undefined;
    this.#turn = undefined;
  }
}
