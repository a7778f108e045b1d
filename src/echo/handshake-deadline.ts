/**
 * The per-connection handshake deadline of the standalone server: a connection must reach a
 * complete upgrade request within `timeoutMs` of being accepted, or it is destroyed. Node's own
 * headersTimeout is only checked every 30 s (connectionsCheckingInterval), which let 100
 * slowloris connections hold their sockets for 89 s; this timer fires on time, per socket.
 * A kept-alive health connection goes back on the clock after each answer: its next request head
 * must arrive within the same bound, so a connection that paid for one answer can't dribble the
 * next one forever.
 */
import type { Duplex } from 'node:stream';

export class HandshakeDeadline {
  readonly #timers = new Map<Duplex, NodeJS.Timeout>();
  /** Sockets whose 'close' is already watched: a kept-alive socket is started once per request. */
  readonly #watched = new WeakSet<Duplex>();

  constructor(
    readonly timeoutMs: number,
    readonly onExpired: (socket: Duplex) => void,
  ) {}

  /** Number of connections still on the clock. */
  get pending(): number {
    return this.#timers.size;
  }

  start(socket: Duplex): void {
    if (this.#timers.has(socket)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(socket);
      this.onExpired(socket);
      socket.destroy();
    }, this.timeoutMs);
    // Background work: an open listener keeps the process alive, not this.
    timer.unref();
    this.#timers.set(socket, timer);
    if (!this.#watched.has(socket)) {
      this.#watched.add(socket);
      socket.once('close', () => this.stop(socket));
    }
  }

  /** The connection made it (upgrade request complete), or is gone. */
  stop(socket: Duplex): void {
    const timer = this.#timers.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(socket);
  }

  stopAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
