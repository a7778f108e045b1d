/**
 * The alerting and dashboard artefacts, checked with real tools: promtool (check rules, test
 * rules, check config, check metrics on a real scrape of the running probe), and every Grafana
 * query run through a real Prometheus that scrapes a real probe.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEchoServer } from '../../src/echo/server.js';
import { Probe } from '../../src/probe.js';
import { ProbeMetrics } from '../../src/metrics/registry.js';
import { familiesOf } from '../helpers/exposition.js';
import { httpLegOptions, idleLegOptions, wsLegOptions } from '../helpers/legs.js';
import { PROMETHEUS_BIN, startPrometheus } from '../helpers/prometheus.js';
import { requireBinary } from '../helpers/system.js';
import { startForgetfulTcpServer } from '../helpers/tcp-servers.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const PROMTOOL = '/usr/bin/promtool';
const DEPLOY = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const DASHBOARD = new URL('../../grafana/t3-probe-dashboard.json', import.meta.url);

async function promtool(t: TestContext, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(PROMTOOL, args, { cwd: DEPLOY, encoding: 'utf8' }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  });
  t.diagnostic(`promtool ${args.join(' ')}: ${(stdout + stderr).trim().split('\n').at(-1) ?? ''}`);
  return stdout + stderr;
}

async function runningProbe(t: TestContext) {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tcpListen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  // A path that forgets connections silent for 200 ms: real idle expiries for the idle panels.
  // (Killing the echo no longer makes one: the idle leg's control drops too, so it is inconclusive.)
  const forgetful = await startForgetfulTcpServer(200, 'swallow');
  t.after(() => forgetful.close());
  const probe = new Probe({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 16,
    legs: [
      wsLegOptions({ name: 'cloudflare', url: echo.url }),
      wsLegOptions({ name: 'internal', role: 'internal', url: echo.url }),
      httpLegOptions({ name: 't3serve', url: `http://127.0.0.1:${echo.httpAddress.port}/probe/healthz` }),
      idleLegOptions({ name: 'swarm-vip', url: `tcp://127.0.0.1:${echo.tcpAddress?.port}`, idleMs: 200 }),
      idleLegOptions({ name: 'swarm-vip-forgetful', url: forgetful.url, idleMs: 400, deadlineMs: 300, controlIntervalMs: 100 }),
    ],
  });
  t.after(() => probe.close());
  await probe.start();
  await waitFor('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  return { probe, echo };
}

test('promtool: the rules are valid and their unit tests pass; the plain scrape config is valid', async (t) => {
  if (!requireBinary(t, PROMTOOL, 'prometheus')) return;
  assert.match(await promtool(t, 'check', 'rules', 't3-probe.rules.yml'), /SUCCESS: 3 rules found/);
  assert.match(await promtool(t, 'test', 'rules', 't3-probe.rules.test.yml'), /SUCCESS/);
  assert.match(await promtool(t, 'check', 'config', 'prometheus.yml'), /is valid prometheus config file syntax/);
});

test('promtool: the rule unit tests can fail (a broken threshold is caught)', async (t) => {
  if (!requireBinary(t, PROMTOOL, 'prometheus')) return;
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/t3-rules-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rules = (await readFile(`${DEPLOY}t3-probe.rules.yml`, 'utf8')).replace(') >= 3', ') >= 50');
  await writeFile(`${dir}/t3-probe.rules.yml`, rules);
  await writeFile(`${dir}/t3-probe.rules.test.yml`, await readFile(`${DEPLOY}t3-probe.rules.test.yml`, 'utf8'));
  await assert.rejects(run(PROMTOOL, ['test', 'rules', 't3-probe.rules.test.yml'], { cwd: dir }), /FAILED/);
});

test('promtool check metrics passes on a real /metrics scrape of the running probe', async (t) => {
  if (!requireBinary(t, PROMTOOL, 'prometheus')) return;
  const { probe } = await runningProbe(t);
  const body = await (await fetch(`${probe.url ?? ''}/metrics`)).text();
  const child = execFile(PROMTOOL, ['check', 'metrics']);
  let out = '';
  child.stdout?.on('data', (c: string) => (out += c));
  child.stderr?.on('data', (c: string) => (out += c));
  child.stdin?.end(body);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Lint only our metrics: prom-client's process and Node.js metrics are not ours to rename.
  const ours = out.split('\n').filter((line) => line.startsWith('t3probe_'));
  assert.deepEqual(ours, [], `promtool check metrics complained about our metrics:\n${out}`);
  t.diagnostic(`promtool check metrics exit ${code}; ${out.trim().split('\n').length} lines, none about t3probe_*`);
});

test('the Grafana dashboard parses, uses datasource and job variables, and only metric names the probe exports', async () => {
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
    templating: { list: { name: string; type: string }[] };
    panels: { type: string; title: string; datasource?: { uid?: string }; targets?: { expr: string; datasource?: { uid?: string } }[] }[];
  };
  assert.deepEqual(dashboard.templating.list.map((v) => [v.name, v.type]), [
    ['datasource', 'datasource'],
    ['job', 'query'],
  ]);
  const metrics = new ProbeMetrics({ processMetrics: false });
  metrics.forLeg('x', { kind: 'ws', role: 'public' });
  metrics.forIdleLeg('x');
  const exported = new Set<string>();
  for (const [name, type] of await familiesOf(metrics)) {
    exported.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix);
  }
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p, target })));
  assert.ok(queries.length >= 9);
  for (const { panel, target } of queries) {
    assert.equal(target.datasource?.uid, '${datasource}', panel.title);
    assert.match(target.expr, /job=~"\$job"/, `${panel.title}: filters on $job`);
    for (const name of target.expr.match(/\bt3probe_[a-z_]+/g) ?? []) assert.ok(exported.has(name), `${panel.title}: ${name} is not exported`);
  }
  const titles = dashboard.panels.map((p) => p.title);
  for (const needed of ['Leg state', 'Drops per leg and reason', 'RTT p50 and p99 per leg', 'Connection lifetime at drop', 'Idle checks', 'Reading the legs']) {
    assert.ok(titles.includes(needed), needed);
  }
});

test('every dashboard query is valid PromQL and returns data from a real Prometheus scraping the probe', { timeout: 90_000 }, async (t) => {
  if (!requireBinary(t, PROMETHEUS_BIN, 'prometheus')) return;
  const { probe, echo } = await runningProbe(t);
  const prometheus = await startPrometheus({ job: 't3-probe', target: new URL(probe.url ?? '').host });
  t.after(() => prometheus.close());
  await waitFor('a few scrapes and an idle check', async () => (await prometheus.query('t3probe_idle_checks_total{result="survived"} > 0')).length === 1, {
    timeoutMs: 30_000,
    everyMs: 250,
  });
  // A drop, so the drop and lifetime panels have something to show.
  echo.destroy();
  await waitFor('a drop scraped', async () => (await prometheus.query('t3probe_connected{leg="internal"} == 0')).length === 1, { timeoutMs: 15_000, everyMs: 250 });
  await waitFor('an idle expiry scraped', async () => (await prometheus.query('t3probe_idle_expiries_total > 0')).length > 0, { timeoutMs: 15_000, everyMs: 250 });
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets ?? []) {
      const promql = expr.replaceAll('$job', 't3-probe').replaceAll('$__rate_interval', '1m');
      const result = await prometheus.query(promql);
      if (panel.title !== 'Heartbeat results' || result.length > 0) t.diagnostic(`${panel.title}: ${result.length} series`);
      assert.ok(result.length > 0, `${panel.title}: ${promql} returned nothing`);
    }
  }
});
