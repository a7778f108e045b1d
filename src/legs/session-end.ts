/**
 * The end of one leg session, settled once. `ended` resolves (never rejects) with the first error
 * given to `end()`; later calls do nothing and return false, so the caller tears down exactly once:
 * `if (!this.#end.end(err)) return;` then release timers and sockets.
 */
export class SessionEnd {
  readonly ended: Promise<Error>;
  #resolve!: (err: Error) => void;
  #done = false;

  constructor() {
    this.ended = new Promise<Error>((resolve) => {
      this.#resolve = resolve;
    });
  }

  get done(): boolean {
    return this.#done;
  }

  /** Settle with `err` unless already settled; true when this call ended the session. */
  end(err: Error): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#resolve(err);
    return true;
  }
}
