/**
 * Starts legs at a bounded rate: the first `batch` at once, then `batch` more every `tickMs`.
 *
 * A probe with a handful of legs starts them all in the same tick, as before. A probe with
 * thousands would otherwise open every connection in the same moment: the handshakes' garbage
 * grows the heap to several times what the live legs need (V8 keeps most of it committed for
 * minutes), and the event loop stalls long enough for the first connects' own timeouts to fire
 * on a healthy path. Measured at 10,000 legs on 2 cores (bench/ws-legs.ts): all at once left
 * 347 MiB of heap committed for 90 MiB used (RSS 41-43 KiB per leg), and in one run of three
 * 7,499 legs dropped while starting; at 1,000 a second, 154 MiB for 89 (RSS 16-21 KiB per leg).
 *
 * The ramp spreads the start over `legs / batch × tickMs` (10,000 legs: 10 s) without coupling
 * legs to each other: a leg's start waits only for the clock, never for another leg's connect,
 * so a blackholed target cannot hold back a healthy one.
 *
 * Reconnects do not pass through here; their backoff jitter already spreads them.
 */
export interface Startable {
  start(): void;
}

/** Legs started together before the ramp waits. */
export const START_BATCH = 10;
/** The ramp's tick: START_BATCH legs per tick is 1,000 legs a second. */
export const START_TICK_MS = 10;

export class StartRamp {
  readonly #batch: number;
  readonly #tickMs: number;
  /** Legs waiting for their turn, oldest first. */
  readonly #waiting: Startable[] = [];
  #next = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor({ batch = START_BATCH, tickMs = START_TICK_MS }: { batch?: number; tickMs?: number } = {}) {
    this.#batch = batch;
    this.#tickMs = tickMs;
  }

  /** Legs still waiting for their turn. */
  get pending(): number {
    return this.#waiting.length - this.#next;
  }

  /** Queue legs behind any still waiting; the first batch starts now. */
  start(legs: Iterable<Startable>): void {
    for (const leg of legs) this.#waiting.push(leg);
    if (this.#timer === undefined) this.#tick();
  }

  /** Forget the legs still waiting and stop the timer. Idempotent. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.length = 0;
    this.#next = 0;
  }

  #tick(): void {
    this.#timer = undefined;
    const end = Math.min(this.#waiting.length, this.#next + this.#batch);
    for (; this.#next < end; this.#next++) this.#waiting[this.#next]?.start();
    if (this.#next < this.#waiting.length) {
      this.#timer = setTimeout(() => this.#tick(), this.#tickMs).unref();
    } else {
      this.#waiting.length = 0;
      this.#next = 0;
    }
  }
}
