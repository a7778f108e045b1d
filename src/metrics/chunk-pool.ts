/**
 * Spare /metrics chunks, kept for the next scrape once a scrape's writes of them have completed.
 *
 * Why: V8 counts memory held outside its heap (a Buffer's bytes) against the old generation's
 * limit until the next full collection. A scrape of 10,000 legs writes some 350 chunks of 64 KiB,
 * 23 MiB in all; allocated afresh each time, that set off two to four full collections per scrape
 * (each a 10-70 ms pause for the heartbeats) and made up most of the render's CPU. Reused, a
 * scrape allocates only what is in flight at once beyond the spares.
 *
 * A chunk is only ever reused after `give()`, which its writer calls once the socket has taken
 * the bytes (the write's callback). A chunk never given back is an ordinary Buffer: the GC frees it.
 */

/** Bytes per chunk of the /metrics body. */
export const CHUNK_BYTES = 64 * 1024;

/** Spare chunks kept at most (4 MiB): more than a scrape has in flight between two event-loop turns. */
export const MAX_SPARE_CHUNKS = 64;

export class ChunkPool {
  readonly #spare: ArrayBuffer[] = [];
  /** The memory of every chunk handed out and not given back yet: only these are taken back. */
  readonly #lent = new WeakSet<ArrayBuffer>();
  /** Chunks allocated since the pool was made (tests, benchmarks: a steady scrape allocates none). */
  allocated = 0;

  constructor(
    readonly chunkBytes = CHUNK_BYTES,
    readonly maxSpare = MAX_SPARE_CHUNKS,
  ) {}

  /** A chunk to write into: a spare one, else a new one. */
  take(): Buffer {
    let memory = this.#spare.pop();
    if (memory === undefined) {
      memory = Buffer.allocUnsafeSlow(this.chunkBytes).buffer;
      this.allocated++;
    }
    this.#lent.add(memory);
    return Buffer.from(memory, 0, this.chunkBytes);
  }

  /**
   * A chunk (or a view of one) from `take()` whose bytes nothing reads any more. Anything else,
   * a chunk given twice, or one beyond `maxSpare` is ignored.
   */
  give(chunk: Uint8Array): void {
    const memory = chunk.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.#lent.has(memory)) return;
    this.#lent.delete(memory);
    if (this.#spare.length < this.maxSpare) this.#spare.push(memory);
  }

  /** Spare chunks now held. */
  get spare(): number {
    return this.#spare.length;
  }
}
