/**
 * Concurrent clients per address key, for the per-IP cap. Entries are deleted at zero, so the
 * map never holds more keys than there are open clients.
 */
export class AddressCounts {
  readonly #counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Count one more client for `key`, unless that would exceed the limit. */
  tryAdd(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    if (count >= this.limit) return false;
    this.#counts.set(key, count + 1);
    return true;
  }

  release(key: string): void {
    const count = this.#counts.get(key) ?? 0;
    if (count <= 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
  }
}
