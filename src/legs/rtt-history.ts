/**
 * A leg's recent RTT samples, for /status and the status page's sparkline (so it is filled when
 * the page opens). Bounded: the last RTT_HISTORY_SAMPLES samples, kept as (time, seconds) pairs in
 * one array allocated on the first sample, a fixed 16 bytes per sample.
 */
export const RTT_HISTORY_SAMPLES = 60;

/** [Unix ms, RTT seconds], oldest first. */
export type RttSample = readonly [atMs: number, seconds: number];

export class RttHistory {
  #pairs: Float64Array | undefined;
  #next = 0;
  #size = 0;

  push(atMs: number, seconds: number): void {
    const pairs = (this.#pairs ??= new Float64Array(RTT_HISTORY_SAMPLES * 2));
    pairs[this.#next * 2] = atMs;
    pairs[this.#next * 2 + 1] = seconds;
    this.#next = (this.#next + 1) % RTT_HISTORY_SAMPLES;
    if (this.#size < RTT_HISTORY_SAMPLES) this.#size++;
  }

  toArray(): RttSample[] {
    const pairs = this.#pairs;
    if (pairs === undefined) return [];
    const out: RttSample[] = [];
    const start = (this.#next - this.#size + RTT_HISTORY_SAMPLES) % RTT_HISTORY_SAMPLES;
    for (let i = 0; i < this.#size; i++) {
      const at = (start + i) % RTT_HISTORY_SAMPLES;
      out.push([pairs[at * 2] ?? 0, pairs[at * 2 + 1] ?? 0]);
    }
    return out;
  }
}
