/**
 * The process metrics (src/metrics/process-metrics.ts): prom-client's, less the collectors that
 * block the event loop in proportion to the legs; process_open_fds still there, read off the loop.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { DROPPED_DEFAULT_METRICS } from '../src/metrics/process-metrics.js';
import { ProbeMetrics } from '../src/metrics/registry.js';
import { familiesOf, parseSamples } from './helpers/exposition.js';

test('process metrics: the standard ones, process_open_fds counted asynchronously, no per-handle counts', async () => {
  const metrics = new ProbeMetrics();
  const families = await familiesOf(metrics);
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_open_fds']) {
    assert.ok(families.has(name), name);
  }
  for (const name of DROPPED_DEFAULT_METRICS.filter((n) => n !== 'process_open_fds')) assert.ok(!families.has(name), `${name} is not exported`);
  const fds = parseSamples(await metrics.render()).find((s) => s.name === 'process_open_fds')?.value ?? 0;
  const now = readdirSync('/proc/self/fd').length;
  assert.ok(fds > 3 && Math.abs(fds - now) <= 4, `process_open_fds ${fds}, /proc/self/fd has ${now}`);
});
