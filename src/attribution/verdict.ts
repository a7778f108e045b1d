/**
 * The attribution table as a pure function: given the drops around a moment (and, when known,
 * RTT figures, down time and which part of the window the source observed), name the segment that
 * broke, with its evidence.
 *
 *   only the public leg drops            -> the CDN edge, tunnel or WAN (public DNS if every
 *                                            public drop was a dns failure)
 *   both WebSocket legs drop together    -> Traefik, dispatch, or the host's reachability
 *   only the internal leg drops          -> the probe's own path to the internal LB
 *   the serve leg times out or its RTT spikes -> the serve process stalled (or is down)
 *   only an idle leg expires             -> a middlebox forgot an idle connection (IPVS)
 *   only an idle leg drops otherwise     -> its far end or whole path went away (its control
 *                                            connection dropped too: not an idle expiry)
 *   every leg is clean                   -> the user's last mile or device: infra exonerated
 *   the probe itself stalled, and every drop of the deciding event is a timeout it may have
 *   caused (or nothing dropped)          -> the probe, not the path: no segment is blamed
 *
 * Drops within `burstMs` of each other are one shared-segment event (a burst).
 *
 * The rules that keep a verdict honest:
 *   - The window is [at - W, at + W] but never reaches past `now`; the verdict carries the real
 *     bounds.
 *   - Only observed time is vouched for. Nothing observed: `no_data`. Part observed: the verdict
 *     is `partial` and says how much was covered.
 *   - A leg is clean ("stayed up") only with no drop and no down time anywhere in the window; a
 *     leg that went down before the window and was still down inside it was down in the window.
 *   - The summary names the deciding event (the one nearest `at`) and how many others there are.
 */
import { STALL_REACH_MS } from '../config/defaults.js';
import type { Reason } from '../reasons.js';
import type { LegRole } from '../roles.js';

export const VERDICTS = [
  'public_dns',
  'cdn_edge_or_wan',
  'traefik_dispatch_or_host',
  'internal_path',
  'serve_process',
  'idle_expiry',
  'idle_far_end',
  'exonerated',
  'probe_stalled',
  'no_data',
] as const;
export type VerdictKind = (typeof VERDICTS)[number];

export const SEGMENT_TEXT: Readonly<Record<VerdictKind, string>> = {
  public_dns: 'public DNS (DoH)',
  cdn_edge_or_wan: 'the CDN edge, tunnel or WAN',
  traefik_dispatch_or_host: "Traefik, dispatch, or the host's reachability",
  internal_path: "the probe's path to the internal load balancer",
  serve_process: 'the serve process',
  idle_expiry: 'a middlebox that forgets idle connections (IPVS, LB, NAT)',
  idle_far_end: "the idle leg's far end or its whole path went away (not an idle expiry)",
  exonerated: "none: every leg was clean, so look at the user's last mile or device",
  probe_stalled: 'none: the probe itself stalled (starved of CPU, stopped, or a GC pause), so no segment is blamed',
  no_data: 'unknown: the probe has no data for that time',
};

export interface AttributionDrop {
  readonly leg: string;
  readonly reason: Reason;
  /** Unix ms. */
  readonly at: number;
  readonly lastRttSeconds: number | null;
  readonly closeCode?: number;
  readonly status?: number;
  readonly expiry?: string;
  /** How many drops this stands for (Prometheus gives counts, not events). */
  readonly count?: number;
  /**
   * Seconds the probe itself was stalled before this drop (the probe's ring records it per drop).
   * Absent (Prometheus): stall spans near the drop decide instead.
   */
  readonly probeStalledSeconds?: number;
}

/** A stretch in which the probe process itself did not run (Unix ms), and its length. */
export interface StallSpan {
  readonly from: number;
  readonly to: number;
  readonly seconds: number;
}

export interface LegRttEvidence {
  readonly leg: string;
  /** p99 RTT inside the window. */
  readonly p99Seconds: number | null;
  /** p99 RTT in the quiet period before the window, the baseline for "spikes". */
  readonly baselineP99Seconds: number | null;
}

