/**
 * The peer benchmarks (bench/echo-scale.ts, detection-latency.ts, tls-cost.ts, footprint.ts) run
 * with tiny parameters and print their figure lines, so they cannot rot between the quiet-window
 * runs recorded in BENCHMARKS.md. Only that they run and print is asserted, never a figure:
 * absolute times on a shared 2-core machine prove nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { requireLab } from '../lab/netns.js';
import { requireBinary } from '../helpers/system.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';

async function bench(t: TestContext, script: string, args: readonly string[]): Promise<string> {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, ['--import', 'tsx', `bench/${script}`, ...args], { cwd: ROOT });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `${script} exited ${code}:\n${stdout}\n${stderr}`);
  assert.match(stdout, /^# node v\d+.*load average/m, 'the machine and load line');
  assert.match(stdout, /^# load average .* at end$/m, 'the closing load line');
  return stdout;
}

test('bench/echo-scale.ts prints the echo CPU, RSS and added p99 against the baseline', { timeout: 60_000 }, async (t) => {
  const out = await bench(t, 'echo-scale.ts', ['--connections', '40', '--baseline', '4', '--seconds', '1', '--warmup', '0']);
  assert.match(out, /^baseline: 4\/4 open .*echo CPU [\d.]+% of one core, RSS \d+ MiB.*p99 [\d.]+ ms/m);
  assert.match(out, /^at scale: 40\/40 open .*observer RTT p50 [\d.]+ ms p99 [\d.]+ ms \([1-9]\d* echoes\)/m);
  assert.match(out, /^added p99 -?[\d.]+ ms at the observer, -?[\d.]+ ms at the load clients \(goal < 5 ms\); echo CPU [\d.]+% of one core/m);
});

test('bench/tls-cost.ts prints CPU per successful probe for wss legs and blackbox_exporter https, and the ratio', { timeout: 60_000 }, async (t) => {
  if (!requireBinary(t, BLACKBOX, 'prometheus-blackbox-exporter')) return;
  const out = await bench(t, 'tls-cost.ts', ['--legs', '2', '--interval', '50ms', '--seconds', '1', '--warmup', '0', '--probes', '20']);
  assert.match(out, /^t3-probe wss legs: \d+ µs probe CPU per successful heartbeat \([1-9]\d* heartbeats\)/m);
  assert.match(out, /^blackbox_exporter \S+ https: \d+ µs exporter CPU per successful probe \(20 probes, 0 failed\)/m);
  assert.match(out, /^ratio blackbox_exporter \/ t3-probe CPU per successful probe: [\d.]+x$/m);
});

test('bench/footprint.ts prints start-to-ready, CPU and RSS for the 4-leg probe and blackbox_exporter', { timeout: 60_000 }, async (t) => {
  if (!requireBinary(t, BLACKBOX, 'prometheus-blackbox-exporter')) return;
  const out = await bench(t, 'footprint.ts', ['--seconds', '1']);
  for (const who of ['t3-probe, 4 legs', 'blackbox_exporter, idle \\(never scraped\\)', 'blackbox_exporter, 3 probes a second']) {
    assert.match(out, new RegExp(`^${who}: start-to-ready \\d+ ms, CPU [\\d.]+ millicores over 1 s, RSS [\\d.]+ MiB`, 'm'));
  }
  assert.match(out, /^goldpinger .*cpu 1m, memory 40Mi/m);
});

test('bench/detection-latency.ts prints detection times for every fault and what blackbox_exporter saw', { timeout: 90_000 }, async (t) => {
  if (!requireLab(t)) return;
  if (!requireBinary(t, BLACKBOX, 'prometheus-blackbox-exporter')) return;
  const out = await bench(t, 'detection-latency.ts', ['--trials', '1', '--interval', '200', '--deadline', '400', '--hold', '1200']);
  for (const fault of ['blackhole', 'reset', 'reject', 'conntrack-flush']) {
    assert.match(out, new RegExp(`^${fault}: t3-probe detected \\d/1 .*ms: `, 'm'));
    assert.match(out, new RegExp(`^${fault}: blackbox_exporter saw it in \\d/1 trials`, 'm'));
  }
});

test('bench/ws-legs.ts (npm run bench) prints the scrape, lateness, memory and bare-client figures', { timeout: 90_000 }, async (t) => {
  const out = await bench(t, 'ws-legs.ts', ['--legs', '20', '--quiet-seconds', '1', '--seconds', '2', '--scrape-every', '1', '--echo-processes', '2', '--skip-blackbox']);
  assert.match(out, /^without scrapes: .*heartbeats left late by p99 [\d.]+ ms/m);
  assert.match(out, /^t3-probe ws legs: .*µs client CPU per heartbeat .* RSS [-\d.]+ KiB\/leg, heap [-\d.]+ KiB\/leg/m);
  assert.match(out, /^scrapes: +\d+ of [\d.]+ MiB/m);
  assert.match(out, /^series per leg: +40 /m);
  assert.match(out, /^bare ws client: .*µs client CPU per echo/m);
  assert.match(out, /^ratios t3\/bare: +CPU per heartbeat [\d.]+x/m);
});

