/**
 * The probe's own stall detector. A probe starved of CPU (SIGSTOP, CFS throttling under a CPU
 * limit, a long GC pause) wakes up with its deadlines overdue, and would otherwise blame the path
 * for time it did not run. One timer ticks every `tickMs`, timed with hrtime; a tick later than
 * `thresholdMs` means the process did not run for that long: a stall. Each stall
 *   - adds its length to t3probe_probe_stall_seconds_total,
 *   - is kept in a bounded ring (`recent()`, /status `recentStalls`) for attribution,
 *   - and is discounted by deadlines judged on running time (`stalledMsSince`, see
 *     util/run-deadline.ts), including a stall still in progress when they ask.
 * Deadlines discount more than stalls: every tick later than LATE_TICK_JITTER_MS is time the
 * process could not run its timers (CFS throttling makes many short gaps, none a stall).
 * perf_hooks.monitorEventLoopDelay gives the finer event-loop lag (max and p99 over 10 s).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { LATE_TICK_HISTORY, LATE_TICK_JITTER_MS, STALL_HISTORY, STALL_THRESHOLD_MS, STALL_TICK_MS } from '../config/defaults.js';
import { nowNs } from '../util/clock.js';
import { Ring } from '../util/ring.js';
import type { StallClock } from '../util/run-deadline.js';
import type { EventLoopLag, StallMetrics } from './registry.js';

/** One stall of the probe process, as /status and attribution see it. */
export interface StallEvent {
  /** Unix ms the process stopped running (when its next tick was due). */
  readonly at: number;
  /** The same instant as RFC 3339. */
  readonly time: string;
  readonly seconds: number;
}

export interface StallMonitorOptions {
  readonly tickMs?: number;
  readonly thresholdMs?: number;
  /** Capacity of the stall ring. */
  readonly history?: number;
  readonly metrics?: { forStalls(lag: () => EventLoopLag): StallMetrics };
  readonly log?: Logger;
}

interface Stall extends StallEvent {
  readonly fromNs: bigint;
  readonly toNs: bigint;
}

/** The lag gauges cover this much time: the window just ended, and the one running. */
const LAG_WINDOW_MS = 10_000;
/** One warn line per this much time while the probe keeps stalling; the next line counts the rest. */
const LOG_EVERY_MS = 60_000;

export class StallMonitor implements StallClock {
  readonly tickMs: number;
  readonly thresholdMs: number;
  readonly #tickNs: bigint;
  readonly #thresholdNs: bigint;
  readonly #stalls: Ring<Stall>;
  /** Every late tick's gap (due → ran), stalls included, for the deadline discount. */
  readonly #lateTicks = new Ring<{ readonly fromNs: bigint; readonly toNs: bigint }>(LATE_TICK_HISTORY);
  readonly #jitterNs = BigInt(LATE_TICK_JITTER_MS) * 1_000_000n;
  readonly #metrics: StallMetrics | undefined;
  readonly #log: Logger | undefined;
  readonly #delay: IntervalHistogram;
  #timer: NodeJS.Timeout | undefined;
  #lastTickNs: bigint | undefined;
  #totalSeconds = 0;
  #lagWindowStartNs = 0n;
  #previousLag: EventLoopLag = { maxSeconds: 0, p99Seconds: 0 };
  #lastLogNs: bigint | undefined;
  #unlogged = { count: 0, seconds: 0 };

  constructor(options: StallMonitorOptions = {}) {
    this.tickMs = options.tickMs ?? STALL_TICK_MS;
    this.thresholdMs = options.thresholdMs ?? STALL_THRESHOLD_MS;
    this.#tickNs = BigInt(Math.round(this.tickMs * 1e6));
    this.#thresholdNs = BigInt(Math.round(this.thresholdMs * 1e6));
    this.#stalls = new Ring<Stall>(options.history ?? STALL_HISTORY);
    this.#delay = monitorEventLoopDelay({ resolution: 10 });
    this.#metrics = options.metrics?.forStalls(() => this.lag());
    this.#log = options.log;
  }

  /** Start ticking. Idempotent; the timer is unref'd and never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastTickNs = this.#lagWindowStartNs = nowNs();
    this.#delay.enable();
    this.#timer = setInterval(() => this.#tick(), this.tickMs);
    this.#timer.unref();
  }

  /** Stop ticking. Idempotent; the ring and the total stay readable. */
  close(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lastTickNs = undefined;
    this.#delay.disable();
  }

  /** Seconds stalled since start, the value of t3probe_probe_stall_seconds_total. */
  get totalSeconds(): number {
    return this.#totalSeconds;
  }

