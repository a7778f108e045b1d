/**
 * Soak: a far end that flaps every connection of many ws legs, 10,000 drop-and-reconnect cycles in
 * CI (SOAK_CYCLES=<n> for a longer run: `npm run soak` does 100,000). Afterwards, exactly:
 * - t3probe_disconnects_total{leg,reason}, scraped from the probe's real /metrics, equals the far
 *   end's ledger of injected faults, leg by leg and reason by reason, zeros included; refused
 *   reconnects of a leg that is already down add nothing;
 * - file descriptors, active handles and timers (unref'd ones too) are back where they started
 *   after close(), and the probe process exits on its own;
 * - heap growth from a warm baseline (after the first quarter of the cycles, at least 2,500) to the
 *   end is under 5%. Warm means the bounded structures are full: the drop ring (256) and RTT
 *   histories fill within the first few hundred drops, but V8 keeps compiling and optimising the
 *   reconnect path (code, deopt data, IC handlers: +0.75 MiB from drop 500 to drop 10,000 in a
 *   heap snapshot diff) until about drop 3,000, and is flat from there to 30,000 (see the Soak
 *   section of BENCHMARKS.md).
 *
 * Every interval, deadline and backoff here is within the config loader's limits: the probe reads
 * them from YAML through the real loader, nothing test-only lowers a bound.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { REASONS, type Reason } from '../../src/reasons.js';
import { httpText } from '../helpers/http-text.js';
import { waitFor } from '../helpers/wait.js';
import { FAULTS, REFUSALS, startFarEnd, type Fault, type Refusal } from './soak-far-end.js';
import type { SoakProbeInput, SoakProbeMessage } from './soak-probe.js';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 10_000);
const LEGS = Number(process.env.SOAK_LEGS ?? 50);
const SEED = Number(process.env.SOAK_SEED ?? 11);
const CYCLES_PER_LEG = Math.ceil(CYCLES / LEGS);
const TOTAL_CYCLES = CYCLES_PER_LEG * LEGS;
/** A generous floor of 50 cycles/s: the CI run takes 20-40 s on 2 shared cores. */
const RUN_TIMEOUT_MS = Math.max(120_000, (TOTAL_CYCLES / 50) * 1000);
const MAX_HEAP_GROWTH = 0.05;

const TIMING = {
  // Heartbeats every 20 ms: a connection answers 0-2 of them before its fault.
  interval: '20ms',
  // Only a blackhole waits for it. Every other fault is injected on a heartbeat younger than half
  // of it (older ones only trigger blackholes, see soak-far-end.ts), leaving 150 ms for the fault
  // to reach the probe.
  deadline: '300ms',
  connectTimeout: '5s',
  backoff: { min: '1ms', max: '10ms', factor: 2 },
} as const;

type Disconnects = Record<string, Record<Reason, number>>;

/** t3probe_disconnects_total{leg,reason} from Prometheus text. */
function disconnectsOf(text: string): Disconnects {
  const out: Disconnects = {};
  for (const line of text.split('\n')) {
    const match = /^t3probe_disconnects_total\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
    const leg = labels.leg as string;
    out[leg] ??= Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<Reason, number>;
    out[leg][labels.reason as Reason] = Number(match[2]);
  }
  return out;
}

function sumOf(records: Iterable<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records) for (const [k, v] of Object.entries(record)) total[k] = (total[k] ?? 0) + v;
  return total;
}

