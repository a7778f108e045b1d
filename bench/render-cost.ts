/**
 * What writing /metrics costs alone: N legs bound to a registry (no sockets), each with 50 RTTs,
 * 50 heartbeats and a drop, rendered M times; prints the process CPU of each render.
 *
 *   npx tsc -p tsconfig.bench.json && node .bench-build/bench/render-cost.js [--legs 10000] [--renders 12]
 */
import { parseArgs } from 'node:util';
import { ProbeMetrics } from '../src/metrics/registry.js';

const { values } = parseArgs({ options: { legs: { type: 'string', default: '10000' }, renders: { type: 'string', default: '12' } } });
const metrics = new ProbeMetrics({ processMetrics: false });
for (let i = 0; i < Number(values.legs); i++) {
  const leg = metrics.forLeg(`leg${i}`, { kind: 'ws', role: 'internal' });
  leg.setConnected(true);
  for (let k = 0; k < 50; k++) {
    leg.observeRtt(0.001 + Math.random() * 0.01);
    leg.countHeartbeat('ok');
  }
  leg.recordDrop('timeout', 300, Date.now());
}
const cpu: number[] = [];
let bytes = 0;
for (let r = 0; r < Number(values.renders); r++) {
  const c0 = process.cpuUsage();
  bytes = 0;
  for await (const chunk of metrics.exposition('openmetrics')) {
    bytes += chunk.length;
    // As the server does once the socket has taken the bytes: the next render writes into it.
    if (typeof chunk !== 'string') metrics.recycle(chunk);
  }
  const used = process.cpuUsage(c0);
  cpu.push((used.user + used.system) / 1000);
}
const sorted = cpu.slice(1).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
console.log(`${values.legs} legs, ${(bytes / 1_048_576).toFixed(1)} MiB per render; CPU per render, ms: ${cpu.map((c) => c.toFixed(0)).join(' ')}; median after the first ${median.toFixed(1)} ms`);
