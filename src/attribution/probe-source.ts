/**
 * `attribute --probe`: read a running probe's /status (legs, roles, the drop ring) and attribute
 * from that. The ring is bounded, so when it is full and its oldest event is newer than the window
 * start, the answer says so instead of pretending the window is complete.
 */
import { ProbeError, errorText } from '../errors.js';
import { readBoundedText } from '../util/read-bounded.js';
import { completeSince, downSpansOf, stallSpansOf, type RingDrop } from './probe-history.js';
import type { LegRole } from '../roles.js';
import { LEG_ROLES } from '../roles.js';
import type { AttributionDrop, AttributionInput, ObservedSpan, StallSpan } from './verdict.js';
import type { Reason } from '../reasons.js';
import { REASONS } from '../reasons.js';

/** The parts of /status attribution needs, validated: /status is untrusted network input. */
interface StatusDoc {
  readonly startedAt: string;
  readonly dropHistory: number | undefined;
  readonly legs: readonly { name: string; role: LegRole; state: string; since: number }[];
  readonly recentDrops: readonly (AttributionDrop & RingDrop)[];
  /** Earlier runs' spans (a probe with a `state` file); absent from older probes. */
  readonly observed: readonly ObservedSpan[];
  /** The probe's own stalls; empty from a probe too old to report them. */
  readonly stalls: readonly StallSpan[];
}

/** A probe keeps at most 64 earlier runs; more is not a t3-probe document. */
const MAX_OBSERVED_SPANS = 64;

const MAX_STATUS_BYTES = 8 * 1024 * 1024;

export interface ProbeSourceResult {
  readonly input: Omit<AttributionInput, 'at' | 'windowMs' | 'burstMs' | 'now'>;
  readonly warnings: readonly string[];
}

/** `now` is the present on the caller's clock: the window is clamped to it, and the probe observed up to it. */
export async function readProbeSource(probeUrl: URL, at: number, windowMs: number, now: number, signal: AbortSignal): Promise<ProbeSourceResult> {
  const url = new URL('status', probeUrl.href.endsWith('/') ? probeUrl : new URL(`${probeUrl.href}/`));
  let text: string;
  try {
    const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await readBoundedText(res, MAX_STATUS_BYTES);
  } catch (err) {
    throw new ProbeError('PROBE_ERR_SOURCE', `cannot read --probe ${url.href}: ${errorText(err)}`, { cause: err });
  }
  const doc = parseStatus(text, url.href);
  const warnings: string[] = [];
  const from = at - windowMs;
  const started = Date.parse(doc.startedAt);
  const observedFrom = completeSince(started, doc.recentDrops, doc.dropHistory);
  const oldest = doc.recentDrops[0]?.at;
  if (oldest !== undefined && observedFrom === oldest && oldest > from) {
    warnings.push(`the probe's drop ring starts at ${new Date(oldest).toISOString()}, after the window start; older drops may be missing (raise dropHistory, or use --prometheus)`);
  }
  return {
    input: {
      legs: doc.legs.map((l) => ({ name: l.name, role: l.role })),
      drops: doc.recentDrops,
      downSpans: downSpansOf(doc.recentDrops, doc.legs),
      // The probe has observed everything since it started (a /status without a start: nothing known),
      // and, with a state file, its earlier runs; never the gaps between them.
      observed: Number.isFinite(observedFrom)
        ? [...earlierRuns(doc, started), { from: observedFrom, to: now }]
        : [],
      stalls: doc.stalls,
    },
    warnings,
  };
}

/** The spans of earlier runs, minus whatever a full ring has forgotten. */
function earlierRuns(doc: StatusDoc, started: number): ObservedSpan[] {
  const forgottenBefore = completeSince(Number.NEGATIVE_INFINITY, doc.recentDrops, doc.dropHistory);
  return doc.observed
    .filter((span) => span.to < started)
    .map((span) => ({ from: Math.max(span.from, forgottenBefore), to: span.to }))
    .filter((span) => span.to >= span.from);
}

