/**
 * The control connection of an idle check: a second connection to the same far end (same address,
 * TLS and headers) that heartbeats while the idle one stays silent. An idle connection that dies
 * proves that the path forgot it only if the far end stayed reachable the whole time. When the
 * echo is redeployed, or the whole path goes away, both connections die together: inconclusive.
 *
 * Both sockets see the FIN or RST of a killed echo at about the same moment, and the idle one may
 * be noticed first. So a clean record since the idle period began is not enough: `check()` also
 * runs one confirming exchange right then.
 */
import { ProbeError, toError } from '../errors.js';
import type { EchoChannel } from './echo-channel.js';
import { anySignal } from '../util/any-signal.js';
import { raceSignal } from '../util/race-signal.js';

export interface ControlFailure {
  readonly error: Error;
  /** Unix time in milliseconds, when the control was found dead (or could not be reopened). */
  readonly at: number;
}

export interface IdleControlOptions {
  /** Open one new control connection and verify one echo on it; without it, no reopen. */
  readonly open?: (signal: AbortSignal) => Promise<EchoChannel>;
  /** Pause between the end of one heartbeat and the start of the next. */
  readonly intervalMs: number;
  /** How long a heartbeat, or the confirming exchange, may wait for its echo. */
  readonly deadlineMs: number;
  /** Called once each time a control that was up fails. */
  readonly onDown?: (failure: ControlFailure) => void;
}

let sequence = 0;

/** `t3probe control <seq> <unix ms>\n`: told apart from idle probes in the far end's captures. */
export function controlPayload(): Buffer {
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return Buffer.from(`t3probe control ${sequence} ${Date.now()}\n`);
}

/** Send one control heartbeat now and wait for its echo: the check right after connecting. */
export function verifyControl(channel: EchoChannel, deadlineMs: number, signal?: AbortSignal): Promise<number> {
  return channel.exchange(controlPayload(), deadlineMs, signal);
}

function noop(): void {}

export class IdleControl {
  readonly #options: IdleControlOptions;
  readonly #stop = new AbortController();
  #channel: EchoChannel;
  #unsubscribe: () => void = noop;
  /** Set while the control is down: why. */
  #failure: ControlFailure | undefined;
  #lastFailure: ControlFailure | undefined;
  /** Failures of an up control so far; `mark()` and `check()` compare against it. */
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Exchanges run one at a time (an echo channel allows no more): this is the queue's tail. */
  #tail: Promise<void> = Promise.resolve();
  #pendingConfirm: Promise<void> | undefined;

  /** Take over a control connection that is open and verified, and start heartbeating on it. */
  constructor(channel: EchoChannel, options: IdleControlOptions) {
    this.#options = options;
    this.#channel = channel;
    this.#attach(channel);
  }

  get up(): boolean {
    return this.#failure === undefined && !this.#stop.signal.aborted;
  }

  /** The most recent failure, also after a reopen; undefined if the control never failed. */
  get lastFailure(): ControlFailure | undefined {
    return this.#lastFailure;
  }

  /** A point in the control's history, taken when an idle period begins. */
  mark(): number {
    return this.#failures;
  }

  /**
   * Whether the far end stayed reachable since `mark`: undefined when the control had no failure
   * since then and passes one more exchange now; otherwise its failure. Rejects only on abort.
   */
  async check(mark: number, signal: AbortSignal): Promise<ControlFailure | undefined> {
    signal.throwIfAborted();
    const before = this.#failedSince(mark);
    if (before !== undefined) return before;
    this.#pendingConfirm ??= this.#enqueue(() => {
      // Whoever asks from now on needs an exchange that starts after they asked.
      this.#pendingConfirm = undefined;
      return this.#exchange();
    });
    await raceSignal(this.#pendingConfirm, signal);
    return this.#failedSince(mark);
  }

  /**
   * Replace a failed control with a new connection. True when the control is up afterwards.
   * A failed attempt keeps the control down with the attempt's error. Rejects only on abort.
   */
  async reopen(signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    const { open } = this.#options;
    if (this.up || this.#stop.signal.aborted || open === undefined) return this.up;
    // Not AbortSignal.any(): on Node 20 it leaves a WeakRef per reopen on the leg's signal.
    const both = anySignal([signal, this.#stop.signal]);
    let channel: EchoChannel;
    try {
      channel = await open(both.signal);
    } catch (err) {
      signal.throwIfAborted();
      if (!this.#stop.signal.aborted) this.#failure = this.#lastFailure = { error: toError(err), at: Date.now() };
      return false;
    } finally {
      both.dispose();
    }
    if (this.#stop.signal.aborted) {
      channel.terminate();
      return false;
    }
    this.#attach(channel);
    return true;
  }

  /** Immediate and idempotent: stop heartbeating and terminate the connection. */
  close(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new ProbeError('PROBE_ERR_CLOSED', 'control connection closed by the probe'));
    clearTimeout(this.#timer);
    this.#unsubscribe();
    this.#channel.terminate();
  }

  #attach(channel: EchoChannel): void {
    this.#channel = channel;
    this.#failure = undefined;
    this.#unsubscribe = channel.onceGone((err) => this.#fail(channel, err));
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.up) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue(() => this.#exchange()).then(() => this.#schedule());
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(noop);
    return run;
  }

  /** One echo on the current connection; never rejects, a failure marks the control down. */
  async #exchange(): Promise<void> {
    if (!this.up) return;
    const channel = this.#channel;
    try {
      await channel.exchange(controlPayload(), this.#options.deadlineMs, this.#stop.signal);
    } catch (err) {
      this.#fail(channel, toError(err));
    }
  }

  #fail(channel: EchoChannel, error: Error): void {
    // Late news from a connection already replaced, or from our own close, is not a failure.
    if (channel !== this.#channel || !this.up) return;
    const failure: ControlFailure = { error, at: Date.now() };
    this.#failure = this.#lastFailure = failure;
    this.#failures++;
    this.#unsubscribe();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    channel.terminate();
    this.#options.onDown?.(failure);
  }

  #failedSince(mark: number): ControlFailure | undefined {
    return this.#failure ?? (this.#failures > mark ? this.#lastFailure : undefined);
  }
}