/** A leg was down from `from` until `to` (Unix ms); `to` null: still down. */
export interface DownSpan {
  readonly leg: string;
  readonly from: number;
  readonly to: number | null;
}

/** A stretch of time the source has data for (Unix ms). */
export interface ObservedSpan {
  readonly from: number;
  readonly to: number;
}

export interface AttributionInput {
  /** The moment of the user's report, Unix ms. */
  readonly at: number;
  /** Look at [at - windowMs, at + windowMs], clamped to `now`. */
  readonly windowMs: number;
  /** Drops closer than this to each other are one event. */
  readonly burstMs: number;
  /** The present, Unix ms: nothing after it has been observed. */
  readonly now: number;
  readonly legs: readonly { readonly name: string; readonly role: LegRole }[];
  readonly drops: readonly AttributionDrop[];
  readonly rtt?: readonly LegRttEvidence[];
  /** Exact down time per leg (the probe's ring: each drop until its recovery). */
  readonly downSpans?: readonly DownSpan[];
  /** Legs known to be down at some moment of the window, without exact times (Prometheus). */
  readonly downLegs?: readonly string[];
  /** The time the source has data for. Absent: the whole window was observed. */
  readonly observed?: readonly ObservedSpan[];
  /** When the probe itself stalled (its stall ring, or t3probe_probe_stall_seconds_total). */
  readonly stalls?: readonly StallSpan[];
}

export interface DropBurst {
  readonly from: number;
  readonly to: number;
  readonly legs: readonly string[];
  readonly drops: readonly AttributionDrop[];
  readonly verdict: VerdictKind;
}

export interface RttSpike {
  readonly leg: string;
  readonly p99Seconds: number;
  readonly baselineP99Seconds: number | null;
}

export interface Coverage {
  /** Observed share of the window, 0 to 1. */
  readonly fraction: number;
  /** The first and last observed moments inside the window; null when nothing was observed. */
  readonly from: number | null;
  readonly to: number | null;
}

export interface Verdict {
  readonly verdict: VerdictKind;
  readonly segment: string;
  readonly summary: string;
  readonly at: number;
  /** The window actually looked at: [at - windowMs, min(at + windowMs, now)]. */
  readonly window: { readonly from: number; readonly to: number };
  /** The half-width asked for (the W of ±W). */
  readonly windowMs: number;
  /** Whether `now` cut the window short. */
  readonly clampedToNow: boolean;
  readonly coverage: Coverage;
  /** Some of the window was not observed: the verdict vouches only for the observed part. */
  readonly partial: boolean;
  /** Every burst in the window, oldest first. */
  readonly bursts: readonly DropBurst[];
  /** Index into `bursts` of the event that decided the verdict (the one nearest `at`), or null. */
  readonly decidingBurst: number | null;
  /** Bursts in the window other than the deciding one. */
  readonly otherEvents: number;
  /** Legs that dropped or were down at any moment of the window. */
  readonly droppedLegs: readonly string[];
  /** Legs that were down in the window without dropping inside it (an outage that began earlier). */
  readonly downLegs: readonly string[];
  /** Legs with no drop, no down time and no RTT spike anywhere in the window; empty for no_data. */
  readonly cleanLegs: readonly string[];
  readonly rttSpikes: readonly RttSpike[];
  /** Burst sizes above 1 leg: simultaneous drops point at a shared segment. */
  readonly simultaneous: boolean;
  /** The probe's own stalls that overlap the window, oldest first. */
  readonly stalls: readonly StallSpan[];
}

export const DEFAULT_WINDOW_MS = 120_000;
export const DEFAULT_BURST_MS = 3_000;

/**
 * A timeout is decided by the probe's own timer, so a stall of the probe can cause it; any other
 * reason (a reset, a close, a refusal, a DNS answer) is the path's or far end's own evidence.
 */
