/**
 * The probe side of the soak, in a process of its own so that its file descriptors, handles,
 * timers and heap are the probe's alone (the far end lives in the test process). Run with
 * `node --expose-gc --import tsx`, forked with an IPC channel:
 *
 *   parent -> child: argv[2] = SoakProbeInput (JSON); later { type: 'finish' }
 *   child -> parent: started { url }, warm { heapUsed }, report { ... }
 *
 * SOAK_HEAP_SNAPSHOTS=<path prefix> also writes <prefix>-warm.heapsnapshot and
 * <prefix>-end.heapsnapshot (after GC), to diff by constructor when the heap grows.
 *
 * Timers are counted with async_hooks as well as getActiveResourcesInfo(): the latter lists only
 * ref'd timers, and every leg timer is unref'd, so a leaked heartbeat interval would be invisible
 * to it.
 */
import { createHook } from 'node:async_hooks';
import { readdirSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { parseConfig } from '../../src/config/load.js';
import { Probe } from '../../src/probe.js';

export interface SoakProbeInput {
  readonly legs: readonly { readonly name: string; readonly url: string }[];
  readonly interval: string;
  readonly deadline: string;
  readonly connectTimeout: string;
  readonly backoff: { readonly min: string; readonly max: string; readonly factor: number };
  /** Take the warm heap baseline once the probe has counted this many drops. */
  readonly warmDrops: number;
  /** Sample the heap (after GC) every this many drops, for the growth curve. */
  readonly heapCurveEvery: number;
}

/** What is open, counted by kind. */
export interface ResourceCounts {
  /** Entries of /proc/self/fd. */
  readonly fds: number;
  /** process.getActiveResourcesInfo(), by kind: handles, requests and ref'd timers. */
  readonly active: Record<string, number>;
  /** Live async resources by type (Timeout, Immediate, TCPWRAP, ...), unref'd ones included. */
  readonly live: Record<string, number>;
}

export type SoakProbeMessage =
  | { readonly type: 'started'; readonly url: string }
  | { readonly type: 'warm'; readonly heapUsed: number; readonly drops: number }
  | {
      readonly type: 'report';
      readonly drops: number;
      readonly heapWarm: number;
      readonly heapEnd: number;
      /** [drops, heapUsed after GC], every `heapCurveEvery` drops. */
      readonly heapCurve: readonly (readonly [number, number])[];
      readonly before: ResourceCounts;
      readonly running: ResourceCounts;
      readonly after: ResourceCounts;
      readonly closeMs: number;
    };

// Promises and nextTick callbacks are left out on purpose: they are not resources a close()
// releases, and tracking every promise would make the hook the soak's bottleneck.
const UNTRACKED = new Set(['PROMISE', 'TickObject', 'Microtask']);
const liveAsync = new Map<number, string>();
/** Set while this file creates its own timers, so the measurement never counts itself. */
let measuring = false;
createHook({
  init(asyncId, type) {
    if (!measuring && !UNTRACKED.has(type)) liveAsync.set(asyncId, type);
  },
  destroy(asyncId) {
    liveAsync.delete(asyncId);
  },
}).enable();

function tally(items: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function resources(): ResourceCounts {
  return {
    fds: readdirSync('/proc/self/fd').length,
    active: tally(process.getActiveResourcesInfo()),
    live: tally(liveAsync.values()),
  };
}

function ownDelay(ms: number): Promise<void> {
  measuring = true;
  try {
    return new Promise((resolve) => setTimeout(resolve, ms));
  } finally {
    measuring = false;
  }
}

function sameCounts(a: ResourceCounts, b: ResourceCounts): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const snapshotPrefix = process.env.SOAK_HEAP_SNAPSHOTS;
function snapshot(name: string): void {
  if (snapshotPrefix !== undefined && snapshotPrefix !== '') writeHeapSnapshot(`${snapshotPrefix}-${name}.heapsnapshot`);
}

function send(message: SoakProbeMessage): void {
  process.send?.(message);
}

const input = JSON.parse(process.argv[2] ?? '') as SoakProbeInput;
// The real config loader, so every value the soak runs with is one an operator may write.
const yaml = [
  'listen: 127.0.0.1:0',
  'log:',
  '  level: silent',
  'defaults:',
  `  interval: ${input.interval}`,
  `  deadline: ${input.deadline}`,
  `  connectTimeout: ${input.connectTimeout}`,
  '  backoff:',
  `    min: ${input.backoff.min}`,
  `    max: ${input.backoff.max}`,
  `    factor: ${input.backoff.factor}`,
  'legs:',
  ...input.legs.flatMap((leg) => [`  - name: ${leg.name}`, '    kind: ws', `    url: ${leg.url}`, '    role: internal']),
].join('\n');
const config = parseConfig(yaml);

// Listening refs the IPC channel, which adds it to getActiveResourcesInfo(): do it before the
// baseline, so the comparison sees the probe's handles only.
process.on('message', (message: { type?: string }) => {
  if (message.type !== 'finish') return;
  void finish();
});
heapAfterGc();
const before = resources();
let probe: Probe | undefined = new Probe(config);
let drops = 0;
let heapWarm: number | undefined;
const heapCurve: [number, number][] = [];
for (const leg of probe.legs) {
  leg.on('drop', () => {
    drops++;
    const warm = drops === input.warmDrops;
    if (!warm && drops % input.heapCurveEvery !== 0) return;
    const at = drops;
    measuring = true;
    setImmediate(() => {
      const heap = heapAfterGc();
      if (at % input.heapCurveEvery === 0) heapCurve.push([at, heap]);
      if (!warm) return;
      heapWarm = heap;
      snapshot('warm');
      send({ type: 'warm', heapUsed: heapWarm, drops: at });
    });
    measuring = false;
  });
}
await probe.start();
send({ type: 'started', url: probe.url ?? '' });


async function finish(): Promise<void> {
  const heapEnd = heapAfterGc();
  snapshot('end');
  const running = resources();
  const closing = performance.now();
  await probe?.close();
  const closeMs = performance.now() - closing;
  // Drop the last reference and collect before counting: whatever a closed probe releases only
  // when it is collected is then released too, and anything still live is held by something else.
  probe = undefined;
  // Sockets and timers are released on the next turns of the loop; give them a bounded while.
  let after = resources();
  const deadline = performance.now() + 5_000;
  while (!sameCounts(after, before) && performance.now() < deadline) {
    await ownDelay(20);
    gc!();
    after = resources();
  }
  send({ type: 'report', drops, heapWarm: heapWarm ?? Number.NaN, heapEnd, heapCurve, before, running, after, closeMs });
  // With the IPC channel gone, nothing of the probe may keep this process alive.
  process.disconnect();
}
