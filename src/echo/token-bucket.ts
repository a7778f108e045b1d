/**
 * A token bucket: `burst` tokens, refilled at `perSecond`, one taken per message. Refilled lazily
 * from a monotonic clock when asked, so an idle client costs no timer.
 */
export class TokenBucket {
  #tokens: number;
  #refilledAt: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    now: number = performance.now(),
  ) {
    this.#tokens = burst;
    this.#refilledAt = now;
  }

  /** Take one token; `false` when there is none left. */
  take(now: number = performance.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#refilledAt) * this.perSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
