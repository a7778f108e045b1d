import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEchoServer } from '../src/echo/server.js';
import { RTT_HISTORY_SAMPLES, RttHistory } from '../src/legs/rtt-history.js';
import { Probe } from '../src/probe.js';
import { wsLegOptions } from './helpers/legs.js';
import { waitFor } from './helpers/wait.js';

test('the RTT history keeps the last RTT_HISTORY_SAMPLES samples, oldest first', () => {
  const history = new RttHistory();
  assert.deepEqual(history.toArray(), []);
  for (let i = 0; i < RTT_HISTORY_SAMPLES + 5; i++) history.push(1_000 + i, i / 1000);
  const samples = history.toArray();
  assert.equal(samples.length, RTT_HISTORY_SAMPLES);
  assert.deepEqual(samples[0], [1_005, 0.005]);
  assert.deepEqual(samples.at(-1), [1_000 + RTT_HISTORY_SAMPLES + 4, (RTT_HISTORY_SAMPLES + 4) / 1000]);
});

test('/status carries each leg\'s recent RTT samples, so a page opened now has a filled sparkline', async (t) => {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const probe = new Probe(
    { listen: { host: '127.0.0.1', port: 0 }, metrics: { prefix: 't3probe_', detail: 'default' }, log: { level: 'silent' }, dropHistory: 4, legs: [wsLegOptions({ name: 'a', url: echo.url, intervalMs: 20 })] },
    { processMetrics: false },
  );
  t.after(() => probe.close());
  const before = Date.now();
  await probe.start();
  await waitFor('5 RTT samples', () => (probe.leg('a')?.snapshot().rttHistory.length ?? 0) >= 5);
  const res = await fetch(`${probe.url ?? ''}/status`);
  const status = (await res.json()) as { legs: { name: string; rttHistory: [number, number][] }[] };
  const history = status.legs[0]?.rttHistory ?? [];
  assert.ok(history.length >= 5 && history.length <= RTT_HISTORY_SAMPLES);
  for (const [at, seconds] of history) {
    assert.ok(at >= before && at <= Date.now());
    assert.ok(seconds > 0 && seconds < 1);
  }
  assert.deepEqual([...history].sort((x, y) => x[0] - y[0]), history, 'oldest first');
});

test('the RTT history keeps ms times and µs RTTs exactly across a rebase of its time base', () => {
  const history = new RttHistory();
  const day = 24 * 3600 * 1000;
  const start = Date.UTC(2026, 0, 1);
  history.push(start, 0.000_123);
  history.push(start + 20 * day, 1.5);
  // Past an Int32 of ms from the base: the base moves; the sample 26 days back reads as 2^31 ms back.
  history.push(start + 26 * day, 3_000);
  assert.deepEqual(history.toArray(), [
    [start + 26 * day - 2 ** 31, 0.000_123],
    [start + 20 * day, 1.5],
    [start + 26 * day, (2 ** 31 - 1) / 1e6],
  ]);
});
