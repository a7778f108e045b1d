/**
 * A leg's recent RTT samples, for /status and the status page's sparkline (so it is filled when
 * the page opens). Bounded: the last RTT_HISTORY_SAMPLES samples in one Int32Array allocated on
 * the first sample, 8 bytes per sample: the time in ms from a base the history keeps (moved when
 * the offset would overflow, after about 24 days) and the RTT in µs (up to about 35 minutes).
 */
export const RTT_HISTORY_SAMPLES = 60;

/** [Unix ms, RTT seconds], oldest first. */
export type RttSample = readonly [atMs: number, seconds: number];

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

export class RttHistory {
  /** Pairs of (ms since #baseMs, RTT in µs). */
  #pairs: Int32Array | undefined;
  #baseMs = 0;
  #next = 0;
  #size = 0;

  push(atMs: number, seconds: number): void {
    let pairs = this.#pairs;
    if (pairs === undefined) {
      pairs = this.#pairs = new Int32Array(RTT_HISTORY_SAMPLES * 2);
      this.#baseMs = Math.round(atMs);
    }
    let offset = Math.round(atMs) - this.#baseMs;
    if (offset > INT32_MAX || offset < INT32_MIN) {
      this.#rebase(Math.round(atMs));
      offset = 0;
    }
    pairs[this.#next * 2] = offset;
    pairs[this.#next * 2 + 1] = Math.min(INT32_MAX, Math.max(0, Math.round(seconds * 1e6)));
    this.#next = (this.#next + 1) % RTT_HISTORY_SAMPLES;
    if (this.#size < RTT_HISTORY_SAMPLES) this.#size++;
  }

  /** Move the base to `baseMs`; a sample further back than an Int32 of ms reads as that far back. */
  #rebase(baseMs: number): void {
    const pairs = this.#pairs;
    if (pairs === undefined) return;
    const shift = baseMs - this.#baseMs;
    for (let i = 0; i < RTT_HISTORY_SAMPLES; i++) pairs[i * 2] = Math.max(INT32_MIN, (pairs[i * 2] ?? 0) - shift);
    this.#baseMs = baseMs;
  }

  toArray(): RttSample[] {
    const pairs = this.#pairs;
    if (pairs === undefined) return [];
    const out: RttSample[] = [];
    const start = (this.#next - this.#size + RTT_HISTORY_SAMPLES) % RTT_HISTORY_SAMPLES;
    for (let i = 0; i < this.#size; i++) {
      const at = (start + i) % RTT_HISTORY_SAMPLES;
      out.push([this.#baseMs + (pairs[at * 2] ?? 0), (pairs[at * 2 + 1] ?? 0) / 1e6]);
    }
    return out;
  }
}
