/**
 * Series per leg (issue 12 §2): a default leg stays within MAX_DEFAULT_SERIES_PER_LEG, counted on
 * a real /metrics render of a probe with one leg of each kind that has been up, measured RTT and
 * run an idle check; `metrics.detail: full` brings every series back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import type { MetricsDetail } from '../src/config/defaults.js';
import type { ProbeConfig } from '../src/config/types.js';
import { startEchoServer } from '../src/echo/server.js';
import { isProbeError } from '../src/errors.js';
import { LIFETIME_BUCKETS_DEFAULT_S, MAX_DEFAULT_SERIES_PER_LEG, ProbeMetrics, type LegMetrics } from '../src/metrics/registry.js';
import { Probe } from '../src/probe.js';
import { REASONS } from '../src/reasons.js';
import { httpLegOptions, idleLegOptions, wsLegOptions } from './helpers/legs.js';
import { waitFor } from './helpers/wait.js';

const execFileAsync = promisify(execFile);

const LEGS = ['ws0', 'http0', 'idle0'] as const;

async function oneLegOfEachKind(t: TestContext, detail: MetricsDetail): Promise<{ probe: Probe; base: string }> {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const ws = `ws://127.0.0.1:${echo.httpAddress.port}/probe/ws`;
  const config: ProbeConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail },
    log: { level: 'silent' },
    dropHistory: 8,
    legs: [
      wsLegOptions({ name: 'ws0', url: ws }),
      httpLegOptions({ name: 'http0', url: `http://127.0.0.1:${echo.httpAddress.port}/probe/healthz` }),
      idleLegOptions({ name: 'idle0', url: ws, idleMs: 200 }),
    ],
  };
  const probe = new Probe(config, { processMetrics: false });
  t.after(() => probe.close());
  await probe.start();
  return { probe, base: probe.url ?? '' };
}

/** Sample lines (not comments) per leg label, from the text a scraper gets. */
function seriesPerLeg(body: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const leg = /[{,]leg="([^"]*)"/.exec(line)?.[1];
    if (leg !== undefined) counts.set(leg, (counts.get(leg) ?? 0) + 1);
  }
  return counts;
}

async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

