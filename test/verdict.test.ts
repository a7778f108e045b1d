import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LegRole } from '../src/roles.js';
import { attribute, type AttributionDrop, type AttributionInput, type VerdictKind } from '../src/attribution/verdict.js';
import type { Reason } from '../src/reasons.js';

const T = Date.parse('2026-11-22T03:00:00Z');
const LEGS: { name: string; role: LegRole }[] = [
  { name: 'cloudflare', role: 'public' },
  { name: 'internal', role: 'internal' },
  { name: 't3serve', role: 'serve' },
  { name: 'swarm-vip', role: 'idle' },
];

function drop(leg: string, reason: Reason, offsetMs: number, lastRttSeconds: number | null = 0.012): AttributionDrop {
  return { leg, reason, at: T + offsetMs, lastRttSeconds };
}

/** By default the present is well after the window, so nothing is clamped. */
function verdictOf(drops: AttributionDrop[], extra: Partial<AttributionInput> = {}) {
  return attribute({ at: T, windowMs: 120_000, burstMs: 3_000, now: T + 600_000, legs: LEGS, drops, ...extra });
}

const TABLE: [string, AttributionDrop[], VerdictKind][] = [
  ['only the public leg drops', [drop('cloudflare', 'timeout', 1_000)], 'cdn_edge_or_wan'],
  ['only the public leg drops, every time for dns', [drop('cloudflare', 'dns', 1_000)], 'public_dns'],
  ['both WebSocket legs drop together', [drop('cloudflare', 'closed', 1_000), drop('internal', 'reset', 1_400)], 'traefik_dispatch_or_host'],
  ['every leg drops together', [drop('cloudflare', 'timeout', 0), drop('internal', 'timeout', 200), drop('t3serve', 'timeout', 900)], 'traefik_dispatch_or_host'],
  ['only the internal leg drops', [drop('internal', 'refused', -5_000)], 'internal_path'],
  ['the serve leg times out', [drop('t3serve', 'timeout', 2_000)], 'serve_process'],
  ['the serve leg is refused', [drop('t3serve', 'refused', 2_000)], 'serve_process'],
  ['only the idle leg expires', [drop('swarm-vip', 'idle_expired', 0)], 'idle_expiry'],
  ['nothing dropped', [], 'exonerated'],
  ['drops outside the window do not count', [drop('cloudflare', 'timeout', -121_000), drop('internal', 'timeout', 130_000)], 'exonerated'],
];

for (const [what, drops, expected] of TABLE) {
  test(`verdict: ${what} -> ${expected}`, () => {
    const v = verdictOf(drops);
    assert.equal(v.verdict, expected, v.summary);
    assert.ok(v.summary.length > 20);
  });
}

test('drops farther apart than the burst gap are separate events; the one nearest the report decides', () => {
  const v = verdictOf([drop('cloudflare', 'timeout', -60_000), drop('internal', 'timeout', -50_000), drop('t3serve', 'timeout', 5_000)]);
  assert.equal(v.bursts.length, 3);
  assert.equal(v.verdict, 'serve_process');
  assert.deepEqual(v.bursts.map((b) => b.verdict), ['cdn_edge_or_wan', 'internal_path', 'serve_process']);
  assert.equal(v.simultaneous, false);
});

