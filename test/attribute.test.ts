/**
 * `t3-probe attribute` against real sources: a running probe's /status, and a real Prometheus
 * scraping that probe as job t3-probe. Faults are real: the far end of a leg is killed.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Verdict } from '../src/attribution/verdict.js';
import type { ProbeConfig } from '../src/config/types.js';
import { startEchoServer, type EchoServer } from '../src/echo/server.js';
import { Probe } from '../src/probe.js';
import { httpLegOptions, wsLegOptions } from './helpers/legs.js';
import { PROMETHEUS_BIN, startPrometheus } from './helpers/prometheus.js';
import { freePort } from './helpers/servers.js';
import { requireBinary } from './helpers/system.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

function attributeCli(t: TestContext, args: string[]): Promise<CliResult> {
  return runCli(t, ['attribute', ...args]);
}

/** Separate far ends per leg, so a fault can hit one segment only. */
async function probeWithFarEnds(t: TestContext) {
  const loopback = { host: '127.0.0.1', port: 0 };
  const edge = await startEchoServer({ listen: loopback });
  const lb = await startEchoServer({ listen: loopback });
  const serve = await startEchoServer({ listen: loopback });
  const ends: Record<string, EchoServer> = { edge, lb, serve };
  t.after(() => Promise.all(Object.values(ends).map((e) => e.close())));
  const config: ProbeConfig = {
    listen: loopback,
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 64,
    legs: [
      wsLegOptions({ name: 'cloudflare', role: 'public', url: edge.url }),
      wsLegOptions({ name: 'internal', role: 'internal', url: lb.url }),
      httpLegOptions({ name: 't3serve', role: 'serve', url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz` }),
    ],
  };
  const probe = new Probe(config);
  t.after(() => probe.close());
  await probe.start();
  await waitFor('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  /** Kill a far end for good (the leg stays down, retries refused). */
  const kill = (name: string): void => ends[name]?.destroy();
  return { probe, kill, base: probe.url ?? '' };
}

test('attribute --probe names the edge when only the public leg drops, with evidence', async (t) => {
  const { probe, kill, base } = await probeWithFarEnds(t);
  await waitFor('RTT samples', () => probe.legs.every((l) => l.snapshot().lastRttSeconds !== null));
  const before = Date.now();
  kill('edge');
  await waitFor('cloudflare down', () => probe.leg('cloudflare')?.state === 'down');
  const run = await attributeCli(t, ['--probe', base, '--at', 'now', '--window', '30s', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const verdict = JSON.parse(run.stdout) as Verdict;
  assert.equal(verdict.verdict, 'cdn_edge_or_wan');
  assert.deepEqual(verdict.droppedLegs, ['cloudflare']);
  assert.deepEqual(verdict.cleanLegs, ['internal', 't3serve']);
  const evidence = verdict.bursts[0]?.drops[0];
  assert.equal(evidence?.leg, 'cloudflare');
  assert.ok(evidence !== undefined && evidence.at >= before && evidence.at <= Date.now());
  assert.ok(evidence.lastRttSeconds !== null && evidence.lastRttSeconds > 0, 'the RTT just before the drop');

  const human = await attributeCli(t, ['--probe', base, '--at', 'now']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /cdn_edge_or_wan: the CDN edge, tunnel or WAN/);
  assert.match(human.stdout, /cloudflare +(closed|reset)/);
  assert.match(human.stdout, /Clean legs: internal, t3serve/);
});

test('attribute --probe: both WebSocket legs dropping together blame Traefik/dispatch; a quiet earlier moment is exonerated', async (t) => {
  const { probe, kill, base } = await probeWithFarEnds(t);
  const quiet = new Date().toISOString();
  // Make the quiet moment clearly older than the fault, with no sleep: wait for heartbeats. Two
  // after `quiet` on every leg are at least one interval (100 ms) later, twice the window below.
  const beats = new Map<string, number>();
  for (const leg of probe.legs) leg.on('heartbeat', () => beats.set(leg.name, (beats.get(leg.name) ?? 0) + 1));
  await waitFor('a few heartbeats', () => probe.legs.every((l) => l.snapshot().lastRttSeconds !== null && (beats.get(l.name) ?? 0) >= 2));
  kill('edge');
  kill('lb');
  await waitFor('both ws legs down', () => probe.leg('cloudflare')?.state === 'down' && probe.leg('internal')?.state === 'down');
  const now = JSON.parse((await attributeCli(t, ['--probe', base, '--at', 'now', '--json'])).stdout) as Verdict;
  assert.equal(now.verdict, 'traefik_dispatch_or_host');
  assert.equal(now.simultaneous, true);
  const earlier = JSON.parse((await attributeCli(t, ['--probe', base, '--at', quiet, '--window', '50ms', '--json'])).stdout) as Verdict;
  assert.equal(earlier.verdict, 'exonerated', earlier.summary);
});

test('attribute exits 2 when the source cannot be read, naming the source and why', async (t) => {
  const port = await freePort();
  const probe = await attributeCli(t, ['--probe', `http://127.0.0.1:${port}`, '--at', 'now']);
  assert.equal(probe.code, 2);
  assert.match(probe.stderr, new RegExp(`cannot read --probe http://127\\.0\\.0\\.1:${port}/status: .*ECONNREFUSED`));
  const prom = await attributeCli(t, ['--prometheus', `http://127.0.0.1:${port}`, '--at', 'now']);
  assert.equal(prom.code, 2);
  assert.match(prom.stderr, /cannot read --prometheus http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
  for (const [args, message] of [
    [['--at', 'now'], /give exactly one source/],
    [['--probe', 'x', '--prometheus', 'y'], /give exactly one source/],
    [['--probe', 'http://h', '--at', 'yesterday'], /--at: must be "now" or an RFC 3339 time/],
    [['--probe', 'ftp://h'], /--probe: must be an http\(s\) URL/],
    [['--probe', 'http://h', '--window', '0s'], /--window: must be a duration/],
  ] as const) {
    const run = await attributeCli(t, [...args]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
});

test('attribute --prometheus rebuilds the drops from a real Prometheus and reaches the same verdict', { timeout: 90_000 }, async (t) => {
  if (!requireBinary(t, PROMETHEUS_BIN, 'prometheus')) return;
  const { probe, kill, base } = await probeWithFarEnds(t);
  const prometheus = await startPrometheus({ job: 't3-probe', target: new URL(base).host });
  t.after(() => prometheus.close());
  await waitFor('Prometheus to scrape every leg twice', async () => (await prometheus.query('count_over_time(t3probe_leg_info{job="t3-probe"}[1m]) >= 2')).length === 3, {
    timeoutMs: 20_000,
    everyMs: 200,
  });
  kill('serve');
  await waitFor('t3serve down', () => probe.leg('t3serve')?.state === 'down');
  const dropAt = probe.leg('t3serve')?.snapshot().lastDrop?.at ?? 0;
  await waitFor('Prometheus to see the drop', async () => (await prometheus.query('t3probe_connected{leg="t3serve"} == 0')).length === 1, {
    timeoutMs: 10_000,
    everyMs: 200,
  });
  const run = await attributeCli(t, ['--prometheus', prometheus.url, '--at', new Date(dropAt).toISOString(), '--window', '20s', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const verdict = JSON.parse(run.stdout) as Verdict;
  assert.equal(verdict.verdict, 'serve_process', verdict.summary);
  const drop = verdict.bursts[0]?.drops[0];
  assert.equal(drop?.leg, 't3serve');
  assert.ok(drop?.reason === 'refused' || drop?.reason === 'reset' || drop?.reason === 'closed', drop?.reason);
  assert.equal(drop.at, dropAt, 'the drop time is exact (from t3probe_last_drop_timestamp_seconds)');
  assert.deepEqual([...verdict.cleanLegs].sort(), ['cloudflare', 'internal']);

  // The window ends now, and Prometheus' first sample bounds what the verdict vouches for.
  const probeStarted = Date.parse(probe.status().startedAt);
  const wide = await attributeJson(t, ['--prometheus', prometheus.url, '--at', 'now', '--window', '10m']);
  assert.equal(wide.verdict, 'serve_process', wide.summary);
  assert.equal(wide.clampedToNow, true);
  assert.equal(wide.partial, true);
  assert.ok(wide.coverage.from !== null && wide.coverage.from >= probeStarted && wide.coverage.from <= dropAt, `coverage from ${wide.coverage.from}`);
  assert.ok(wide.coverage.fraction > 0 && wide.coverage.fraction < 0.2, String(wide.coverage.fraction));

  // Down before the window and still down in it: no drop in [drop + 2 s, drop + 3 s], yet t3serve was down.
  await waitFor('Prometheus to scrape past the window', async () => (await prometheus.query(`timestamp(t3probe_connected{leg="t3serve"}) > ${(dropAt + 3_500) / 1000}`)).length === 1, {
    timeoutMs: 10_000,
    everyMs: 200,
  });
  const later = await attributeJson(t, ['--prometheus', prometheus.url, '--at', new Date(dropAt + 2_500).toISOString(), '--window', '500ms']);
  assert.equal(later.bursts.length, 0);
  assert.equal(later.verdict, 'serve_process', later.summary);
  assert.deepEqual(later.downLegs, ['t3serve']);
  assert.deepEqual([...later.cleanLegs].sort(), ['cloudflare', 'internal']);

  const wrongJob = await attributeCli(t, ['--prometheus', prometheus.url, '--job', 'nope', '--at', 'now']);
  assert.equal(wrongJob.code, 2);
  assert.match(wrongJob.stderr, /has no t3probe_leg_info\{job="nope"\}.*is the probe scraped as job "nope"\?/);
});

// ---- issue 8: verdicts that never contradict their evidence; windows vouch only for observed time ----

async function attributeJson(t: TestContext, args: string[]): Promise<Verdict & { warnings: string[] }> {
  const run = await attributeCli(t, [...args, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Verdict & { warnings: string[] };
}

test('attribute: with two events in the window the summary names the deciding one and calls no dropped leg clean', async (t) => {
  const { probe, kill, base } = await probeWithFarEnds(t);
  kill('edge');
  kill('lb');
  await waitFor('both ws legs down', () => probe.leg('cloudflare')?.state === 'down' && probe.leg('internal')?.state === 'down');
  const firstEventEnd = Math.max(...['cloudflare', 'internal'].map((name) => probe.leg(name)?.snapshot().lastDrop?.at ?? 0));
  // A second, separate event: the gap to it is far above the --burst given below.
  await waitFor('a gap after the first event', () => Date.now() > firstEventEnd + 300, { everyMs: 20 });
  kill('serve');
  await waitFor('t3serve down', () => probe.leg('t3serve')?.state === 'down');

  const verdict = await attributeJson(t, ['--probe', base, '--at', 'now', '--window', '2m', '--burst', '100ms']);
  assert.equal(verdict.verdict, 'serve_process', verdict.summary);
  assert.equal(verdict.bursts.length, 2);
  assert.doesNotMatch(verdict.summary, /stayed up/, 'cloudflare and internal dropped in the window: they did not stay up');
  assert.deepEqual(verdict.cleanLegs, []);
  assert.equal(verdict.otherEvents, 1);
  assert.equal(verdict.decidingBurst, 1);
  assert.match(verdict.summary, /^t3serve \(\w+\) dropped at .*The window holds 1 other event: (cloudflare and internal|internal and cloudflare) at /);

  const human = await attributeCli(t, ['--probe', base, '--at', 'now', '--window', '2m', '--burst', '100ms']);
  assert.match(human.stdout, /event [^\n]*: t3serve -> serve_process {2}\[deciding\]/);
  assert.match(human.stdout, /Clean legs: none/);
});

test('attribute: the window never reaches past now, and a young probe vouches only for the time since it started', async (t) => {
  const { probe, base } = await probeWithFarEnds(t);
  const started = Date.parse(probe.status().startedAt);
  const before = Date.now();
  const verdict = await attributeJson(t, ['--probe', base, '--at', 'now', '--window', '2m']);
  const after = Date.now();
  assert.equal(verdict.verdict, 'exonerated', verdict.summary);
  assert.ok(verdict.window.to >= before && verdict.window.to <= after, `window ends now, not 2 minutes from now (${verdict.window.to})`);
  assert.equal(verdict.window.to - verdict.window.from, 120_000);
  assert.equal(verdict.clampedToNow, true);
  assert.equal(verdict.partial, true);
  assert.equal(verdict.coverage.from, started);
  assert.ok(verdict.coverage.fraction > 0 && verdict.coverage.fraction < 0.5, String(verdict.coverage.fraction));
  assert.ok(verdict.summary.includes(`stayed up between ${new Date(started).toISOString()} and`), verdict.summary);
  assert.ok(!verdict.summary.includes(new Date(verdict.window.from).toISOString()), 'never vouches for time before the probe started');

  const human = await attributeCli(t, ['--probe', base, '--at', 'now', '--window', '2m']);
  assert.match(human.stdout, /\(window ±2m: .* to .*, clamped to now; from probe /);
  assert.match(human.stdout, /Coverage: partial, (\d+%|under 1%) of the window was observed \(data from /);
});

test('attribute: a moment before the probe started is no_data, and a no_data verdict lists no clean legs', async (t) => {
  const { probe, base } = await probeWithFarEnds(t);
  const started = Date.parse(probe.status().startedAt);
  const verdict = await attributeJson(t, ['--probe', base, '--at', new Date(started - 10 * 60_000).toISOString(), '--window', '1m']);
  assert.equal(verdict.verdict, 'no_data', verdict.summary);
  assert.deepEqual(verdict.cleanLegs, []);
  assert.equal(verdict.coverage.fraction, 0);
});

test('attribute --probe: a leg that went down before the window and is still down was down in the window', async (t) => {
  const { probe, kill, base } = await probeWithFarEnds(t);
  kill('serve');
  await waitFor('t3serve down', () => probe.leg('t3serve')?.state === 'down');
  const dropAt = probe.leg('t3serve')?.snapshot().lastDrop?.at ?? 0;
  // The window [drop + 200 ms, drop + 600 ms] holds no drop, but t3serve was down all through it.
  await waitFor('the window to be in the past', () => Date.now() > dropAt + 700, { everyMs: 20 });
  assert.equal(probe.leg('t3serve')?.state, 'down');
  const verdict = await attributeJson(t, ['--probe', base, '--at', new Date(dropAt + 400).toISOString(), '--window', '200ms']);
  assert.equal(verdict.bursts.length, 0);
  assert.equal(verdict.verdict, 'serve_process', verdict.summary);
  assert.deepEqual(verdict.downLegs, ['t3serve']);
  assert.deepEqual(verdict.cleanLegs, ['cloudflare', 'internal']);
  assert.equal(verdict.clampedToNow, false);
});

test('attribute --prometheus pointed at something that is not a Prometheus API says so, with the status and content type', async (t) => {
  const { base } = await probeWithFarEnds(t);
  const run = await attributeCli(t, ['--prometheus', base, '--at', 'now']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--prometheus http:\/\/127\.0\.0\.1:\d+\/ is not a Prometheus API: GET \/api\/v1\/query answered HTTP 404 \(text\/plain\)/);
  assert.doesNotMatch(run.stderr, /Unexpected token|is not valid JSON/);
});