async function warmed(t: TestContext, detail: MetricsDetail): Promise<string> {
  const { probe, base } = await oneLegOfEachKind(t, detail);
  await waitFor('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  await waitFor('RTT on every leg', () => probe.legs.every((l) => l.snapshot().lastRttSeconds !== null));
  await waitFor('an idle check survived', async () => /^t3probe_idle_checks_total\{leg="idle0",result="survived"\} [1-9]/m.test(await scrape(base)));
  return scrape(base);
}

test(`a default leg of each kind exports at most ${MAX_DEFAULT_SERIES_PER_LEG} series on a real scrape`, async (t) => {
  const counts = seriesPerLeg(await warmed(t, 'default'));
  t.diagnostic(`default: ${LEGS.map((leg) => `${leg} ${counts.get(leg) ?? 0}`).join(', ')} series`);
  for (const leg of LEGS) {
    const n = counts.get(leg) ?? 0;
    assert.ok(n > 0, `${leg} exports series`);
    assert.ok(n <= MAX_DEFAULT_SERIES_PER_LEG, `${leg} exports ${n} series, more than ${MAX_DEFAULT_SERIES_PER_LEG}`);
  }
});

test('metrics.detail: full restores per-leg connect phases, the fine buckets and every heartbeat result', async (t) => {
  const body = await warmed(t, 'full');
  assert.match(body, /^t3probe_connect_seconds_count\{leg="ws0",phase="tcp"\} [1-9]/m);
  assert.match(body, /^t3probe_heartbeats_total\{leg="ws0",result="garbled"\} 0$/m);
  assert.match(body, /^t3probe_connection_lifetime_seconds_bucket\{le="86400",leg="ws0"\} 0$/m);
  assert.match(body, /^t3probe_rtt_seconds_bucket\{le="0\.05",leg="ws0"\} \d+$/m);
  assert.match(body, /^t3probe_idle_survived_seconds_count\{leg="idle0"\} [1-9]/m);
  const counts = seriesPerLeg(body);
  t.diagnostic(`full: ${LEGS.map((leg) => `${leg} ${counts.get(leg) ?? 0}`).join(', ')} series`);
  // 109 with all four connect phases; this plain ws leg on an IP address has no dns or tls phase.
  assert.ok((counts.get('ws0') ?? 0) > 80, `full keeps every series of a ws leg (${counts.get('ws0')})`);
});

test('the default keeps every series increase() needs at 0 before any leg is up', async (t) => {
  const { base } = await oneLegOfEachKind(t, 'default');
  const body = await scrape(base);
  for (const leg of LEGS) {
    for (const reason of REASONS) assert.match(body, new RegExp(`^t3probe_disconnects_total\\{leg="${leg}",reason="${reason}"\\} 0$`, 'm'), `${leg}/${reason}`);
    for (const result of ['ok', 'timeout']) assert.match(body, new RegExp(`^t3probe_heartbeats_total\\{leg="${leg}",result="${result}"\\} \\d+$`, 'm'));
    // The buckets that fingerprint 270/350/400/900 s idle timeouts, zero-filled so the first expiry shows.
    for (const le of LIFETIME_BUCKETS_DEFAULT_S) assert.match(body, new RegExp(`^t3probe_connection_lifetime_seconds_bucket\\{le="${le}",leg="${leg}"\\} 0$`, 'm'));
  }
  // Connect phases are one histogram over all legs at the default detail: no leg label.
  assert.doesNotMatch(body, /^t3probe_connect_seconds_bucket\{[^}]*leg=/m);
});

test('metrics.detail is read from the file and T3PROBE_METRICS_DETAIL, and a bad value names the key', () => {
  const leg = 'legs:\n  - { name: a, kind: ws, url: "wss://h.example/" }';
  assert.equal(parseConfig(leg, { env: {} }).metrics.detail, 'default');
  assert.equal(parseConfig(`metrics: { detail: full }\n${leg}`, { env: {} }).metrics.detail, 'full');
  assert.equal(parseConfig(leg, { env: { T3PROBE_METRICS_DETAIL: 'full' } }).metrics.detail, 'full');
  assert.throws(
    () => parseConfig(`metrics: { detail: all }\n${leg}`, { env: {} }),
    (err: unknown) => isProbeError(err) && err.code === 'PROBE_ERR_CONFIG' && /metrics\.detail: must be one of default, full/.test(err.message),
  );
});

test('a scrape\'s decimal values do not outlive it: nothing it writes is promoted to the old generation', async (t) => {
  // String(x) keeps its result in V8's number-to-string cache, so the text of every sum and
  // timestamp survived the scavenges and was promoted: 1.3 MB a scrape at 10,000 legs, which
  // started a full collection at every scrape. Measured in a fresh process (the fixture).
  const fixture = fileURLToPath(new URL('./fixtures/render-promotion.ts', import.meta.url));
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', '--import', 'tsx', fixture], { timeout: 60_000 });
  const grewKiB = JSON.parse(stdout) as number[];
  const median = [...grewKiB].sort((a, b) => a - b)[2] ?? Infinity;
  t.diagnostic(`old space grew by ${grewKiB.map((k) => k.toFixed(0)).join(', ')} KiB in 5 renders of 2,000 legs (6,000 decimal values each)`);
  // With String(): 280-380 KiB a render.
  assert.ok(median < 64, `old space grew by a median ${median.toFixed(0)} KiB a render`);
});

test('a default leg\'s series cost under 1.5 KiB (heap and array buffers): one array of numbers, not an object per series', (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const legs = 2_000;
  gc();
  const used = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = used();
  const metrics = new ProbeMetrics({ processMetrics: false });
  const bound: LegMetrics[] = [];
  for (let i = 0; i < legs; i++) {
    const leg = metrics.forLeg(`leg${i}`, { kind: 'ws', role: 'internal' });
    leg.setConnected(true);
    leg.observeRtt(0.001);
    leg.countHeartbeat('ok');
    leg.recordDrop('timeout', 271, 0);
    bound.push(leg);
  }
  gc();
  const perLegKiB = (used() - before) / legs / 1024;
  t.diagnostic(`${perLegKiB.toFixed(2)} KiB per leg`);
  assert.equal(bound.length, legs);
  // prom-client kept the same series in 4.1 KiB of heap per leg (14.3 KiB with dense bucket arrays).
  assert.ok(perLegKiB < 1.5, `${perLegKiB.toFixed(2)} KiB per leg`);
});
