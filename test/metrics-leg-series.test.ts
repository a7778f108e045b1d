/**
 * The per-leg store (src/metrics/leg-series.ts) against prom-client as the reference: whatever a
 * leg records, in whatever order, the probe's text carries exactly the samples prom-client renders
 * for the same calls on its own Counter, Gauge and Histogram with the same labels and buckets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  CONNECT_BUCKETS_S,
  CONNECT_PHASES,
  HEARTBEAT_RESULTS,
  LIFETIME_BUCKETS_DEFAULT_S,
  LIFETIME_BUCKETS_S,
  PRECREATED_HEARTBEAT_RESULTS,
  ProbeMetrics,
  RTT_BUCKETS_DEFAULT_S,
  RTT_BUCKETS_S,
  type LegMetrics,
} from '../src/metrics/registry.js';
import { REASONS } from '../src/reasons.js';
import { fuzzRuns } from './fuzz/fuzz-options.js';

type Detail = 'default' | 'full';

/** The per-leg series as prom-client would keep them: the implementation before issue 12. */
function referenceLegs(detail: Detail): { registry: Registry; forLeg(leg: string, kind: string): LegMetrics } {
  const full = detail === 'full';
  const registers = [new Registry()];
  const connected = new Gauge({ name: 't3probe_connected', help: 'h', labelNames: ['leg'], registers });
  const disconnects = new Counter({ name: 't3probe_disconnects_total', help: 'h', labelNames: ['leg', 'reason'], registers });
  const rtt = new Histogram({ name: 't3probe_rtt_seconds', help: 'h', labelNames: ['leg'], buckets: [...(full ? RTT_BUCKETS_S : RTT_BUCKETS_DEFAULT_S)], registers });
  const connect = full ? new Histogram({ name: 't3probe_connect_seconds', help: 'h', labelNames: ['leg', 'phase'], buckets: [...CONNECT_BUCKETS_S], registers }) : undefined;
  const lifetime = new Histogram({
    name: 't3probe_connection_lifetime_seconds',
    help: 'h',
    labelNames: ['leg'],
    buckets: [...(full ? LIFETIME_BUCKETS_S : LIFETIME_BUCKETS_DEFAULT_S)],
    registers,
  });
  const lastDrop = new Gauge({ name: 't3probe_last_drop_timestamp_seconds', help: 'h', labelNames: ['leg'], registers });
  const heartbeats = new Counter({ name: 't3probe_heartbeats_total', help: 'h', labelNames: ['leg', 'result'], registers });
  const info = new Gauge({ name: 't3probe_leg_info', help: 'h', labelNames: ['leg', 'kind', 'role'], registers });
  return {
    registry: registers[0] as Registry,
    forLeg(leg, kind) {
      info.set({ leg, kind, role: 'public' }, 1);
      for (const reason of REASONS) disconnects.inc({ leg, reason }, 0);
      for (const result of full ? HEARTBEAT_RESULTS : PRECREATED_HEARTBEAT_RESULTS) heartbeats.inc({ leg, result }, 0);
      lastDrop.set({ leg }, 0);
      connected.set({ leg }, 0);
      lifetime.zero({ leg });
      const hasRtt = full || kind !== 'idle';
      if (hasRtt) rtt.zero({ leg });
      if (connect !== undefined) for (const phase of CONNECT_PHASES) connect.zero({ leg, phase });
      return {
        setConnected: (up) => connected.set({ leg }, up ? 1 : 0),
        observeRtt: (seconds) => (hasRtt ? rtt.observe({ leg }, seconds) : undefined),
        countHeartbeat: (result) => heartbeats.inc({ leg, result }),
        observeConnectPhase: (phase, seconds) => connect?.observe({ leg, phase }, seconds),
        recordDrop: (reason, lifetimeSeconds, atEpochMs) => {
          disconnects.inc({ leg, reason });
          lastDrop.set({ leg }, atEpochMs / 1000);
          if (lifetimeSeconds !== undefined) lifetime.observe({ leg }, lifetimeSeconds);
        },
      };
    },
  };
}

