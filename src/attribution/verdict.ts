/**
 * The attribution table as a pure function: given the drops around a moment (and, when known,
 * RTT figures and which legs were down), name the segment that broke, with its evidence.
 *
 *   only the public leg drops            -> the CDN edge, tunnel or WAN (public DNS if every
 *                                            public drop was a dns failure)
 *   both WebSocket legs drop together    -> Traefik, dispatch, or the host's reachability
 *   only the internal leg drops          -> the probe's own path to the internal LB
 *   the serve leg times out or its RTT spikes -> the serve process stalled (or is down)
 *   only an idle leg expires             -> a middlebox forgot an idle connection (IPVS)
 *   every leg is clean                   -> the user's last mile or device: infra exonerated
 *
 * Drops within `burstMs` of each other are one shared-segment event (a burst).
 */
import type { Reason } from '../legs/reasons.js';
import type { LegRole } from './roles.js';

export const VERDICTS = [
  'public_dns',
  'cdn_edge_or_wan',
  'traefik_dispatch_or_host',
  'internal_path',
  'serve_process',
  'idle_expiry',
  'exonerated',
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
  exonerated: "none: every leg was clean, so look at the user's last mile or device",
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
}

export interface LegRttEvidence {
  readonly leg: string;
  /** p99 RTT inside the window. */
  readonly p99Seconds: number | null;
  /** p99 RTT in the quiet period before the window, the baseline for "spikes". */
  readonly baselineP99Seconds: number | null;
}

export interface AttributionInput {
  /** The moment of the user's report, Unix ms. */
  readonly at: number;
  /** Look at [at - windowMs, at + windowMs]. */
  readonly windowMs: number;
  /** Drops closer than this to each other are one event. */
  readonly burstMs: number;
  readonly legs: readonly { readonly name: string; readonly role: LegRole }[];
  readonly drops: readonly AttributionDrop[];
  readonly rtt?: readonly LegRttEvidence[];
  /** Legs that were down at some point in the window without dropping inside it (an ongoing outage). */
  readonly downLegs?: readonly string[];
  /** Data covers only from this Unix ms on (the probe's start); a moment before it has no verdict. */
  readonly dataSince?: number;
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

export interface Verdict {
  readonly verdict: VerdictKind;
  readonly segment: string;
  readonly summary: string;
  readonly at: number;
  readonly window: { readonly from: number; readonly to: number };
  /** Every burst in the window, oldest first; the verdict comes from the one nearest `at`. */
  readonly bursts: readonly DropBurst[];
  readonly droppedLegs: readonly string[];
  readonly cleanLegs: readonly string[];
  readonly rttSpikes: readonly RttSpike[];
  /** Burst sizes above 1 leg: simultaneous drops point at a shared segment. */
  readonly simultaneous: boolean;
}

export const DEFAULT_WINDOW_MS = 120_000;
export const DEFAULT_BURST_MS = 3_000;

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
    return publicDrops.every((d) => d.reason === 'dns') ? 'public_dns' : 'cdn_edge_or_wan';
  }
  if (roles.has('internal')) return 'internal_path';
  if (roles.has('serve')) return 'serve_process';
  if (roles.has('idle')) return 'idle_expiry';
  return 'exonerated';
}

