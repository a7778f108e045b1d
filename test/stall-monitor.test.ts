import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbeMetrics } from '../src/metrics/registry.js';
import { StallMonitor } from '../src/metrics/stall-monitor.js';
import { nowNs } from '../src/util/clock.js';
import { waitFor } from './helpers/wait.js';

/** The probe's own event loop does not run: what a GC pause or a CPU-starved process looks like. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // stalled
  }
}

/** Nothing to wait for when asserting that nothing happens: let a few ticks' worth of time pass. */
async function afterTicks(ticks: number, tickMs: number): Promise<void> {
  const until = performance.now() + ticks * tickMs;
  await waitFor(`${ticks} ticks`, () => performance.now() >= until, { timeoutMs: ticks * tickMs + 1_000 });
}

async function sample(metrics: ProbeMetrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric !== undefined, `no metric ${name}`);
  return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
}

test('a 600 ms busy-wait is one stall: counted, kept in the ring, and in the lag gauge', async (t) => {
  const metrics = new ProbeMetrics({ processMetrics: false });
  const monitor = new StallMonitor({ metrics, tickMs: 50, thresholdMs: 250 });
  t.after(() => monitor.close());
  monitor.start();
  assert.equal(await sample(metrics, 't3probe_probe_stall_seconds_total'), 0, 'the counter exists at 0');
  // The lag histogram keeps its first timer turn as a reference: let it sample before stalling.
  await waitFor('the lag histogram to sample', () => monitor.lag().maxSeconds > 0, { timeoutMs: 2_000 });
  const before = nowNs();
  const wall = Date.now();
  busyWait(600);
  // Asked before the monitor's own timer ran again: a stall in progress counts already.
  const ongoing = monitor.stalledMsSince(before);
  assert.ok(ongoing >= 400 && ongoing <= 650, `stall in progress: ${ongoing} ms`);
  await waitFor('the stall to be recorded', () => monitor.recent().length > 0, { timeoutMs: 2_000 });
  const [stall] = monitor.recent();
  assert.ok(stall !== undefined);
  assert.ok(stall.seconds >= 0.45 && stall.seconds <= 0.7, `stall of ${stall.seconds} s`);
  assert.ok(Math.abs(stall.at - wall) < 150, `starts at the busy-wait (${stall.at - wall} ms off)`);
  assert.equal(stall.time, new Date(stall.at).toISOString());
  const counted = await sample(metrics, 't3probe_probe_stall_seconds_total');
  assert.ok(Math.abs(counted - stall.seconds) < 1e-9, `counter ${counted} = the stall`);
  assert.equal(monitor.totalSeconds, counted);
  // Recorded once: the tick that saw it does not add it again to a later question.
  const recorded = monitor.stalledMsSince(before);
  assert.ok(Math.abs(recorded - stall.seconds * 1000) < 1, `${recorded} ms`);
  assert.equal(monitor.stalledMsSince(nowNs()), 0, 'nothing stalled since now');
  await waitFor('the lag histogram to see the busy-wait', async () => (await sample(metrics, 't3probe_event_loop_lag_seconds')) >= 0.5, { timeoutMs: 2_000 });
  assert.ok((await sample(metrics, 't3probe_event_loop_lag_p99_seconds')) > 0);
});

test('timer jitter below the threshold is not a stall; the ring is bounded; close() stops the ticker', async (t) => {
  const monitor = new StallMonitor({ tickMs: 20, thresholdMs: 250, history: 2 });
  t.after(() => monitor.close());
  monitor.start();
  busyWait(100); // late, but under the threshold
  await afterTicks(3, monitor.tickMs);
  assert.equal(monitor.recent().length, 0);
  for (let i = 0; i < 3; i++) {
    const total = monitor.totalSeconds;
    busyWait(300);
    await waitFor(`stall ${i + 1} recorded`, () => monitor.totalSeconds > total, { timeoutMs: 1_000 });
  }
  assert.equal(monitor.recent().length, 2, 'the ring keeps only the newest');
  assert.ok(monitor.totalSeconds >= 3 * 0.25, `the total keeps every stall: ${monitor.totalSeconds}`);
  monitor.close();
  monitor.close();
  const total = monitor.totalSeconds;
  busyWait(300);
  await afterTicks(3, monitor.tickMs);
  assert.equal(monitor.totalSeconds, total, 'a closed monitor records nothing');
  assert.equal(monitor.stalledMsSince(0n) >= 0, true);
});