function parseStatus(text: string, where: string): StatusDoc {
  const fail = (why: string): never => {
    throw new ProbeError('PROBE_ERR_SOURCE', `cannot read --probe ${where}: not a t3-probe /status document (${why})`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) return fail('not an object');
  const doc = raw as {
    startedAt?: unknown;
    dropHistory?: unknown;
    legs?: unknown;
    recentDrops?: unknown;
    observed?: unknown;
    recentStalls?: unknown;
  };
  if (!Array.isArray(doc.legs) || !Array.isArray(doc.recentDrops)) return fail('no legs or recentDrops');
  const legs = doc.legs.map((l: unknown) => {
    if (typeof l !== 'object' || l === null) return fail('a leg that is not an object');
    const leg = l as { name?: unknown; role?: unknown; state?: unknown; since?: unknown };
    if (typeof leg.name !== 'string' || typeof leg.state !== 'string') return fail('a leg without name or state');
    const role = (LEG_ROLES as readonly unknown[]).includes(leg.role) ? (leg.role as LegRole) : 'public';
    return { name: leg.name, role, state: leg.state, since: typeof leg.since === 'string' ? Date.parse(leg.since) : Number.NaN };
  });
  const drops = doc.recentDrops.flatMap((d: unknown): (AttributionDrop & RingDrop)[] => {
    // A drop that is not one is skipped, as one with a wrong field is.
    if (typeof d !== 'object' || d === null) return [];
    const drop = d as {
      leg?: unknown;
      reason?: unknown;
      at?: unknown;
      lastRttSeconds?: unknown;
      closeCode?: unknown;
      status?: unknown;
      expiry?: unknown;
      recoveredAt?: unknown;
      probeStalledSeconds?: unknown;
    };
    if (typeof drop.leg !== 'string' || !Number.isFinite(drop.at) || !(REASONS as readonly unknown[]).includes(drop.reason)) return [];
    return [
      {
        leg: drop.leg,
        reason: drop.reason as Reason,
        at: drop.at as number,
        recoveredAt: typeof drop.recoveredAt === 'number' && Number.isFinite(drop.recoveredAt) ? drop.recoveredAt : null,
        lastRttSeconds: typeof drop.lastRttSeconds === 'number' ? drop.lastRttSeconds : null,
        ...(typeof drop.closeCode === 'number' ? { closeCode: drop.closeCode } : {}),
        ...(typeof drop.status === 'number' ? { status: drop.status } : {}),
        ...(typeof drop.expiry === 'string' ? { expiry: drop.expiry } : {}),
        ...(finiteNonNegative(drop.probeStalledSeconds) ? { probeStalledSeconds: drop.probeStalledSeconds } : {}),
      },
    ];
  });
  const observed = Array.isArray(doc.observed)
    ? doc.observed.slice(-MAX_OBSERVED_SPANS).flatMap((s: unknown): ObservedSpan[] => {
        const span = s as { from?: unknown; to?: unknown };
        return typeof span.from === 'number' && typeof span.to === 'number' && Number.isFinite(span.from) && Number.isFinite(span.to) && span.from <= span.to
          ? [{ from: span.from, to: span.to }]
          : [];
      })
    : [];
  const stalls = (Array.isArray(doc.recentStalls) ? doc.recentStalls : []).flatMap((s: unknown) => {
    const stall = s as { at?: unknown; seconds?: unknown };
    return Number.isFinite(stall.at) && finiteNonNegative(stall.seconds) ? [{ at: stall.at as number, seconds: stall.seconds }] : [];
  });
  return {
    observed,
    startedAt: typeof doc.startedAt === 'string' ? doc.startedAt : '',
    dropHistory: typeof doc.dropHistory === 'number' ? doc.dropHistory : undefined,
    legs,
    recentDrops: drops,
    stalls: stallSpansOf(stalls),
  };
}

function finiteNonNegative(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
