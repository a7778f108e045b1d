/**
 * When each ws leg sends its heartbeats: one timer per interval for all legs, not one per leg.
 *
 * The interval is cut into slots of about SLOT_MS; a leg that comes up takes the emptiest slot and
 * beats whenever the schedule passes it. Each slot's time is fixed on the schedule (not on when the
 * timer happened to run), so the slots never drift into each other.
 *
 * Why: with a setInterval per leg, Node runs every interval that is due in one batch and restarts
 * them all from the batch's start, so legs that came up together beat together, and batches only
 * ever merge. At 10,000 legs that made batches of tens of ms (the last heartbeat of a batch left
 * 40-85 ms late at p99) and a deadline timer per leg besides. Here a batch is one slot: about
 * SLOT_MS worth of legs (100 legs per 10 ms slot at 10,000 legs a second), and the only timers are
 * one per distinct interval, which exists while a leg uses it.
 */

/** What the schedule calls: a leg's next heartbeat. */
export interface Beating {
  beat(): void;
}

/** A place on the schedule; `cancel()` takes the leg off it (idempotent). */
export interface ScheduledBeat {
  cancel(): void;
}

/** Slot length to aim for: a batch is at most this much of the interval's legs. */
export const SLOT_MS = 10;

/** How early a timer may fire against performance.now(): libuv's clock counts whole ms. */
const TIMER_GRAIN_MS = 1;

/** The legs of one interval: its slots, its timer, and where the schedule stands. */
class IntervalWheel {
  readonly #slots: Set<Beating>[];
  readonly #slotMs: number;
  readonly #origin = performance.now();
  /** The next slot the schedule has not run yet, counted from the origin. */
  #next: number;
  #members = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Times the timer ran (tests: a few legs do not wake the process at every slot). */
  wakeups = 0;

  constructor(
    readonly intervalMs: number,
    readonly onEmpty: () => void,
  ) {
    const slots = Math.max(1, Math.round(intervalMs / SLOT_MS));
    this.#slotMs = intervalMs / slots;
    this.#slots = Array.from({ length: slots }, () => new Set<Beating>());
    this.#next = 1;
  }

  add(leg: Beating): ScheduledBeat {
    let emptiest = this.#slots[0] as Set<Beating>;
    for (const slot of this.#slots) if (slot.size < emptiest.size) emptiest = slot;
    emptiest.add(leg);
    // The schedule restarts from now when it was idle: slots run from the next one on.
    if (this.#members++ === 0) this.#next = Math.floor((performance.now() - this.#origin) / this.#slotMs) + 1;
    // The new leg's slot may come before the one the timer waits for.
    this.#arm();
    return new SlotPlace(this, emptiest, leg);
  }

  /** A leg leaves its slot (SlotPlace.cancel, once). */
  leave(slot: Set<Beating>, leg: Beating): void {
    slot.delete(leg);
    if (--this.#members === 0) this.#stop();
  }

  /**
   * Wait for the next slot that has a leg: a probe with 4 legs wakes 4 times an interval, not at
   * every slot (100 times a second), while 10,000 legs fill every slot and wake at each.
   */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#members === 0) return;
    let next = this.#next;
    while ((this.#slots[next % this.#slots.length] as Set<Beating>).size === 0) next++;
    const waitMs = Math.max(0, this.#origin + next * this.#slotMs - performance.now());
    this.#timer = setTimeout(() => this.#run(), waitMs);
    this.#timer.unref();
  }

  /** Run every slot whose time has come; a timer that ran late catches up, each slot once. */
  #run(): void {
    this.#timer = undefined;
    this.wakeups++;
    // libuv times timers in whole ms, so one may fire up to a ms before its slot: that slot is due.
    const due = Math.floor((performance.now() + TIMER_GRAIN_MS - this.#origin) / this.#slotMs);
    // Behind by more than a whole interval (the process was stopped): every leg beats once, not once per missed turn.
    if (due - this.#next >= this.#slots.length) this.#next = due - this.#slots.length + 1;
    for (; this.#next <= due; this.#next++) {
      const slot = this.#slots[this.#next % this.#slots.length];
      if (slot === undefined) continue;
      for (const leg of slot) leg.beat();
    }
    this.#arm();
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.onEmpty();
  }
}

/** A leg's place in one slot of a wheel: an object, not a closure and its context (about 0.1 KiB a leg). */
class SlotPlace implements ScheduledBeat {
  #wheel: IntervalWheel | undefined;

  constructor(
    wheel: IntervalWheel,
    readonly slot: Set<Beating>,
    readonly leg: Beating,
  ) {
    this.#wheel = wheel;
  }

  cancel(): void {
    const wheel = this.#wheel;
    this.#wheel = undefined;
    wheel?.leave(this.slot, this.leg);
  }
}

/** Every interval's wheel. One per process is enough (`heartbeatSchedule`); tests may make their own. */
export class HeartbeatSchedule {
  readonly #wheels = new Map<number, IntervalWheel>();

  /** Beat `leg` every `intervalMs` from its slot on, until cancelled. */
  add(intervalMs: number, leg: Beating): ScheduledBeat {
    let wheel = this.#wheels.get(intervalMs);
    if (wheel === undefined) {
      wheel = new IntervalWheel(intervalMs, () => this.#wheels.delete(intervalMs));
      this.#wheels.set(intervalMs, wheel);
    }
    return wheel.add(leg);
  }

  /** Times the timers of the intervals now in use have run. */
  get wakeups(): number {
    let sum = 0;
    for (const wheel of this.#wheels.values()) sum += wheel.wakeups;
    return sum;
  }

  /** Intervals with a timer running (tests: nothing is left behind). */
  get activeIntervals(): number {
    return this.#wheels.size;
  }
}

/** The process's schedule: its timers exist only while some leg is on it. */
export const heartbeatSchedule = new HeartbeatSchedule();