function stallSensitive(drop: AttributionDrop): boolean {
  return drop.reason === 'timeout' || (drop.reason === 'idle_expired' && drop.expiry === 'silent');
}

/**
 * Without a per-drop record (Prometheus), a stall that ended up to STALL_REACH_MS before a
 * timeout counts as overlapping it, the same reach the probe uses for its per-drop record.
 */
export { STALL_REACH_MS };

/** Whether the probe's own stall may have decided this drop. */
function stallDependent(drop: AttributionDrop, stalls: readonly StallSpan[]): boolean {
  if (!stallSensitive(drop)) return false;
  if (typeof drop.probeStalledSeconds === 'number') return drop.probeStalledSeconds > 0;
  return stalls.some((s) => s.from <= drop.at && s.to >= drop.at - STALL_REACH_MS);
}

/** At most this many other events are named in a summary; the rest are counted. */
const MAX_OTHER_EVENTS_NAMED = 3;

/** An RTT counts as a spike at 3× its baseline and at least 100 ms more, or above 1 s with no baseline. */
function spikeOf(rtt: LegRttEvidence): RttSpike | undefined {
  const p99 = rtt.p99Seconds;
  if (p99 === null || !Number.isFinite(p99)) return undefined;
  const base = rtt.baselineP99Seconds;
  const spiking = base !== null && Number.isFinite(base) && base > 0 ? p99 >= base * 3 && p99 - base >= 0.1 : p99 >= 1;
  return spiking ? { leg: rtt.leg, p99Seconds: p99, baselineP99Seconds: base } : undefined;
}

function classify(roles: ReadonlySet<LegRole>, drops: readonly AttributionDrop[], roleOf: (leg: string) => LegRole | undefined): VerdictKind {
  if (roles.has('public') && roles.has('internal')) return 'traefik_dispatch_or_host';
  if (roles.has('public')) {
    const publicDrops = drops.filter((d) => roleOf(d.leg) === 'public');
    return publicDrops.length > 0 && publicDrops.every((d) => d.reason === 'dns') ? 'public_dns' : 'cdn_edge_or_wan';
  }
  if (roles.has('internal')) return 'internal_path';
  if (roles.has('serve')) return 'serve_process';
  if (roles.has('idle')) {
    const idleDrops = drops.filter((d) => roleOf(d.leg) === 'idle');
    // Only an idle_expired drop (the control connection stayed up) is a middlebox's doing.
    return idleDrops.length === 0 || idleDrops.some((d) => d.reason === 'idle_expired') ? 'idle_expiry' : 'idle_far_end';
  }
  return 'exonerated';
}

/** The observed part of [from, to]: its length and its first and last moments. */
export function coverageOf(observed: readonly ObservedSpan[] | undefined, from: number, to: number): Coverage {
  const length = to - from;
  if (observed === undefined) return length > 0 ? { fraction: 1, from, to } : { fraction: 0, from: null, to: null };
  const clipped = observed
    .map((s) => ({ from: Math.max(s.from, from), to: Math.min(s.to, to) }))
    .filter((s) => s.to > s.from)
    .sort((a, b) => a.from - b.from);
  let covered = 0;
  let reach = from;
  for (const span of clipped) {
    const start = Math.max(span.from, reach);
    if (span.to > start) covered += span.to - start;
    reach = Math.max(reach, span.to);
  }
  if (length <= 0 || clipped.length === 0) return { fraction: 0, from: null, to: null };
  return {
    fraction: Math.min(1, covered / length),
    from: clipped[0]?.from ?? null,
    to: Math.max(...clipped.map((s) => s.to)),
  };
}

function isObserved(observed: readonly ObservedSpan[] | undefined, moment: number): boolean {
  return observed === undefined || observed.some((s) => s.from <= moment && moment <= s.to);
}