test('a burst chains drops that each follow within the gap, and reports the evidence', () => {
  const v = verdictOf([drop('cloudflare', 'closed', 0, 0.0123), drop('internal', 'closed', 2_500), drop('internal', 'refused', 5_000)]);
  assert.equal(v.bursts.length, 1);
  const [burst] = v.bursts;
  assert.deepEqual(burst?.legs, ['cloudflare', 'internal']);
  assert.equal(burst?.from, T);
  assert.equal(burst?.to, T + 5_000);
  assert.equal(v.simultaneous, true);
  assert.deepEqual(v.droppedLegs, ['cloudflare', 'internal']);
  assert.deepEqual(v.cleanLegs, ['t3serve', 'swarm-vip']);
  assert.equal(burst?.drops[0]?.lastRttSeconds, 0.0123);
  assert.match(v.summary, /cloudflare \(closed\) and internal \(closed, refused\) dropped together at 2026-11-22T03:00:00\.000Z within 5\.00 s; t3serve and swarm-vip stayed up: Traefik, dispatch, or the host's reachability\./);
});

test('an RTT spike on the serve leg without drops blames the serve process; a steady RTT does not', () => {
  const spiking = verdictOf([], { rtt: [{ leg: 't3serve', p99Seconds: 0.8, baselineP99Seconds: 0.004 }] });
  assert.equal(spiking.verdict, 'serve_process');
  assert.deepEqual(spiking.rttSpikes.map((s) => s.leg), ['t3serve']);
  assert.ok(!spiking.cleanLegs.includes('t3serve'));
  const steady = verdictOf([], { rtt: [{ leg: 't3serve', p99Seconds: 0.006, baselineP99Seconds: 0.004 }] });
  assert.equal(steady.verdict, 'exonerated');
});

test('a leg that was down through the window without a new drop is an ongoing outage', () => {
  const v = verdictOf([], { downLegs: ['cloudflare', 'internal'] });
  assert.equal(v.verdict, 'traefik_dispatch_or_host');
  assert.match(v.summary, /ongoing outage/);
});

test('a moment before the data starts has no verdict rather than a false exoneration', () => {
  const v = verdictOf([], { observed: [{ from: T + 60_000, to: T + 600_000 }] });
  assert.equal(v.verdict, 'no_data');
  assert.equal(verdictOf([], { observed: [{ from: T - 1, to: T + 600_000 }] }).verdict, 'exonerated');
});

// ---- issue 8: summaries never contradict their evidence; windows vouch only for observed time ----

test('two events in the window: the summary names the deciding one, counts the other, and calls no dropped leg clean', () => {
  // cloudflare and internal drop together at T1; swarm-vip and t3serve at T2 (nearest the report).
  const v = verdictOf([drop('cloudflare', 'closed', -60_000), drop('internal', 'closed', -59_800), drop('swarm-vip', 'idle_expired', 0), drop('t3serve', 'refused', 300)]);
  assert.equal(v.verdict, 'serve_process');
  assert.equal(v.bursts.length, 2);
  assert.equal(v.decidingBurst, 1);
  assert.equal(v.otherEvents, 1);
  assert.deepEqual(v.cleanLegs, []);
  assert.doesNotMatch(v.summary, /stayed up/, v.summary);
  assert.match(v.summary, /^swarm-vip \(idle_expired\) and t3serve \(refused\) dropped together at 2026-11-22T03:00:00\.000Z/);
  assert.match(v.summary, /The window holds 1 other event: cloudflare and internal at 2026-11-22T02:59:00\.000Z \(traefik_dispatch_or_host\)\./);
});

test('only legs with no drop and no down time anywhere in the window are said to have stayed up', () => {
  const v = verdictOf([drop('cloudflare', 'timeout', -30_000), drop('internal', 'reset', 1_000)], {
    downSpans: [{ leg: 't3serve', from: T - 300_000, to: T - 100_000 }],
  });
  assert.equal(v.verdict, 'internal_path');
  assert.deepEqual(v.cleanLegs, ['swarm-vip']);
  assert.match(v.summary, /; swarm-vip stayed up:/);
  assert.match(v.summary, /Also down in the window, since before it: t3serve\./);
  assert.doesNotMatch(v.summary, /cloudflare[^.]*stayed up/);
});

test('the window never reaches past the present, and the verdict gives its real bounds', () => {
  const v = verdictOf([], { now: T + 5_000 });
  assert.deepEqual(v.window, { from: T - 120_000, to: T + 5_000 });
  assert.equal(v.clampedToNow, true);
  assert.equal(v.windowMs, 120_000);
  assert.match(v.summary, /stayed up between 2026-11-22T02:58:00\.000Z and 2026-11-22T03:00:05\.000Z/);
  // A drop "after now" cannot exist; one in the clamped window still counts.
  assert.equal(verdictOf([drop('cloudflare', 'timeout', 4_000)], { now: T + 5_000 }).verdict, 'cdn_edge_or_wan');
  assert.equal(verdictOf([], {}).clampedToNow, false);
});

test('coverage: a probe that started inside the window exonerates only what it observed, and says it is partial', () => {
  const started = T - 21_000;
  const v = verdictOf([], { now: T, observed: [{ from: started, to: T }] });
  assert.equal(v.verdict, 'exonerated');
  assert.equal(v.partial, true);
  assert.equal(v.coverage.from, started);
  assert.ok(Math.abs(v.coverage.fraction - 21 / 120) < 1e-9, String(v.coverage.fraction));
  assert.match(v.summary, /stayed up between 2026-11-22T02:59:39\.000Z and 2026-11-22T03:00:00\.000Z/);
  assert.match(v.summary, /Partial: the probe observed only 17% of the window and vouches for nothing before 2026-11-22T02:59:39\.000Z\./);
  assert.doesNotMatch(v.summary, /02:58:00/);
});

test('coverage: nothing observed is no_data, and a no_data verdict lists no clean legs', () => {
  const before = verdictOf([], { observed: [{ from: T + 300_000, to: T + 600_000 }] });
  assert.equal(before.verdict, 'no_data');
  assert.equal(before.coverage.fraction, 0);
  assert.deepEqual(before.cleanLegs, []);
  assert.equal(before.partial, false);
  const future = verdictOf([], { at: T + 10 * 60_000, windowMs: 60_000, now: T });
  assert.equal(future.verdict, 'no_data');
  assert.deepEqual(future.cleanLegs, []);
  // Observed, but not at the reported moment, and nothing happened in what was observed.
  const late = verdictOf([], { observed: [{ from: T + 60_000, to: T + 600_000 }] });
  assert.equal(late.verdict, 'no_data');
  assert.deepEqual(late.cleanLegs, []);
  assert.match(late.summary, /observed 25% of the window/);
});

test('coverage: an event in a partly observed window still decides, marked partial', () => {
  const v = verdictOf([drop('t3serve', 'timeout', 2_000)], { observed: [{ from: T - 10_000, to: T + 600_000 }] });
  assert.equal(v.verdict, 'serve_process');
  assert.equal(v.partial, true);
  assert.match(v.summary, /Partial: the probe observed only 54% of the window/);
});

test('a leg that went down before the window and was still down inside it was down in the window', () => {
  // Down 10 s before the window opened, back up 3 s into it.
  const opened = T - 30_000;
  const v = verdictOf([], { windowMs: 30_000, downSpans: [{ leg: 't3serve', from: opened - 10_000, to: opened + 3_000 }, { leg: 'swarm-vip', from: opened - 10_000, to: null }] });
  assert.equal(v.verdict, 'serve_process');
  assert.deepEqual(v.downLegs, ['t3serve', 'swarm-vip']);
  assert.deepEqual(v.cleanLegs, ['cloudflare', 'internal']);
  assert.match(v.summary, /ongoing outage/);
  // Recovered before the window opened: clean.
  const recovered = verdictOf([], { windowMs: 30_000, downSpans: [{ leg: 't3serve', from: opened - 10_000, to: opened - 1 }] });
  assert.equal(recovered.verdict, 'exonerated');
  assert.ok(recovered.cleanLegs.includes('t3serve'));
});

test('an outage that began before the window is classified by the drop that began it, not guessed as DNS', () => {
  const spans = [{ leg: 'cloudflare', from: T - 200_000, to: null }];
  assert.equal(verdictOf([], { downSpans: spans }).verdict, 'cdn_edge_or_wan');
  assert.equal(verdictOf([drop('cloudflare', 'dns', -200_000)], { downSpans: spans }).verdict, 'public_dns');
  assert.equal(verdictOf([drop('cloudflare', 'timeout', -200_000)], { downSpans: spans }).verdict, 'cdn_edge_or_wan');
});

test('an idle leg that dropped for another reason than idle expiry (its control dropped too) is not blamed on a middlebox', () => {
  assert.equal(verdictOf([drop('swarm-vip', 'idle_expired', 0)]).verdict, 'idle_expiry');
  const farEnd = verdictOf([drop('swarm-vip', 'closed', 0)]);
  assert.equal(farEnd.verdict, 'idle_far_end');
  assert.doesNotMatch(farEnd.summary, /middlebox/);
  // An ongoing outage of the idle leg without a known expiry is not a middlebox's either.
  assert.equal(verdictOf([drop('swarm-vip', 'reset', -200_000)], { downSpans: [{ leg: 'swarm-vip', from: T - 200_000, to: null }] }).verdict, 'idle_far_end');
});

test('a probe with thousands of legs gets a readable summary', () => {
  const legs = Array.from({ length: 5_000 }, (_, i) => ({ name: `leg${i}`, role: 'public' as const }));
  const drops = Array.from({ length: 2_000 }, (_, i) => ({ leg: `leg${i}`, reason: 'timeout' as const, at: T + i, lastRttSeconds: null }));
  const v = attribute({ at: T, windowMs: 120_000, burstMs: 3_000, now: T + 600_000, legs, drops });
  assert.equal(v.cleanLegs.length, 3_000);
  assert.match(v.summary, /leg0 \(timeout\), leg1 \(timeout\), .* and 1991 more dropped together/);
  assert.ok(v.summary.length < 1_000, `${v.summary.length} characters`);
});

// ---- the probe's own stalls ---------------------------------------------------------------

const STALL = { from: T - 6_000, to: T - 1_000, seconds: 5 };

test('verdict: timeouts on every leg right after the probe stalled -> probe_stalled, no segment blamed', () => {
  const drops = [drop('cloudflare', 'timeout', 0), drop('internal', 'timeout', 300), drop('t3serve', 'timeout', 500)];
  const v = verdictOf(drops, { stalls: [STALL] });
  assert.equal(v.verdict, 'probe_stalled', v.summary);
  assert.equal(v.bursts[0]?.verdict, 'probe_stalled');
  assert.match(v.summary, /^The probe itself stalled for 5\.00 s at 2026-11-22T02:59:54\.000Z; no segment is blamed: /);
  assert.match(v.summary, /swarm-vip stayed up/);
  assert.deepEqual(v.stalls, [STALL]);
  // Without the stall the same drops blame Traefik, dispatch or the host.
  assert.equal(verdictOf(drops).verdict, 'traefik_dispatch_or_host');
});

test('verdict: the per-drop stall record (--probe) decides, even when the stall ring forgot the stall', () => {
  const stalled = { ...drop('cloudflare', 'timeout', 0), probeStalledSeconds: 4.2 };
  const v = verdictOf([stalled]);
  assert.equal(v.verdict, 'probe_stalled', v.summary);
  assert.match(v.summary, /^The probe itself stalled for 4\.20 s before /);
  // A drop whose own record says the probe ran the whole time blames its segment, stall nearby or not.
  const ran = { ...drop('cloudflare', 'timeout', 0), probeStalledSeconds: 0 };
  assert.equal(verdictOf([ran], { stalls: [STALL] }).verdict, 'cdn_edge_or_wan');
});

test('verdict: evidence independent of the stall (a reset, a close) keeps its segment, and the summary still says the probe stalled', () => {
  const v = verdictOf([drop('cloudflare', 'reset', 0), drop('internal', 'timeout', 200)], { stalls: [STALL] });
  assert.equal(v.verdict, 'traefik_dispatch_or_host', v.summary);
  assert.match(v.summary, /Note: The probe itself stalled for 5\.00 s at 2026-11-22T02:59:54\.000Z around then; its timeouts may be its own doing\./);
});

test('verdict: a stall long before a timeout (beyond STALL_REACH_MS) does not excuse it', () => {
  const v = verdictOf([drop('cloudflare', 'timeout', 60_000)], { stalls: [STALL] });
  assert.equal(v.verdict, 'cdn_edge_or_wan', v.summary);
});

test('verdict: nothing dropped but the probe stalled in the window -> probe_stalled; it vouches for nothing then', () => {
  const v = verdictOf([], { stalls: [STALL, { from: T + 30_000, to: T + 30_400, seconds: 0.4 }] });
  assert.equal(v.verdict, 'probe_stalled', v.summary);
  assert.match(v.summary, /^The probe itself stalled for 5\.00 s at 2026-11-22T02:59:54\.000Z \(and 1 more stall, 5\.40 s in all\); no segment is blamed\./);
  assert.match(v.summary, /cannot vouch for the time it did not run/);
  assert.deepEqual(v.cleanLegs, ['cloudflare', 'internal', 't3serve', 'swarm-vip']);
  // Stalls outside the window change nothing.
  assert.equal(verdictOf([], { stalls: [{ from: T - 200_000, to: T - 195_000, seconds: 5 }] }).verdict, 'exonerated');
});