const seconds = fc.oneof(
  fc.constantFrom(0, 0.0005, 0.001, 0.025, 1, 30, 265, 905, 86_400, 100_000),
  fc.double({ min: 0, max: 200_000, noNaN: true, noDefaultInfinity: true }),
);
const call = fc.oneof(
  fc.record({ op: fc.constant('setConnected' as const), up: fc.boolean() }),
  fc.record({ op: fc.constant('observeRtt' as const), seconds }),
  fc.record({ op: fc.constant('countHeartbeat' as const), result: fc.constantFrom(...HEARTBEAT_RESULTS) }),
  fc.record({ op: fc.constant('observeConnectPhase' as const), phase: fc.constantFrom(...CONNECT_PHASES), seconds }),
  fc.record({
    op: fc.constant('recordDrop' as const),
    reason: fc.constantFrom(...REASONS),
    lifetime: fc.option(seconds, { nil: undefined }),
    at: fc.integer({ min: 0, max: 2_000_000_000_000 }),
  }),
);
type Call = typeof call extends fc.Arbitrary<infer C> ? C : never;

function apply(leg: LegMetrics, c: Call): void {
  if (c.op === 'setConnected') leg.setConnected(c.up);
  else if (c.op === 'observeRtt') leg.observeRtt(c.seconds);
  else if (c.op === 'countHeartbeat') leg.countHeartbeat(c.result);
  else if (c.op === 'observeConnectPhase') leg.observeConnectPhase(c.phase, c.seconds);
  else leg.recordDrop(c.reason, c.lifetime, c.at);
}

/** Sample lines of the per-leg families, sorted, with label order normalised. */
function legSamples(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#') && /[{,]leg="/.test(line))
    .map((line) => {
      const match = /^([^{]+)\{(.*)\} (\S+)$/.exec(line);
      assert.ok(match, line);
      const labels = (match[2] ?? '').match(/[a-z_]+="(?:[^"\\]|\\.)*"/g) ?? [];
      return `${match[1]}{${labels.sort().join(',')}} ${Number(match[3])}`;
    })
    .sort();
}

for (const detail of ['default', 'full'] as const) {
  test(`metrics.detail ${detail}: every leg's samples are exactly prom-client's for the same calls`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ kind: fc.constantFrom('ws', 'http', 'idle'), calls: fc.array(call, { maxLength: 40 }) }), { minLength: 1, maxLength: 4 }),
        async (legs) => {
          const metrics = new ProbeMetrics({ processMetrics: false, detail });
          const reference = referenceLegs(detail);
          legs.forEach(({ kind, calls }, i) => {
            const name = i === 3 ? 'odd "quoted" \\ leg\nname' : `leg${i}`;
            const ours = metrics.forLeg(name, { kind, role: 'public' });
            const theirs = reference.forLeg(name, kind);
            for (const c of calls) {
              apply(ours, c);
              apply(theirs, c);
            }
          });
          const expected = legSamples(await reference.registry.metrics()).filter((l) => detail === 'full' || !/^t3probe_heartbeats_total\{.*\} 0$/.test(l) || /result="(ok|timeout)"/.test(l));
          assert.deepEqual(legSamples(await metrics.render()), expected);
        },
      ),
      fuzzRuns(200),
    );
  });
}

test('a removed leg is gone from the next scrape; binding a name again keeps its values', async () => {
  const metrics = new ProbeMetrics({ processMetrics: false });
  metrics.forLeg('a', { kind: 'ws', role: 'public' }).countHeartbeat('ok');
  metrics.forLeg('b', { kind: 'ws', role: 'public' });
  assert.match(await metrics.render(), /t3probe_heartbeats_total\{leg="a",result="ok"\} 1/);
  metrics.forLeg('a', { kind: 'ws', role: 'internal' }).countHeartbeat('ok');
  assert.match(await metrics.render(), /t3probe_heartbeats_total\{leg="a",result="ok"\} 2/);
  assert.match(await metrics.render(), /t3probe_leg_info\{leg="a",kind="ws",role="internal"\} 1/);
  await metrics.removeLeg('a');
  const text = await metrics.render();
  assert.doesNotMatch(text, /leg="a"/);
  assert.match(text, /leg="b"/);
});