export function attribute(input: AttributionInput): Verdict {
  const from = input.at - input.windowMs;
  const to = Math.max(from, Math.min(input.at + input.windowMs, input.now));
  const coverage = coverageOf(input.observed, from, to);
  const roleByLeg = new Map(input.legs.map((l) => [l.name, l.role]));
  const roleOf = (leg: string): LegRole | undefined => roleByLeg.get(leg);
  const inWindow = input.drops.filter((d) => d.at >= from && d.at <= to).sort((a, b) => a.at - b.at);
  const allStalls = input.stalls ?? [];
  const stalls = allStalls.filter((s) => s.to >= from && s.from <= to).sort((a, b) => a.from - b.from);

  const bursts: DropBurst[] = [];
  let current: AttributionDrop[] = [];
  const closeBurst = (): void => {
    if (current.length === 0) return;
    const legs = [...new Set(current.map((d) => d.leg))];
    const roles = new Set(legs.map(roleOf).filter((r): r is LegRole => r !== undefined));
    // A burst made only of timeouts the probe's own stall may have decided blames no segment.
    const verdict = current.every((d) => stallDependent(d, allStalls)) ? 'probe_stalled' : classify(roles, current, roleOf);
    bursts.push({ from: current[0]?.at ?? 0, to: current.at(-1)?.at ?? 0, legs, drops: current, verdict });
    current = [];
  };
  for (const drop of inWindow) {
    const previous = current.at(-1);
    if (previous !== undefined && drop.at - previous.at > input.burstMs) closeBurst();
    current.push(drop);
  }
  closeBurst();

  const legsWithDrops = [...new Set(inWindow.map((d) => d.leg))];
  const downInWindow = [
    ...(input.downSpans ?? []).filter((s) => s.from <= to && (s.to === null || s.to >= from)).map((s) => s.leg),
    ...(input.downLegs ?? []),
  ];
  const dropping = new Set(legsWithDrops);
  const downLegs = [...new Set(downInWindow)].filter((leg) => !dropping.has(leg));
  const droppedLegs = [...legsWithDrops, ...downLegs];
  const rttSpikes = (input.rtt ?? []).map(spikeOf).filter((s): s is RttSpike => s !== undefined);
  const notClean = new Set([...droppedLegs, ...rttSpikes.map((s) => s.leg)]);
  const cleanCandidates = input.legs.map((l) => l.name).filter((name) => !notClean.has(name));

  // The burst nearest the reported moment decides; the others stay in the evidence.
  let decidingBurst: number | null = null;
  bursts.forEach((burst, i) => {
    const best = decidingBurst === null ? undefined : bursts[decidingBurst];
    if (best === undefined || distance(burst, input.at) < distance(best, input.at)) decidingBurst = i;
  });
  const deciding = decidingBurst === null ? undefined : bursts[decidingBurst];
  const partial = coverage.fraction > 0 && coverage.fraction < 1;
  const context: SummaryContext = { input, from, to, coverage, cleanLegs: cleanCandidates, downLegs, bursts, roleOf, stalls: allStalls };

  let verdict: VerdictKind;
  let summary: string;
  if (coverage.fraction === 0) {
    verdict = 'no_data';
    summary = `The probe has no data between ${iso(from)} and ${iso(to)}: it cannot vouch for that time.`;
  } else if (deciding !== undefined) {
    verdict = deciding.verdict;
    summary = describeBurst(deciding, context);
  } else if (downLegs.length === 0 && stalls.length > 0) {
    // Nothing dropped, but the probe did not run for part of the window: it vouches for nothing then.
    verdict = 'probe_stalled';
    const clean = context.cleanLegs.length > 0 ? ` ${list(context.cleanLegs)} stayed up otherwise` : ' No leg dropped';
    summary = `${describeStalls(stalls)}; no segment is blamed.${clean}, but the probe cannot vouch for the time it did not run.`;
  } else if (downLegs.length > 0) {
    const roles = new Set(downLegs.map(roleOf).filter((r): r is LegRole => r !== undefined));
    // The drops that began the outage (before the window) say why, when the source kept them.
    const causes = downLegs.flatMap((leg) => input.drops.filter((d) => d.leg === leg && d.at < from).slice(-1));
    verdict = classify(roles, causes, roleOf);
    const clean = context.cleanLegs.length > 0 ? `; ${list(context.cleanLegs)} stayed up` : '';
    summary = `No new drop in the window, but ${list(downLegs)} ${downLegs.length > 1 ? 'were' : 'was'} down in it (an ongoing outage that began earlier)${clean}: ${SEGMENT_TEXT[verdict]}.`;
    if (stalls.length > 0) summary += ` Note: ${describeStalls(stalls)}.`;
  } else if (rttSpikes.some((s) => roleOf(s.leg) === 'serve')) {
    verdict = 'serve_process';
    const spike = rttSpikes.find((s) => roleOf(s.leg) === 'serve');
    summary = `No leg dropped, but ${spike?.leg ?? 'the serve leg'}'s p99 RTT spiked to ${ms(spike?.p99Seconds ?? 0)}${spike?.baselineP99Seconds == null ? '' : ` from ${ms(spike.baselineP99Seconds)}`}: the serve process stalled (memory or IO pressure on the host).`;
  } else if (!isObserved(input.observed, Math.min(input.at, to))) {
    verdict = 'no_data';
    summary = `The probe has no data for ${iso(input.at)} (it observed ${formatCoverage(coverage.fraction)} of the window, from ${iso(coverage.from ?? to)}, with no drop): it cannot vouch for that moment.`;
  } else {
    verdict = 'exonerated';
    const since = coverage.from ?? from;
    summary =
      `Every leg (${list(input.legs.map((l) => l.name))}) stayed up between ${iso(since)} and ${iso(coverage.to ?? to)}: infrastructure is exonerated; look at the user's last mile or device.` +
      (partial ? ` Partial: the probe observed only ${formatCoverage(coverage.fraction)} of the window and vouches for nothing before ${iso(since)}.` : '');
  }
  if (partial && verdict !== 'exonerated' && verdict !== 'no_data') summary += ` Partial: the probe observed only ${formatCoverage(coverage.fraction)} of the window (from ${iso(coverage.from ?? from)}).`;

  return {
    verdict,
    segment: SEGMENT_TEXT[verdict],
    summary,
    at: input.at,
    window: { from, to },
    windowMs: input.windowMs,
    clampedToNow: to < input.at + input.windowMs,
    coverage,
    partial,
    bursts,
    decidingBurst,
    otherEvents: Math.max(0, bursts.length - 1),
    droppedLegs,
    downLegs,
    cleanLegs: verdict === 'no_data' ? [] : cleanCandidates,
    rttSpikes,
    simultaneous: bursts.some((b) => b.legs.length > 1),
    stalls,
  };
}

