/**
 * The runbook queries in ../shared/README.md must work verbatim against our metrics, so a real
 * Prometheus scrapes a real probe as job t3-probe and answers them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeConfig } from '../src/config/types.js';
import { startEchoServer } from '../src/echo/server.js';
import { REASONS } from '../src/reasons.js';
import { Probe } from '../src/probe.js';
import { httpLegOptions, wsLegOptions } from './helpers/legs.js';
import { PROMETHEUS_BIN, startPrometheus } from './helpers/prometheus.js';
import { requireBinary } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

test('the three runbook queries answer per leg from a real Prometheus scraping job t3-probe', { timeout: 90_000 }, async (t) => {
  if (!requireBinary(t, PROMETHEUS_BIN, 'prometheus')) return;
  const dispatch = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => dispatch.close());
  const serve = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => serve.close());
  const config: ProbeConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 64,
    legs: [
      wsLegOptions({ name: 'cloudflare', url: dispatch.url }),
      wsLegOptions({ name: 'internal', url: dispatch.url }),
      httpLegOptions({ name: 't3serve', url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz` }),
    ],
  };
  const probe = new Probe(config);
  t.after(() => probe.close());
  await probe.start();
  const target = new URL(probe.url ?? '').host;
  const prometheus = await startPrometheus({ job: 't3-probe', target });
  t.after(() => prometheus.close());

  await waitFor('legs up', () => probe.legs.every((l) => l.state === 'up'));
  await waitFor('two scrapes with every leg connected', async () => {
    const up = await prometheus.query('count_over_time(t3probe_connected{job="t3-probe"}[1m]) >= 2');
    return up.length === 3;
  }, { timeoutMs: 20_000, everyMs: 200 });

  // t3probe_connected: current state per leg.
  const connected = await prometheus.query('t3probe_connected');
  assert.deepEqual(connected.map((s) => [s.metric.leg, s.metric.job, s.value[1]]).sort(), [
    ['cloudflare', 't3-probe', '1'],
    ['internal', 't3-probe', '1'],
    ['t3serve', 't3-probe', '1'],
  ]);

  // Drop both WebSocket legs (the dispatch far end dies), keep t3serve.
  dispatch.destroy();
  await waitFor('ws legs down', () => probe.legs.slice(0, 2).every((l) => l.state === 'down'));
  const reasons = new Map(probe.legs.slice(0, 2).map((l) => [l.name, l.snapshot().lastDrop?.reason]));
  await waitFor('Prometheus to see the drops', async () => {
    const down = await prometheus.query('t3probe_connected == 0');
    return down.length === 2;
  }, { timeoutMs: 10_000, everyMs: 200 });

  // increase(t3probe_disconnects_total[1h]): drops per leg+reason, every pair present from the start.
  const increases = await prometheus.query('increase(t3probe_disconnects_total[1h])');
  assert.equal(increases.length, 3 * REASONS.length, 'every leg × reason series exists');
  for (const s of increases) {
    const dropped = reasons.get(s.metric.leg ?? '') === s.metric.reason;
    assert.equal(Number(s.value[1]) > 0, dropped, `${s.metric.leg}/${s.metric.reason} = ${s.value[1]}`);
  }

  // histogram_quantile(0.99, rate(t3probe_rtt_seconds_bucket{leg="t3serve"}[15m])): loopback RTT resolves.
  const p99 = await prometheus.query('histogram_quantile(0.99, rate(t3probe_rtt_seconds_bucket{leg="t3serve"}[15m]))');
  assert.equal(p99.length, 1);
  const seconds = Number(p99[0]?.value[1]);
  assert.ok(Number.isFinite(seconds) && seconds > 0 && seconds < 0.25, `p99 ${seconds}`);
});
