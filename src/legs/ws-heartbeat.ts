/**
 * The WebSocket heartbeat: an application data frame carrying a sequence number and send time,
 * which any verbatim echo (ours, gorilla/websocket, ws) returns unchanged. It is deliberately not
 * a WS ping: intermediaries may answer control frames themselves and hide a dead backend.
 *
 * Replies are matched byte for byte against what was sent. Anything else is counted and ignored:
 * `duplicate` (a seq we already matched), `garbled` (anything else). A heartbeat unanswered after
 * its deadline ends the session with PROBE_ERR_HEARTBEAT_TIMEOUT, unless the far end had already
 * ended the connection by then (see `farEndEnded`): that end is the drop, not a timeout.
 *
 * The deadline is judged on the time this process ran (see util/run-deadline.ts): when it fires,
 * I/O gets one turn first, and time the probe itself was stalled is not held against the far end.
 * An answer read after the wall-clock deadline is `late` (its RTT includes the stall), never a drop.
 */
import { ProbeError } from '../errors.js';
import type { HeartbeatResult } from '../metrics/registry.js';
import { NO_STALLS, spentSince, stalledNote, type StallClock } from '../util/run-deadline.js';

interface Pending {
  readonly seq: number;
  readonly frame: Buffer;
  readonly sentNs: bigint;
}

/** More outstanding heartbeats than this means the deadline logic is broken; never grow past it. */
const MAX_PENDING = 64;
/** Replies longer than any heartbeat we send are never parsed. */
const MAX_PARSED_REPLY_BYTES = 256;

export interface HeartbeatHooks {
  send(frame: Buffer): void;
  onRtt(seconds: number, result: HeartbeatResult): void;
  onResult(result: HeartbeatResult): void;
  onTimeout(error: ProbeError): void;
  /**
   * True when the far end has already ended the connection (its close frame, FIN or reset has
   * been read) and the session is ending with that, so an expired deadline is no timeout. The
   * transport's own 'close' can trail the read by a round trip, and a starved probe reads the
   * end in the same turn its overdue deadline is judged. Without this hook, none has ended.
   */
  farEndEnded?(): boolean;
}

export class HeartbeatTracker {
  readonly #pending: Pending[] = [];
  readonly #deadlineNs: bigint;
  #nextSeq = 1;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #recheck: NodeJS.Immediate | undefined;
  #stopped = false;

  constructor(
    readonly deadlineMs: number,
    readonly hooks: HeartbeatHooks,
    readonly stalls: StallClock = NO_STALLS,
  ) {
    this.#deadlineNs = BigInt(Math.round(deadlineMs * 1e6));
  }

  /**
   * Send the next heartbeat and make sure a deadline is armed for the oldest one unanswered. With
   * nothing else outstanding, this beat's deadline simply moves the timer: refresh() re-arms the
   * same Timeout from now at the full deadline, so while every heartbeat is answered before the
   * next one goes, the deadline timer never fires and nothing is allocated (at 10,000 legs, a
   * fresh timer per leg and second was most of the heartbeat's timer work).
   */
  beat(): void {
    if (this.#stopped || this.#pending.length >= MAX_PENDING) return;
    const seq = this.#nextSeq++;
    const frame = Buffer.from(`{"seq":${seq},"t":${Date.now()}}`);
    const nothingOutstanding = this.#pending.length === 0;
    this.#pending.push({ seq, frame, sentNs: process.hrtime.bigint() });
    this.hooks.send(frame);
    if (this.#recheck !== undefined) return;
    if (this.#deadlineTimer === undefined) this.#arm(this.deadlineMs);
    else if (nothingOutstanding && this.#deadlineArmedMs === this.deadlineMs) this.#deadlineTimer.refresh();
  }

  /** Classify one incoming message. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.#stopped) return;
    const now = process.hrtime.bigint();
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      const entry = pending[i];
      if (entry !== undefined && !isBinary && data.equals(entry.frame)) {
        // An ordered echo answers the oldest first; anything older that was skipped is lost and
        // will be caught by its own deadline, so only this entry is removed.
        pending.splice(i, 1);
        const elapsedNs = now - entry.sentNs;
        const result: HeartbeatResult = elapsedNs > this.#deadlineNs ? 'late' : 'ok';
        this.hooks.onRtt(Number(elapsedNs) / 1e9, result);
        return;
      }
    }
    this.hooks.onResult(this.#classifyStray(data, isBinary));
  }

  #classifyStray(data: Buffer, isBinary: boolean): HeartbeatResult {
    if (isBinary || data.length > MAX_PARSED_REPLY_BYTES) return 'garbled';
    try {
      const parsed: unknown = JSON.parse(data.toString('utf8'));
      const seq = typeof parsed === 'object' && parsed !== null ? (parsed as { seq?: unknown }).seq : undefined;
      // Sent and no longer pending means answered already: every unanswered heartbeat stays
      // pending until its deadline ends the session. A reply naming a pending seq whose bytes
      // did not match is a mangled answer, not a repeat.
      if (typeof seq === 'number' && Number.isInteger(seq) && seq > 0 && seq < this.#nextSeq && !this.#pending.some((p) => p.seq === seq)) {
        return 'duplicate';
      }
    } catch {
      // not JSON: garbled
    }
    return 'garbled';
  }

  /** The duration the armed deadline timer was set with (refresh() re-arms it with the same). */
  #deadlineArmedMs = 0;

  #arm(ms: number): void {
    this.#deadlineArmedMs = Math.max(1, Math.ceil(ms));
    this.#deadlineTimer = setTimeout(() => this.#checkDeadline(), this.#deadlineArmedMs);
    this.#deadlineTimer.unref();
  }

  #checkDeadline(): void {
    this.#deadlineTimer = undefined;
    if (this.#stopped) return;
    // Give I/O one turn of the loop first: after a stall of this process, every timer is overdue
    // and runs before the sockets are read, while the reply may already be sitting in one.
    // Not unref'd: an unref'd immediate lets the poll phase block until something else wakes it.
    this.#recheck = setImmediate(() => {
      this.#recheck = undefined;
      this.#judge();
    });
  }

  #judge(): void {
    if (this.#stopped) return;
    const oldest = this.#pending[0];
    if (oldest === undefined) return;
    // Only the time this process ran counts against the far end.
    const spent = spentSince(oldest.sentNs, this.stalls);
    const ranMs = spent.elapsedMs - spent.stalledMs;
    if (ranMs < this.deadlineMs) {
      this.#arm(this.deadlineMs - ranMs);
      return;
    }
    if (this.hooks.farEndEnded?.() === true) {
      this.stop();
      return;
    }
    this.stop();
    this.hooks.onResult('timeout');
    this.hooks.onTimeout(
      new ProbeError(
        'PROBE_ERR_HEARTBEAT_TIMEOUT',
        `heartbeat seq ${oldest.seq} unanswered after ${Math.round(spent.elapsedMs)} ms (deadline ${this.deadlineMs} ms)${stalledNote(spent)}`,
      ),
    );
  }

  get outstanding(): number {
    return this.#pending.length;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    if (this.#recheck !== undefined) clearImmediate(this.#recheck);
    this.#recheck = undefined;
    this.#pending.length = 0;
  }
}