interface SummaryContext {
  readonly input: AttributionInput;
  readonly from: number;
  readonly to: number;
  readonly coverage: Coverage;
  readonly cleanLegs: readonly string[];
  readonly downLegs: readonly string[];
  readonly bursts: readonly DropBurst[];
  readonly roleOf: (leg: string) => LegRole | undefined;
  /** Every stall the source knows of, also those just before the window. */
  readonly stalls: readonly StallSpan[];
}

function distance(burst: DropBurst, at: number): number {
  if (at < burst.from) return burst.from - at;
  if (at > burst.to) return at - burst.to;
  return 0;
}

function describeBurst(burst: DropBurst, ctx: SummaryContext): string {
  const what = burst.legs.map((leg) => {
    const reasons = [...new Set(burst.drops.filter((d) => d.leg === leg).map((d) => d.reason))];
    return `${leg} (${reasons.join(', ')})`;
  });
  const span = burst.to - burst.from;
  const when = `at ${iso(burst.from)}${span > 0 ? ` within ${ms(span / 1000)}` : ''}`;
  const together = burst.legs.length > 1 ? 'dropped together' : 'dropped';
  const all = burst.legs.length === ctx.input.legs.length && ctx.input.legs.length > 1 ? ' Every leg dropped together: the host or its network.' : '';
  const serveTimeout = burst.verdict === 'serve_process' && burst.drops.some((d) => ctx.roleOf(d.leg) === 'serve' && d.reason === 'timeout');
  const tail =
    burst.verdict === 'serve_process'
      ? serveTimeout
        ? 'the serve process stalled (memory or IO pressure on the host)'
        : 'the serve process is down or refusing'
      : SEGMENT_TEXT[burst.verdict];
  const others = ctx.bursts.filter((b) => b !== burst);
  const named = others.slice(0, MAX_OTHER_EVENTS_NAMED).map((b) => `${list(b.legs)} at ${iso(b.from)} (${b.verdict})`);
  const unnamed = others.length - named.length;
  const otherText =
    others.length === 0
      ? ''
      : ` The window holds ${others.length} other event${others.length === 1 ? '' : 's'}: ${named.join('; ')}${unnamed > 0 ? `; and ${unnamed} more` : ''}.`;
  const ongoing = ctx.downLegs.filter((leg) => !burst.legs.includes(leg));
  const ongoingText = ongoing.length > 0 ? ` Also down in the window, since before it: ${list(ongoing)}.` : '';
  // Only legs with no drop and no down time anywhere in the window are said to have stayed up.
  const clean = ctx.cleanLegs.length > 0 ? `; ${list(ctx.cleanLegs)} stayed up` : '';
  // The stalls that may have decided this burst: from STALL_REACH_MS before it to its end.
  const near = ctx.stalls.filter((s) => s.from <= burst.to && s.to >= burst.from - STALL_REACH_MS);
  if (burst.verdict === 'probe_stalled') {
    const own = near.length > 0 ? describeStalls(near) : describeDropStalls(burst.drops);
    return `${own}; no segment is blamed: ${list(what)} ${together} ${when}, on the probe's own timer while it could not run${clean}.${otherText}${ongoingText}`;
  }
  const stallText = near.length > 0 ? ` Note: ${describeStalls(near)} around then; its timeouts may be its own doing.` : '';
  return `${list(what)} ${together} ${when}${clean}: ${tail}.${all}${stallText}${otherText}${ongoingText}`;
}