export function attribute(input: AttributionInput): Verdict {
  const from = input.at - input.windowMs;
  const to = input.at + input.windowMs;
  const roleOf = (leg: string): LegRole | undefined => input.legs.find((l) => l.name === leg)?.role;
  const inWindow = input.drops.filter((d) => d.at >= from && d.at <= to).sort((a, b) => a.at - b.at);

  const bursts: DropBurst[] = [];
  let current: AttributionDrop[] = [];
  const close = (): void => {
    if (current.length === 0) return;
    const legs = [...new Set(current.map((d) => d.leg))];
    const roles = new Set(legs.map(roleOf).filter((r): r is LegRole => r !== undefined));
    bursts.push({ from: current[0]?.at ?? 0, to: current.at(-1)?.at ?? 0, legs, drops: current, verdict: classify(roles, current, roleOf) });
    current = [];
  };
  for (const drop of inWindow) {
    const previous = current.at(-1);
    if (previous !== undefined && drop.at - previous.at > input.burstMs) close();
    current.push(drop);
  }
  close();

  const rttSpikes = (input.rtt ?? []).map(spikeOf).filter((s): s is RttSpike => s !== undefined);
  const droppedLegs = [...new Set([...inWindow.map((d) => d.leg), ...(input.downLegs ?? [])])];
  const cleanLegs = input.legs.map((l) => l.name).filter((name) => !droppedLegs.includes(name) && !rttSpikes.some((s) => s.leg === name));
  const base = {
    at: input.at,
    window: { from, to },
    bursts,
    droppedLegs,
    cleanLegs,
    rttSpikes,
    simultaneous: bursts.some((b) => b.legs.length > 1),
  };

  // The burst nearest the reported moment decides; the others stay in the evidence.
  const nearest = [...bursts].sort((a, b) => distance(a, input.at) - distance(b, input.at))[0];
  let verdict: VerdictKind;
  let summary: string;
  if (nearest !== undefined) {
    verdict = nearest.verdict;
    summary = describeBurst(nearest, input.legs, roleOf);
  } else if ((input.downLegs ?? []).length > 0) {
    const roles = new Set((input.downLegs ?? []).map(roleOf).filter((r): r is LegRole => r !== undefined));
    verdict = classify(roles, [], roleOf);
    summary = `No new drop in the window, but ${list(input.downLegs ?? [])} ${(input.downLegs ?? []).length > 1 ? 'were' : 'was'} down (an ongoing outage): ${SEGMENT_TEXT[verdict]}.`;
  } else if (rttSpikes.some((s) => roleOf(s.leg) === 'serve')) {
    verdict = 'serve_process';
    const spike = rttSpikes.find((s) => roleOf(s.leg) === 'serve');
    summary = `No leg dropped, but ${spike?.leg ?? 'the serve leg'}'s p99 RTT spiked to ${ms(spike?.p99Seconds ?? 0)}${spike?.baselineP99Seconds == null ? '' : ` from ${ms(spike.baselineP99Seconds)}`}: the serve process stalled (memory or IO pressure on the host).`;
  } else if (input.dataSince !== undefined && input.dataSince > input.at) {
    verdict = 'no_data';
    summary = `The probe's data starts at ${iso(input.dataSince)}, after ${iso(input.at)}: it cannot vouch for that time.`;
  } else {
    verdict = 'exonerated';
    summary = `Every leg (${list(input.legs.map((l) => l.name))}) stayed up between ${iso(from)} and ${iso(to)}: infrastructure is exonerated; look at the user's last mile or device.`;
  }
  return { ...base, verdict, segment: SEGMENT_TEXT[verdict], summary };
}

function distance(burst: DropBurst, at: number): number {
  if (at < burst.from) return burst.from - at;
  if (at > burst.to) return at - burst.to;
  return 0;
}

function describeBurst(burst: DropBurst, legs: AttributionInput['legs'], roleOf: (leg: string) => LegRole | undefined): string {
  const what = burst.legs.map((leg) => {
    const reasons = [...new Set(burst.drops.filter((d) => d.leg === leg).map((d) => d.reason))];
    return `${leg} (${reasons.join(', ')})`;
  });
  const span = burst.to - burst.from;
  const when = `at ${iso(burst.from)}${span > 0 ? ` within ${ms(span / 1000)}` : ''}`;
  const stayed = legs.map((l) => l.name).filter((name) => !burst.legs.includes(name));
  const clean = stayed.length > 0 ? `; ${list(stayed)} stayed up` : '';
  const all = stayed.length === 0 && legs.length > 1 ? ' Every leg dropped together: the host or its network.' : '';
  const together = burst.legs.length > 1 ? 'dropped together' : 'dropped';
  const serveTimeout = burst.verdict === 'serve_process' && burst.drops.some((d) => roleOf(d.leg) === 'serve' && d.reason === 'timeout');
  const tail =
    burst.verdict === 'serve_process'
      ? serveTimeout
        ? 'the serve process stalled (memory or IO pressure on the host)'
        : 'the serve process is down or refusing'
      : SEGMENT_TEXT[burst.verdict];
  return `${list(what)} ${together} ${when}${clean}: ${tail}.${all}`;
}

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

function ms(seconds: number): string {
  return seconds >= 1 ? `${seconds.toFixed(2)} s` : `${(seconds * 1000).toFixed(1)} ms`;
}

function iso(unixMs: number): string {
  return new Date(unixMs).toISOString();
}
