/**
 * What a probe's series cost the Prometheus that scrapes it (issue 12 §2): a real Prometheus
 * (Debian's /usr/bin/prometheus) scrapes a probe's /metrics with N synthetic ws legs, and the run
 * prints Prometheus' head series and its memory (RSS, Go heap in use) before and after, per
 * metrics.detail. The legs are bound in the registry only (no sockets): the series are what a real
 * leg exports after it has connected, measured RTT and dropped once.
 *
 *   npx tsc -p tsconfig.bench.json && node .bench-build/bench/scrape-prometheus-memory.js [--legs 1000,10000] [--details default,full] [--scrapes 6]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/log.js';
import { ProbeMetrics } from '../src/metrics/registry.js';
import { startProbeServer } from '../src/server/probe-server.js';

const { values } = parseArgs({
  options: {
    legs: { type: 'string', default: '1000,10000' },
    details: { type: 'string', default: 'default,full' },
    scrapes: { type: 'string', default: '6' },
  },
});
const SCRAPE_INTERVAL_S = 5;

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

async function selfMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function query(url: string, expr: string): Promise<number> {
  const body = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { data?: { result: { value: [number, string] }[] } };
  return Number(body.data?.result[0]?.value[1] ?? NaN);
}

async function measure(legs: number, detail: 'default' | 'full', scrapes: number): Promise<void> {
  const metrics = new ProbeMetrics({ detail });
  for (let i = 0; i < legs; i++) {
    const leg = metrics.forLeg(`leg${i}`, { kind: 'ws', role: 'internal' });
    leg.setConnected(true);
    leg.observeRtt(0.001 + (i % 100) / 1e4);
    leg.countHeartbeat('ok');
    for (const phase of ['dns', 'tcp', 'upgrade'] as const) leg.observeConnectPhase(phase, 0.002);
    leg.recordDrop('timeout', 271, Date.now());
  }
  const probe = await startProbeServer(
    { ready: true, status: () => ({}), metrics, log: silentLogger, statusWindow: { windowMs: 120_000, burstMs: 3_000 } },
    { host: '127.0.0.1', port: 0 },
  );
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-prom-mem-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL_S}s`,
    `  scrape_timeout: ${SCRAPE_INTERVAL_S}s`,
    'scrape_configs:',
    '  - job_name: t3-probe',
    '    sample_limit: 0',
    '    static_configs:',
    `      - targets: ["${new URL(probe.url).host}"]`,
  ].join('\n');
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  const child = spawn('/usr/bin/prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/-/ready`)).ok) break;
      } catch {
        if (i > 200) throw new Error('prometheus did not start');
      }
      await delay(100);
    }
    // Before: Prometheus up, the probe not scraped yet (the first scrape waits up to an interval).
    const rss0 = await selfMetric(url, 'process_resident_memory_bytes');
    const heap0 = await selfMetric(url, 'go_memstats_heap_inuse_bytes');
    const head0 = await selfMetric(url, 'prometheus_tsdb_head_series');
    await delay(scrapes * SCRAPE_INTERVAL_S * 1000);
    const rss1 = await selfMetric(url, 'process_resident_memory_bytes');
    const heap1 = await selfMetric(url, 'go_memstats_heap_inuse_bytes');
    const head1 = await selfMetric(url, 'prometheus_tsdb_head_series');
    const samples = await query(url, 'scrape_samples_scraped{job="t3-probe"}');
    const scrapeS = await query(url, 'scrape_duration_seconds{job="t3-probe"}');
    const series = head1 - head0;
    const KiB = 1024;
    console.log(
      `${legs} legs, detail ${detail}: ${samples} samples per scrape (${(samples / legs).toFixed(1)} per leg with the probe's own), head series +${series}, ` +
        `Prometheus RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB (${((rss1 - rss0) / series / KiB).toFixed(2)} KiB/series), ` +
        `Go heap in use ${(heap0 / 2 ** 20).toFixed(0)} -> ${(heap1 / 2 ** 20).toFixed(0)} MiB (${((heap1 - heap0) / series / KiB).toFixed(2)} KiB/series), scrape ${scrapeS.toFixed(3)} s`,
    );
  } finally {
    child.kill();
    await once(child, 'exit');
    await probe.close();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`# Prometheus memory per probe series; scrape every ${SCRAPE_INTERVAL_S} s, ${values.scrapes} scrapes; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const legs of values.legs.split(',').map(Number)) {
  for (const detail of values.details.split(',') as ('default' | 'full')[]) await measure(legs, detail, Number(values.scrapes));
}
