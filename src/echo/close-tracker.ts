/**
 * A set of things that emit 'close' (sockets, WebSockets) that forgets each one when it closes,
 * so shutdown code can reach every live resource and wait, with a bounded grace, for the set to
 * empty.
 */
import type { EventEmitter } from 'node:events';

export class CloseTracker<T extends EventEmitter> implements Iterable<T> {
  readonly #items = new Set<T>();
  readonly #onEmpty = new Set<() => void>();

  get size(): number {
    return this.#items.size;
  }

  add(item: T): void {
    if (this.#items.has(item)) return;
    this.#items.add(item);
    item.once('close', () => {
      this.#items.delete(item);
      if (this.#items.size === 0) {
        for (const resolve of this.#onEmpty) resolve();
        this.#onEmpty.clear();
      }
    });
  }

  [Symbol.iterator](): Iterator<T> {
    // A copy: callers destroy items while iterating, and 'close' may fire synchronously.
    return [...this.#items][Symbol.iterator]();
  }

  /** Resolves `true` once every item has closed, or `false` if `graceMs` passes first. */
  settled(graceMs: number): Promise<boolean> {
    if (this.#items.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onEmpty = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      // Not unref()'d: a caller is awaiting it, and it is cleared as soon as the set empties.
      const timer = setTimeout(() => {
        this.#onEmpty.delete(onEmpty);
        resolve(false);
      }, graceMs);
      this.#onEmpty.add(onEmpty);
    });
  }
}