test(`soak: ${TOTAL_CYCLES} drop-and-reconnect cycles over ${LEGS} legs, counted exactly, nothing leaked`, { timeout: RUN_TIMEOUT_MS + 60_000 }, async (t) => {
  const legNames = Array.from({ length: LEGS }, (_, i) => `soak${String(i).padStart(3, '0')}`);
  const far = await startFarEnd({ legs: legNames, cyclesPerLeg: CYCLES_PER_LEG, seed: SEED, staleAfterMs: 150 });
  t.after(() => far.close());

  const input: SoakProbeInput = {
    ...TIMING,
    legs: legNames.map((name) => ({ name, url: far.urlFor(name) })),
    warmDrops: Math.max(2_500, Math.round(TOTAL_CYCLES * 0.25)),
    heapCurveEvery: Math.max(1_000, Math.round(TOTAL_CYCLES / 10)),
  };
  const child = fork(path.join(import.meta.dirname, 'soak-probe.ts'), [JSON.stringify(input)], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const messages: SoakProbeMessage[] = [];
  child.on('message', (message: SoakProbeMessage) => messages.push(message));
  const message = <T extends SoakProbeMessage['type']>(type: T, timeoutMs: number) =>
    waitFor(`the probe's "${type}" message`, () => messages.find((m): m is Extract<SoakProbeMessage, { type: T }> => m.type === type), {
      timeoutMs,
      everyMs: 50,
    });

  // A probe that dies mid-run fails the test at once, not at the end of the run's time-out.
  const died = exited.then(([code, signal]) => {
    throw new Error(`the probe process exited early (${code ?? signal})`);
  });
  died.catch(() => {});
  const { url } = await Promise.race([message('started', 30_000), died]);
  const started = performance.now();
  await Promise.race([
    waitFor(`${TOTAL_CYCLES} injected faults and every leg back up`, () => far.settled(), { timeoutMs: RUN_TIMEOUT_MS, everyMs: 100 }),
    died,
  ]);
  const wallSeconds = (performance.now() - started) / 1000;

  const metrics = await httpText(`${url}/metrics`);
  assert.equal(metrics.status, 200);
  const scraped = disconnectsOf(metrics.body);

  child.send({ type: 'finish' });
  const report = await message('report', 30_000);
  const [code, signal] = await waitFor('the probe process to exit on its own after close()', () => (child.exitCode ?? child.signalCode) !== null && exited, {
    timeoutMs: 10_000,
  });

  // The ledger, leg by leg and reason by reason, zeros included.
  const expected: Disconnects = {};
  for (const leg of legNames) {
    const byReason = far.expectedDisconnects(leg);
    expected[leg] = Object.fromEntries(REASONS.map((r) => [r, byReason.get(r) ?? 0])) as Record<Reason, number>;
  }
  const faults = sumOf(legNames.map((leg) => far.ledger.get(leg)!.faults)) as Record<Fault, number>;
  const refusals = sumOf(legNames.map((leg) => far.ledger.get(leg)!.refusals)) as Record<Refusal, number>;
  const heapGrowth = (report.heapEnd - report.heapWarm) / report.heapWarm;
  const figures = {
    cycles: far.injected,
    legs: LEGS,
    seed: SEED,
    wallSeconds: Number(wallSeconds.toFixed(1)),
    cyclesPerSecond: Math.round(far.injected / wallSeconds),
    faults,
    refusedReconnects: refusals,
    staleToBlackhole: legNames.reduce((n, leg) => n + far.ledger.get(leg)!.staleConversions, 0),
    disconnects: sumOf(Object.values(scraped)),
    fds: { before: report.before.fds, running: report.running.fds, after: report.after.fds },
    active: { before: report.before.active, after: report.after.active },
    live: { before: report.before.live, running: report.running.live, after: report.after.live },
    heapWarmMiB: Number((report.heapWarm / 2 ** 20).toFixed(2)),
    heapEndMiB: Number((report.heapEnd / 2 ** 20).toFixed(2)),
    heapGrowthPercent: Number((heapGrowth * 100).toFixed(2)),
    heapCurveMiB: report.heapCurve.map(([drops, heap]) => `${drops}:${(heap / 2 ** 20).toFixed(2)}`).join(' '),
    closeMs: Math.round(report.closeMs),
  };
  t.diagnostic(`soak figures: ${JSON.stringify(figures)}`);

  assert.equal(far.injected, TOTAL_CYCLES);
  for (const fault of FAULTS) assert.ok(faults[fault] > 0, `the schedule injected no ${fault}`);
  for (const refusal of REFUSALS) assert.ok(refusals[refusal] > 0, `the schedule refused no reconnect with ${refusal}`);
  assert.deepEqual(scraped, expected, 't3probe_disconnects_total differs from the far end ledger');
  assert.equal(report.drops, TOTAL_CYCLES, 'the legs emitted a different number of drop events');

  // The one known exception, counted exactly: perf_hooks event-loop-delay histograms have no
  // close() and live until their owner is collected. prom-client's default metrics enable one that
  // they never disable, and register a gc PerformanceObserver that is never disconnected; that
  // observer keeps the probe's registry reachable, and through its stall gauges the stall monitor
  // with its (disabled) histogram. With processMetrics off, a closed probe leaves none.
  const knownLeftover = { ELDHISTOGRAM: (report.before.live.ELDHISTOGRAM ?? 0) + 2 };
  assert.deepEqual(report.after, { ...report.before, live: { ...report.before.live, ...knownLeftover } }, 'fds, handles or timers left behind after close()');
  // Every timer has an owner: a leg holds a few at a time, never one per past reconnect.
  const runningTimers = report.running.live.Timeout ?? 0;
  assert.ok(runningTimers <= 3 * LEGS + 10, `${runningTimers} live timers for ${LEGS} legs while running`);
  assert.deepEqual([code, signal], [0, null], 'the probe process did not exit cleanly on its own');
  assert.ok(Number.isFinite(report.heapWarm), 'no warm heap baseline was taken');
  assert.ok(heapGrowth < MAX_HEAP_GROWTH, `heap grew ${(heapGrowth * 100).toFixed(2)}% from the warm baseline (limit 5%)`);
});
