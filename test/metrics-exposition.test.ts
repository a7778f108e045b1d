/**
 * The /metrics writer (src/metrics/exposition.ts): the same samples as prom-client's own text,
 * clean under `promtool check metrics`, OpenMetrics when the Accept header prefers it, parsed by a
 * real Prometheus (Debian's 2.42 asks for OpenMetrics first by default).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { CHUNK_BYTES } from '../src/metrics/chunk-pool.js';
import { EXPOSITION_CONTENT_TYPES, LINES_PER_CHUNK, negotiateFormat } from '../src/metrics/exposition.js';
import { ProbeMetrics } from '../src/metrics/registry.js';
import { startEchoServer } from '../src/echo/server.js';
import { silentLogger } from '../src/log.js';
import { Probe } from '../src/probe.js';
import { startProbeServer } from '../src/server/probe-server.js';
import { httpLegOptions, idleLegOptions, wsLegOptions } from './helpers/legs.js';
import { startPrometheus } from './helpers/prometheus.js';
import { waitFor } from './helpers/wait.js';

const PROMTOOL = '/usr/bin/promtool';
/** What Prometheus 2.42 (Debian bookworm) sends on every scrape. */
const PROMETHEUS_2_42_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
/** What Prometheus 2.49+ sends with scrape_protocols: [PrometheusText0.0.4]. */
const TEXT_ONLY_ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1';

/** A registry with a leg of each kind that has seen every kind of event, odd label values included. */
function busyMetrics(detail: 'default' | 'full'): ProbeMetrics {
  const metrics = new ProbeMetrics({ processMetrics: false, detail });
  metrics.recordConfigLoad(true, 1_700_000_000_000);
  metrics.forStalls(() => ({ maxSeconds: 0.012, p99Seconds: 0.004 })).addStall(0.3);
  for (const [leg, kind] of [['ws0', 'ws'], ['http0', 'http'], ['idle0', 'idle'], ['odd "quoted" \\ leg\nname', 'ws']] as const) {
    const bound = metrics.forLeg(leg, { kind, role: 'public' });
    bound.setConnected(true);
    for (const rtt of [0.0003, 0.004, 0.02, 1.5, 45]) bound.observeRtt(rtt);
    for (const result of ['ok', 'ok', 'late', 'garbled', 'timeout'] as const) bound.countHeartbeat(result);
    bound.observeConnectPhase('tcp', 0.002);
    bound.recordDrop('timeout', 271, 1_700_000_100_000);
  }
  const idle = metrics.forIdleLeg('idle0');
  idle.recordSurvived(300);
  idle.recordExpired('silent');
  return metrics;
}

test('Accept negotiation: OpenMetrics 1.0 when the scraper ranks it first, else the text format', () => {
  assert.equal(negotiateFormat(PROMETHEUS_2_42_ACCEPT), 'openmetrics');
  assert.equal(negotiateFormat('application/openmetrics-text; version=1.0.0'), 'openmetrics');
  assert.equal(negotiateFormat(TEXT_ONLY_ACCEPT), 'prometheus');
  assert.equal(negotiateFormat(undefined), 'prometheus');
  assert.equal(negotiateFormat('*/*'), 'prometheus');
  assert.equal(negotiateFormat('application/openmetrics-text;version=0.0.1'), 'prometheus', 'only 1.0.0 is offered');
  assert.equal(negotiateFormat('application/openmetrics-text;q=0.2,text/plain;q=0.9'), 'prometheus');
  assert.equal(negotiateFormat('application/openmetrics-text;q=nonsense'), 'prometheus');
});

