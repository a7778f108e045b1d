/**
 * What a probe's own history (its start time, its bounded drop ring, its legs' states) says about
 * a window: when each leg was down, and since when the history is complete.
 *   - Every drop in the ring lasts until the leg recovered; a leg that is down now has been down
 *     since it entered that state (which also covers a drop the ring has already forgotten).
 *   - The probe observed everything since it started, unless the ring is full: then it has
 *     forgotten whatever came before its oldest drop.
 */
import type { DownSpan, StallSpan } from './verdict.js';

export interface RingDrop {
  readonly leg: string;
  readonly at: number;
  /** Unix ms the leg came back up; null while it is still down (or when the source did not say). */
  readonly recoveredAt?: number | null;
}

export interface LegNow {
  readonly name: string;
  readonly state: string;
  /** Unix ms the leg entered its current state. */
  readonly since: number;
}

export function downSpansOf(drops: readonly RingDrop[], legs: readonly LegNow[]): DownSpan[] {
  // Grouped once: a probe with thousands of legs and a full ring answers /status in linear time.
  const byLeg = new Map<string, RingDrop[]>();
  for (const drop of [...drops].sort((a, b) => a.at - b.at)) {
    const own = byLeg.get(drop.leg);
    if (own === undefined) byLeg.set(drop.leg, [drop]);
    else own.push(drop);
  }
  const spans: DownSpan[] = [];
  for (const leg of legs) {
    const own = byLeg.get(leg.name) ?? [];
    own.forEach((drop, i) => {
      const next = own[i + 1];
      let to: number | null;
      if (typeof drop.recoveredAt === 'number') to = drop.recoveredAt;
      // A leg cannot drop again before it recovers: the next drop bounds this one.
      else if (next !== undefined) to = next.at;
      else if (leg.state === 'down') to = null;
      else to = Number.isFinite(leg.since) && leg.since >= drop.at ? leg.since : drop.at;
      spans.push({ leg: leg.name, from: drop.at, to });
    });
    if (leg.state === 'down' && Number.isFinite(leg.since)) spans.push({ leg: leg.name, from: leg.since, to: null });
  }
  return spans;
}

/** Since when (Unix ms) the probe's history is complete; NaN when the start is unknown. */
export function completeSince(startedAt: number, drops: readonly RingDrop[], ringCapacity: number | undefined): number {
  const oldest = drops[0]?.at;
  const ringFull = oldest !== undefined && ringCapacity !== undefined && drops.length >= ringCapacity;
  return ringFull ? Math.max(startedAt, oldest) : startedAt;
}

/** The probe's own stalls (its /status `recentStalls`: start in Unix ms, length) as spans. */
export function stallSpansOf(stalls: readonly { readonly at: number; readonly seconds: number }[]): StallSpan[] {
  return stalls.map((s) => ({ from: s.at, to: s.at + s.seconds * 1000, seconds: s.seconds }));
}