  get capacity(): number {
    return this.#stalls.capacity;
  }

  /** The most recent stalls, oldest first. */
  recent(): StallEvent[] {
    return this.#stalls.toArray().map(({ at, time, seconds }) => ({ at, time, seconds }));
  }

  stalledMsSince(fromNs: bigint): number {
    const now = nowNs();
    let stalledNs = 0n;
    // Walked in place: every heartbeat deadline asks, and the ring holds up to 1,024 gaps.
    this.#lateTicks.forEach((gap) => (stalledNs += overlapNs(gap.fromNs, gap.toNs, fromNs, now)));
    // A tick late right now (the deadline's timer ran first after the gap): its gap so far counts too.
    const last = this.#lastTickNs;
    if (last !== undefined && now - (last + this.#tickNs) >= this.#jitterNs) stalledNs += overlapNs(last + this.#tickNs, now, fromNs, now);
    return Number(stalledNs) / 1e6;
  }

  stallsMsSince(fromNs: bigint): number {
    const now = nowNs();
    let stalledNs = 0n;
    this.#stalls.forEach((stall) => (stalledNs += overlapNs(stall.fromNs, stall.toNs, fromNs, now)));
    // A stall still in progress for the tick (the asking timer ran first after it): count it too.
    const ongoing = this.#ongoingFromNs(now);
    if (ongoing !== undefined) stalledNs += overlapNs(ongoing, now, fromNs, now);
    return Number(stalledNs) / 1e6;
  }

  /** The event-loop delay over the last lag window, for the gauges. */
  lag(): EventLoopLag {
    const current = this.#delay.count > 0 ? { maxSeconds: this.#delay.max / 1e9, p99Seconds: this.#delay.percentile(99) / 1e9 } : undefined;
    if (current === undefined) return this.#previousLag;
    return {
      maxSeconds: Math.max(current.maxSeconds, this.#previousLag.maxSeconds),
      p99Seconds: Math.max(current.p99Seconds, this.#previousLag.p99Seconds),
    };
  }

  #ongoingFromNs(now: bigint): bigint | undefined {
    const last = this.#lastTickNs;
    if (last === undefined) return undefined;
    const due = last + this.#tickNs;
    return now - due >= this.#thresholdNs ? due : undefined;
  }

  #tick(): void {
    const now = nowNs();
    const stalledFrom = this.#ongoingFromNs(now);
    const last = this.#lastTickNs;
    if (last !== undefined && now - (last + this.#tickNs) >= this.#jitterNs) this.#lateTicks.push({ fromNs: last + this.#tickNs, toNs: now });
    this.#lastTickNs = now;
    if (stalledFrom !== undefined) this.#record(stalledFrom, now);
    if (now - this.#lagWindowStartNs >= BigInt(LAG_WINDOW_MS) * 1_000_000n) {
      this.#previousLag = this.#delay.count > 0 ? { maxSeconds: this.#delay.max / 1e9, p99Seconds: this.#delay.percentile(99) / 1e9 } : { maxSeconds: 0, p99Seconds: 0 };
      this.#delay.reset();
      this.#lagWindowStartNs = now;
    }
  }

  #record(fromNs: bigint, toNs: bigint): void {
    const seconds = Number(toNs - fromNs) / 1e9;
    const at = Date.now() - seconds * 1000;
    this.#stalls.push({ fromNs, toNs, at, time: new Date(at).toISOString(), seconds });
    this.#totalSeconds += seconds;
    this.#metrics?.addStall(seconds);
    this.#unlogged.count++;
    this.#unlogged.seconds += seconds;
    if (this.#log === undefined) return;
    if (this.#lastLogNs !== undefined && toNs - this.#lastLogNs < BigInt(LOG_EVERY_MS) * 1_000_000n) return;
    this.#log.warn(
      {
        stalledSeconds: round(seconds),
        at: new Date(at).toISOString(),
        stallsSinceLastLine: this.#unlogged.count,
        stalledSecondsSinceLastLine: round(this.#unlogged.seconds),
      },
      'the probe itself stalled (starved of CPU, stopped, or a GC pause): deadlines are judged on the time it ran',
    );
    this.#lastLogNs = toNs;
    this.#unlogged = { count: 0, seconds: 0 };
  }
}

function overlapNs(aFrom: bigint, aTo: bigint, bFrom: bigint, bTo: bigint): bigint {
  const from = aFrom > bFrom ? aFrom : bFrom;
  const to = aTo < bTo ? aTo : bTo;
  return to > from ? to - from : 0n;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
