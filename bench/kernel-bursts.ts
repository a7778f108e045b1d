// Host kernel work that holds up every process, for bench/ws-legs.ts, in its own process so the
// probe's event loop does not have to be free to notice it. On the project's test machine the VM
// runs DAMON (a `kdamond` kernel thread: physical-address monitoring with a `pageout` scheme,
// sampling every 0.5 s), which burns 40-80 ms of CPU about every 0.58 s; each burst lines up with
// a 30-50 ms stall of the heartbeat slots and the catch-up after it. This samples the CPU time of
// every kernel thread named kdamond* every 2 ms and reports each burst (wall-clock ms since the
// epoch, and its CPU) to the parent as it ends, until told to stop. Linux only; with no such
// thread it reports nothing.
import { readFileSync, readdirSync } from 'node:fs';
import { runNanoseconds } from './proc-stats.js';

const SAMPLE_MS = 2;
/** CPU run in one sample interval that counts as the thread being busy. */
const BUSY_NS = 500_000;
/** Busy samples closer than this belong to one burst. */
const MERGE_MS = 20;

function kdamondPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'latin1').startsWith('kdamond')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A thread that is gone has run no more. */
function runNs(pid: number): number {
  const ns = runNanoseconds(pid);
  return Number.isNaN(ns) ? 0 : ns;
}

const pids = kdamondPids();
process.send?.({ threads: pids.length });
const epochMs = (): number => performance.timeOrigin + performance.now();
let last = pids.map(runNs);
let lastAt = epochMs();
let burst: { startMs: number; endMs: number; cpuMs: number } | undefined;
const timer = setInterval(() => {
  const now = epochMs();
  const runs = pids.map(runNs);
  const ranNs = runs.reduce((sum, ns, i) => sum + Math.max(0, ns - (last[i] ?? ns)), 0);
  last = runs;
  if (ranNs >= BUSY_NS) {
    if (burst !== undefined && lastAt - burst.endMs <= MERGE_MS) {
      burst.endMs = now;
      burst.cpuMs += ranNs / 1e6;
    } else {
      if (burst !== undefined) process.send?.(burst);
      burst = { startMs: lastAt, endMs: now, cpuMs: ranNs / 1e6 };
    }
  }
  lastAt = now;
}, SAMPLE_MS);

const stop = (): void => {
  clearInterval(timer);
  if (burst !== undefined) process.send?.(burst);
  process.disconnect?.();
};
process.on('message', stop);
process.on('disconnect', () => clearInterval(timer));