/** "the probe itself stalled for 5.02 s at <time> (and 3 more stalls, 6.10 s in all)". */
function describeStalls(stalls: readonly StallSpan[]): string {
  const longest = stalls.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  const total = stalls.reduce((sum, s) => sum + s.seconds, 0);
  const more = stalls.length > 1 ? ` (and ${stalls.length - 1} more stall${stalls.length > 2 ? 's' : ''}, ${total.toFixed(2)} s in all)` : '';
  return `The probe itself stalled for ${longest.seconds.toFixed(2)} s at ${iso(longest.from)}${more}`;
}

/** The same from the drops' own records, when the stall ring no longer holds the stall. */
function describeDropStalls(drops: readonly AttributionDrop[]): string {
  const longest = Math.max(0, ...drops.map((d) => d.probeStalledSeconds ?? 0));
  return `The probe itself stalled for ${longest.toFixed(2)} s before ${iso(drops[0]?.at ?? 0)}`;
}

/** At most this many names in one sentence; a probe may hold thousands of legs. */
const MAX_NAMES_LISTED = 10;

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  if (items.length > MAX_NAMES_LISTED) return `${items.slice(0, MAX_NAMES_LISTED - 1).join(', ')} and ${items.length - MAX_NAMES_LISTED + 1} more`;
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

function ms(seconds: number): string {
  return seconds >= 1 ? `${seconds.toFixed(2)} s` : `${(seconds * 1000).toFixed(1)} ms`;
}

/** An observed share as people say it: "17%", or "under 1%" rather than a misleading "0%". */
export function formatCoverage(fraction: number): string {
  return fraction > 0 && fraction < 0.01 ? 'under 1%' : `${Math.floor(fraction * 100)}%`;
}

function iso(unixMs: number): string {
  return new Date(unixMs).toISOString();
}
