/**
 * A scrape never holds the event loop for the whole render (issue 12 §1): while /metrics of a
 * probe with thousands of legs is scraped over HTTP, a 10 ms timer (a heartbeat is a timer) keeps
 * running close to its schedule. The old renderer wrote every series in one synchronous run.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { ProbeMetrics } from '../../src/metrics/registry.js';
import { startProbeServer } from '../../src/server/probe-server.js';

const LEGS = 3_000;
/** The longest a timer may come late during a scrape; the old render held it for about a second here. */
const MAX_TIMER_LATENESS_MS = 150;

function scrape(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test(`scraping ${LEGS} full-detail legs never holds a timer more than ${MAX_TIMER_LATENESS_MS} ms`, async (t) => {
  const metrics = new ProbeMetrics({ processMetrics: false, detail: 'full' });
  for (let i = 0; i < LEGS; i++) {
    const leg = metrics.forLeg(`leg${i}`, { kind: 'ws', role: 'internal' });
    leg.setConnected(true);
    leg.observeRtt(0.001 + i / 1e6);
    leg.countHeartbeat('ok');
    for (const phase of ['dns', 'tcp', 'tls', 'upgrade'] as const) leg.observeConnectPhase(phase, 0.002);
  }
  const server = await startProbeServer(
    { ready: true, status: () => ({}), metrics, log: silentLogger, statusWindow: { windowMs: 120_000, burstMs: 3_000 } },
    { host: '127.0.0.1', port: 0 },
  );
  t.after(() => server.close());

  let worst = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  t.after(() => clearInterval(ticker));
  let bytes = 0;
  for (let i = 0; i < 3; i++) bytes = await scrape(`${server.url}/metrics`);
  clearInterval(ticker);
  t.diagnostic(`${(bytes / 1_048_576).toFixed(1)} MiB per scrape; worst timer lateness ${worst.toFixed(0)} ms`);
  assert.ok(bytes > LEGS * 100 * 40, `the body holds every series (${bytes} bytes)`);
  assert.ok(worst < MAX_TIMER_LATENESS_MS, `a timer came ${worst.toFixed(0)} ms late during a scrape`);
});
