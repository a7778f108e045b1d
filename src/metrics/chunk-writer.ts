/**
 * Text written straight into fixed-size Buffers, for the /metrics body: constant pieces are
 * copied as bytes, whole numbers are written digit by digit, and a full chunk is handed out to
 * send. Building the same text as JS strings left about 80 MB of intermediate strings per scrape
 * of 10,000 legs, and collecting them held up the heartbeats; here the only garbage is the text of
 * non-integer values.
 */
import { ChunkPool } from './chunk-pool.js';

/** The longest a number can take as text (String() of a double, or a 16-digit integer). */
export const MAX_NUMBER_BYTES = 24;

/**
 * A sample value as text, as Prometheus reads it: NaN, +Inf, -Inf, else what String() gives.
 * JSON.stringify gives a finite number the same text (both are the language's Number::toString),
 * but String() also keeps the result in V8's number-to-string cache, so the text of every sum and
 * timestamp lived on and was promoted to the old generation: about 1.3 MB a scrape at 10,000
 * legs, enough to start a full collection at every scrape.
 */
export function sampleValueText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return JSON.stringify(value);
}

/** Where a writer stands before its first reserve() and after take(): the next reserve() starts a chunk. */
const NO_CHUNK: Buffer = Buffer.alloc(0);

export class ChunkWriter {
  #buffer = NO_CHUNK;
  #offset = 0;

  /**
   * Chunks come from `pool` (whoever sends them gives them back); without one, from a pool of the
   * writer's own that keeps no spares.
   */
  constructor(readonly pool: ChunkPool = new ChunkPool(undefined, 0)) {}

  /** A chunk for `bytes`: the pool's, unless a single write needs more than a chunk. */
  #newChunk(bytes: number): Buffer {
    return bytes <= this.pool.chunkBytes ? this.pool.take() : Buffer.allocUnsafeSlow(bytes);
  }

  /**
   * Make room for `bytes` more: when the current chunk cannot take them, it is returned (to be
   * sent) and a new one begins. Every write after a reserve() must fit in what was reserved.
   */
  reserve(bytes: number): Buffer | undefined {
    if (this.#offset + bytes <= this.#buffer.length) return undefined;
    const full = this.#buffer.subarray(0, this.#offset);
    this.#buffer = this.#newChunk(bytes);
    this.#offset = 0;
    return full.length === 0 ? undefined : full;
  }

  /**
   * Bytes: pieces of up to 16 bytes (`} `, a short leg label) are copied in a loop, longer ones
   * (a metric name with its `le`) with set(), which beats the loop from about that length on
   * (`bench/render-cost.ts` at 10,000 legs: 64 ms per render with the cut at 64 bytes, 44 at 16).
   */
  bytes(piece: Uint8Array): void {
    const buffer = this.#buffer;
    const length = piece.length;
    const at = this.#offset;
    if (length > 16) buffer.set(piece, at);
    else for (let i = 0; i < length; i++) buffer[at + i] = piece[i] as number;
    this.#offset = at + length;
  }

  /** UTF-8 text; reserve Buffer.byteLength(text) for it. ASCII (every leg name so far) is copied in a loop. */
  text(text: string): void {
    const buffer = this.#buffer;
    const start = this.#offset;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code > 127) {
        this.#offset = start + buffer.write(text, start, 'utf8');
        return;
      }
      buffer[start + i] = code;
    }
    this.#offset = start + length;
  }

  /** A sample value as Prometheus reads it: integers digit by digit, anything else as String() gives it. */
  number(value: number): void {
    if (value >= 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
      const buffer = this.#buffer;
      let digits = 1;
      for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
      let at: number = this.#offset + digits;
      this.#offset = at;
      let rest = value;
      do {
        buffer[--at] = 48 + (rest % 10);
        rest = Math.floor(rest / 10);
      } while (rest > 0);
      return;
    }
    this.text(sampleValueText(value));
  }

  /** The bytes written since the last full chunk (possibly none); the next reserve() starts a new chunk. */
  take(): Buffer {
    const out = this.#buffer.subarray(0, this.#offset);
    this.#buffer = NO_CHUNK;
    this.#offset = 0;
    return out;
  }
}