test('the text format carries exactly the samples prom-client itself renders for the series it keeps', async () => {
  // The per-leg series are written by leg-series.ts (test/metrics-leg-series.test.ts holds them to
  // prom-client's samples); everything else still comes from prom-client's store.
  for (const detail of ['default', 'full'] as const) {
    const metrics = busyMetrics(detail);
    const legFamilies = metrics.legSeries.families().map((f) => f.name.replace(/_total$/, ''));
    const ofLegSeries = (line: string): boolean => legFamilies.some((name) => line.replace(/^# (HELP|TYPE) /, '').startsWith(name));
    const samples = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !ofLegSeries(l)).sort();
    assert.deepEqual(samples(await metrics.render()), samples(await metrics.registry.metrics()), detail);
  }
});

test('OpenMetrics: counter families without _total, samples with it, no blank lines, # EOF last', async () => {
  const text = await busyMetrics('default').render('openmetrics');
  assert.match(text, /^# TYPE t3probe_disconnects counter$/m);
  assert.match(text, /^t3probe_disconnects_total\{leg="ws0",reason="timeout"\} 1$/m);
  assert.match(text, /^# TYPE t3probe_rtt_seconds histogram$/m);
  assert.match(text, /^t3probe_rtt_seconds_bucket\{le="\+Inf",leg="ws0"\} 5$/m);
  assert.match(text, /leg="odd \\"quoted\\" \\\\ leg\\nname"/);
  assert.doesNotMatch(text, /\n\n/);
  assert.ok(text.endsWith('\n# EOF\n'));
  assert.equal(text.match(/^# EOF$/gm)?.length, 1);
});

async function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stdin.end(text);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

test('promtool check metrics: the probe series lint clean; with process metrics the text still parses', async () => {
  for (const detail of ['default', 'full'] as const) {
    const own = await promtoolCheck(await busyMetrics(detail).render());
    assert.deepEqual([own.code, own.output], [0, ''], detail);
    const withProcess = new ProbeMetrics({ detail });
    withProcess.forLeg('ws0', { kind: 'ws', role: 'public' }).observeRtt(0.001);
    const { code, output } = await promtoolCheck(await withProcess.render());
    // Exit 1 is a parse error; 3 is lint findings, which prom-client's own nodejs_active_*_total
    // gauges always draw (their names are prom-client's, kept for dashboards that use them).
    const findings = output.split('\n').filter((line) => line !== '');
    assert.ok(code === 0 || code === 3, `${detail}: promtool exit ${code}: ${output}`);
    for (const finding of findings) assert.match(finding, /^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/, detail);
  }
});

test('a large body arrives whole, in chunks, and the same through the server', async (t: TestContext) => {
  const metrics = new ProbeMetrics({ processMetrics: false, detail: 'full' });
  for (let i = 0; i < 200; i++) metrics.forLeg(`leg${i}`).observeRtt(0.001 * i);
  const chunks: string[] = [];
  for await (const chunk of metrics.exposition('prometheus')) chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  // The leg series come in chunks of CHUNK_BYTES, the rest in chunks of LINES_PER_CHUNK lines.
  assert.ok(chunks.length > Math.min((200 * 60) / LINES_PER_CHUNK, (200 * 60 * 60) / CHUNK_BYTES), `${chunks.length} chunks`);
  const whole = await metrics.render();
  assert.equal(chunks.join(''), whole);
  const server = await startProbeServer(
    { ready: true, status: () => ({}), metrics, log: silentLogger, statusWindow: { windowMs: 120_000, burstMs: 3_000 } },
    { host: '127.0.0.1', port: 0 },
  );
  t.after(() => server.close());
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.headers.get('content-type'), EXPOSITION_CONTENT_TYPES.prometheus);
  assert.equal(await res.text(), whole);
});

test('scrapes reuse the chunks of the ones before, and every body still arrives whole', async (t: TestContext) => {
  const metrics = new ProbeMetrics({ processMetrics: false, detail: 'full' });
  for (let i = 0; i < 2_000; i++) metrics.forLeg(`leg${i}`).observeRtt(0.001 * i);
  const whole = await metrics.render();
  const server = await startProbeServer(
    { ready: true, status: () => ({}), metrics, log: silentLogger, statusWindow: { windowMs: 120_000, burstMs: 3_000 } },
    { host: '127.0.0.1', port: 0 },
  );
  t.after(() => server.close());
  const scrape = async (): Promise<string> => (await fetch(`${server.url}/metrics`)).text();
  assert.equal(await scrape(), whole);
  const afterOne = metrics.chunksAllocated;
  assert.ok(afterOne > 0);
  for (let i = 0; i < 4; i++) assert.equal(await scrape(), whole);
  // Without reuse, each scrape would allocate what the first did (some 110 chunks of 64 KiB here).
  assert.ok(metrics.chunksAllocated <= afterOne + 8, `${metrics.chunksAllocated} chunks allocated over 5 scrapes, ${afterOne} by the first`);

  // A scraper that stops reading holds its chunks in the socket's queue: scrapes meanwhile must not
  // write into them. Read a little, stop, let three other scrapes run, then read the rest.
  const held = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${server.url}/metrics`, resolve).on('error', reject));
  held.pause();
  await once(held, 'readable');
  const start = held.read() as Buffer;
  assert.deepEqual(await Promise.all([scrape(), scrape(), scrape()]), [whole, whole, whole]);
  const rest: Buffer[] = [start];
  held.on('data', (chunk: Buffer) => rest.push(chunk));
  held.resume();
  await once(held, 'end');
  assert.equal(Buffer.concat(rest).toString('utf8'), whole);
});

test('a real Prometheus scrapes the probe in OpenMetrics and reads every leg series', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const probe = new Probe({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 8,
    legs: [
      wsLegOptions({ name: 'ws0', url: echo.url }),
      httpLegOptions({ name: 'http0', url: `http://127.0.0.1:${echo.httpAddress.port}/probe/healthz` }),
      idleLegOptions({ name: 'idle0', url: echo.url, idleMs: 200 }),
    ],
  });
  t.after(() => probe.close());
  await probe.start();
  const target = new URL(probe.url ?? '').host;
  const served = await fetch(`${probe.url}/metrics`, { headers: { accept: PROMETHEUS_2_42_ACCEPT } });
  assert.equal(served.headers.get('content-type'), EXPOSITION_CONTENT_TYPES.openmetrics);
  assert.ok((await served.text()).endsWith('# EOF\n'));

  const prometheus = await startPrometheus({ job: 't3-probe', target });
  t.after(() => prometheus.close());
  await waitFor('a successful scrape', async () => (await prometheus.query('up{job="t3-probe"} == 1')).length === 1, { timeoutMs: 20_000 });
  const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as { data: { activeTargets: { lastError: string; health: string }[] } };
  assert.deepEqual(targets.data.activeTargets.map((a) => [a.health, a.lastError]), [['up', '']]);
  for (const leg of ['ws0', 'http0', 'idle0']) {
    assert.equal((await prometheus.query(`t3probe_disconnects_total{leg="${leg}"}`)).length, 10, leg);
    assert.equal((await prometheus.query(`t3probe_connection_lifetime_seconds_bucket{leg="${leg}"}`)).length, 10, leg);
  }
  assert.equal((await prometheus.query('process_cpu_seconds_total{job="t3-probe"}')).length, 1);
  // Every sample line the probe serves is one sample Prometheus took in.
  const lines = (await probe.metrics.render()).split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const [scraped] = await prometheus.query('scrape_samples_scraped{job="t3-probe"}');
  assert.ok(Math.abs(Number(scraped?.value[1]) - lines) <= 8, `Prometheus took ${scraped?.value[1]} samples, the probe serves about ${lines}`);
});
