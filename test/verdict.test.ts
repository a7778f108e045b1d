import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LegRole } from '../src/attribution/roles.js';
import { attribute, type AttributionDrop, type AttributionInput, type VerdictKind } from '../src/attribution/verdict.js';
import type { Reason } from '../src/legs/reasons.js';

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

function verdictOf(drops: AttributionDrop[], extra: Partial<AttributionInput> = {}) {
  return attribute({ at: T, windowMs: 120_000, burstMs: 3_000, legs: LEGS, drops, ...extra });
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
  const v = verdictOf([], { dataSince: T + 60_000 });
  assert.equal(v.verdict, 'no_data');
  assert.equal(verdictOf([], { dataSince: T - 1 }).verdict, 'exonerated');
});
