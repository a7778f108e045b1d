/**
 * 1000 permanent WebSocket legs against the echo server on loopback, 1 s heartbeat. Prints:
 *   - client CPU µs per heartbeat (goal ≤ 100 µs),
 *   - RSS and heap per leg (goal ≤ 64 KiB RSS),
 * and, in the same run, two peers on the same machine:
 *   - a bare `ws` client doing the same echo (the floor for any ws-based prober),
 *   - Prometheus blackbox_exporter probing a plain-HTTP target (if installed).
 * Figures only: nothing here passes or fails on absolute times.
 *
 * Runs on the tsc output, not under tsx: tsx's keepNames wrapping adds an own `name` property to
 * every closure and inflates memory per leg by several KiB.
 *
 * With --scrape-every S, /metrics is scraped over HTTP every S seconds by another process (bench/scraper.ts), and the
 * run prints what a scrape costs the heartbeats (issue 12 §1): render wall time and CPU per scrape,
 * event-loop delay p99 and max, heartbeat lateness p99 (each leg's gap between answered heartbeats
 * beyond its 1 s interval), the slowest leg's heartbeats per second, late results, drops, RSS
 * growth over the scraping, and the series a leg exports.
 *
 *   npm run bench -- [--legs 1000] [--seconds 20] [--peer-probes 3000] [--scrape-every 1] [--detail default|full]
 *   npm run bench -- --quick     # 1000 legs, a scrape every second, no peers: under a minute
 *   npm run bench -- --legs 10000 --seconds 60 --scrape-every 5 --skip-peers
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, createHistogram, monitorEventLoopDelay, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { wsLegsConfig } from './ws-legs-config.js';
import { Probe } from '../src/probe.js';
import { HeartbeatTracker } from '../src/legs/ws-heartbeat.js';
import { loadLine } from './proc-stats.js';
import { LegSeriesStore } from '../src/metrics/leg-series.js';

/**
 * The CPU of rendering the leg series, exactly: the store's writer is a synchronous generator, so
 * each step is timed with process.cpuUsage() (the scraped part's CPU less the part without
 * scrapes also moves with everything else the process does, and on this machine that noise is
 * larger than a scrape).
 */
let renderCpuUs = 0;
/**
 * The wall time of the same steps, and the GC pauses that fell inside them (a pause counts as the
 * render's CPU above). The wall time bounds the main thread's share: its own clock in
 * /proc/thread-self/schedstat only moves at scheduler ticks, and over steps this short it read
 * up to twice the wall time (a tick inside a step bills it the whole tick).
 */
let renderWallMs = 0;
let renderGcMs = 0;
/** The render's steps as [start, end) in performance.now() ms, preallocated: the bench allocates nothing per step. */
const RENDER_STEPS_MAX = 400_000;
const renderSteps = new Float64Array(RENDER_STEPS_MAX * 2);
let renderStepCount = 0;
const write = Object.getOwnPropertyDescriptor(LegSeriesStore.prototype, 'write')?.value as LegSeriesStore['write'];
LegSeriesStore.prototype.write = function* writeTimed(this: LegSeriesStore, ...args: Parameters<LegSeriesStore['write']>): ReturnType<LegSeriesStore['write']> {
  const steps = write.apply(this, args);
  for (;;) {
    const c0 = cpuMicros();
    const w0 = performance.now();
    const step = steps.next();
    const w1 = performance.now();
    renderCpuUs += cpuMicros() - c0;
    renderWallMs += w1 - w0;
    if (renderStepCount < RENDER_STEPS_MAX) {
      renderSteps[2 * renderStepCount] = w0;
      renderSteps[2 * renderStepCount + 1] = w1;
      renderStepCount++;
    }
    if (step.done === true) return;
    yield step.value;
  }
};


/**
 * Milliseconds recorded into a native HDR histogram (µs resolution): the run's own bookkeeping
 * allocates nothing per heartbeat, where growing arrays of millions of samples had the benchmark
 * itself trigger major collections in the process it measures.
 */
class Recorder {
  readonly #histogram: RecordableHistogram = createHistogram();

  record(ms: number): void {
    this.#histogram.record(Math.max(1, Math.round(ms * 1000)));
  }

  /** The q-th fraction (0.99 for p99) in ms; 0 with no samples. */
  quantile(q: number): number {
    return this.#histogram.count === 0 ? 0 : this.#histogram.percentile(q * 100) / 1000;
  }

  get max(): number {
    return this.#histogram.count === 0 ? 0 : this.#histogram.max / 1000;
  }

  reset(): void {
    this.#histogram.reset();
  }
}

/** The goal (issue 12 §1): no heartbeat leaves more than this late at p99, i.e. at most 1 % of them do. */
const LATE_MS = 10;

/** A burst of host kernel work (bench/kernel-bursts.ts), wall-clock ms since the epoch. */
interface KernelBurst {
  readonly startMs: number;
  readonly endMs: number;
  readonly cpuMs: number;
}

/** How long after a kernel burst the heartbeat slots were still catching up (30-150 ms measured). */
const BURST_TAIL_MS = 150;
/** How early before a burst's first busy sample it may have begun (the sampler's 2 ms, and its own delays). */
const BURST_LEAD_MS = 20;

/**
 * Heartbeats sent, and those sent more than LATE_MS late, per 50 ms of wall-clock time, so those
 * sent during or just after a host kernel burst can be told from the rest afterwards. Fixed
 * arrays: nothing is allocated per heartbeat.
 */
class LatenessTimeline {
  static readonly BUCKET_MS = 50;
  readonly beats: Uint32Array;
  readonly late: Uint32Array;
  startMs = 0;

  constructor(seconds: number) {
    const buckets = Math.ceil(((seconds + 30) * 1000) / LatenessTimeline.BUCKET_MS);
    this.beats = new Uint32Array(buckets);
    this.late = new Uint32Array(buckets);
  }

  start(): void {
    this.startMs = performance.timeOrigin + performance.now();
    this.beats.fill(0);
    this.late.fill(0);
  }

  record(epochMs: number, latenessMs: number): void {
    const i = Math.floor((epochMs - this.startMs) / LatenessTimeline.BUCKET_MS);
    if (i < 0 || i >= this.beats.length) return;
    this.beats[i] = (this.beats[i] ?? 0) + 1;
    if (latenessMs > LATE_MS) this.late[i] = (this.late[i] ?? 0) + 1;
  }
}

/** A timeline's counts as plain arrays (the bare client's comes from its child process as JSON). */
interface TimelineCounts {
  readonly startMs: number;
  readonly beats: readonly number[];
  readonly late: readonly number[];
}

function countsOf(timeline: LatenessTimeline): TimelineCounts {
  return { startMs: timeline.startMs, beats: [...timeline.beats], late: [...timeline.late] };
}

/** The share of heartbeats sent more than LATE_MS late: all of them, and those sent away from any kernel burst. */
function lateShares(counts: TimelineCounts, bursts: readonly KernelBurst[]): string {
  const bucketMs = LatenessTimeline.BUCKET_MS;
  let beats = 0;
  let late = 0;
  let beatsAway = 0;
  let lateAway = 0;
  let bucketsUsed = 0;
  let bucketsNear = 0;
  let burstsIn = 0;
  let burstCpuMs = 0;
  const endMs = counts.startMs + counts.beats.length * bucketMs;
  for (const burst of bursts) {
    if (burst.endMs < counts.startMs || burst.startMs > endMs) continue;
    burstsIn++;
    burstCpuMs += burst.cpuMs;
  }
  for (let i = 0; i < counts.beats.length; i++) {
    const n = counts.beats[i] ?? 0;
    if (n === 0) continue;
    const from = counts.startMs + i * bucketMs;
    const near = bursts.some((b) => from + bucketMs >= b.startMs - BURST_LEAD_MS && from <= b.endMs + BURST_TAIL_MS);
    beats += n;
    late += counts.late[i] ?? 0;
    bucketsUsed++;
    if (near) bucketsNear++;
    else {
      beatsAway += n;
      lateAway += counts.late[i] ?? 0;
    }
  }
  const pct = (a: number, b: number): string => (b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(2)} %`);
  const away = bursts.length === 0 ? 'no host kernel bursts seen' : `${pct(lateAway, beatsAway)} away from host kernel bursts (${burstsIn} kdamond bursts, ${(burstCpuMs / 1000).toFixed(1)} s of its CPU; ${pct(bucketsNear, bucketsUsed)} of the time near one)`;
  return `more than ${LATE_MS} ms late: ${pct(late, beats)} of heartbeats, ${away}`;
}

/** Time this process spent in garbage collection (pauses), in ms, from the 'gc' performance entries. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    renderGcMs += overlapWithRenderSteps(entry.startTime, entry.startTime + entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

/** How much of [from, to) fell inside a render step (the steps are in time order; a pause is short, so only the last few are looked at). */
function overlapWithRenderSteps(from: number, to: number): number {
  let overlap = 0;
  for (let i = renderStepCount - 1; i >= 0; i--) {
    const start = renderSteps[2 * i] as number;
    const end = renderSteps[2 * i + 1] as number;
    if (end <= from) break;
    overlap += Math.max(0, Math.min(end, to) - Math.max(start, from));
  }
  return overlap;
}

/**
 * How late each heartbeat leaves: the tracker's beat() is wrapped to note the gap since the same
 * tracker's previous beat beyond the 1 s interval (setInterval schedules each run from the start
 * of the one before, so the gap's excess is that beat's own lateness).
 */
const sendLateness = new Recorder();
let recordSendLateness = false;
const lastBeatAt = new WeakMap<HeartbeatTracker, number>();
const beat = Object.getOwnPropertyDescriptor(HeartbeatTracker.prototype, 'beat')?.value as (this: HeartbeatTracker) => void;
/** Where the send lateness also goes, per 50 ms (the part being measured). */
let activeTimeline: LatenessTimeline | undefined;
HeartbeatTracker.prototype.beat = function beatTimed(this: HeartbeatTracker): void {
  const now = performance.now();
  const last = lastBeatAt.get(this);
  if (recordSendLateness && last !== undefined) {
    const lateness = Math.max(0, now - last - 1_000);
    sendLateness.record(lateness);
    activeTimeline?.record(performance.timeOrigin + now, lateness);
  }
  lastBeatAt.set(this, now);
  beat.call(this);
};

const { values } = parseArgs({
  options: {
    legs: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    'peer-probes': { type: 'string', default: '3000' },
    'scrape-every': { type: 'string', default: '0' },
    detail: { type: 'string', default: 'default' },
    quick: { type: 'boolean', default: false },
    'skip-peers': { type: 'boolean', default: false },
    'skip-blackbox': { type: 'boolean', default: false },
    'echo-processes': { type: 'string', default: '4' },
    'quiet-seconds': { type: 'string' },
    // Internal: run only the bare ws clients, against these far-end ports, and print JSON (a fresh
    // process, so memory freed by the legs cannot make the bare clients look smaller).
    'bare-only': { type: 'string' },
  },
});
const QUICK = values.quick;
const LEGS = QUICK ? 1_000 : Number(values.legs);
const SECONDS = QUICK ? 20 : Number(values.seconds);
const SCRAPE_EVERY_S = QUICK ? 1 : Number(values['scrape-every']);
const DETAIL = values.detail;
const PEER_PROBES = Number(values['peer-probes']);
/** The echo runs in this many child processes (the legs take turns), as in the issue's measurements. */
const ECHO_PROCESSES = QUICK ? 1 : Math.max(1, Number(values['echo-processes']));
/** Seconds measured without scrapes first (CPU per heartbeat, RTT against the bare client); default: as long as the scraped part, at most 60. */
const QUIET_SECONDS = QUICK ? 0 : Number(values['quiet-seconds'] ?? Math.min(60, SECONDS));
const WARMUP_S = 5;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The full collection forced to measure memory stops the process for 100-150 ms at 10,000 legs,
 * and the 1,500 or so heartbeats due meanwhile then leave late: about 1 % of a 30 s window, enough
 * to set its p99 by itself. The benchmark's own stall is not the probe's, so the measured part
 * starts once two heartbeat intervals have passed and every leg has beaten on time again.
 */
async function settleAfterForcedGc(): Promise<void> {
  await delay(2_000);
}

/** The highest of `samples` in each whole minute, less `base`, in MiB. */
function rssByMinute(samples: readonly { atS: number; rss: number }[], base: number): number[] {
  const minutes: number[] = [];
  for (const { atS, rss } of samples) {
    const minute = Math.floor(atS / 60);
    minutes[minute] = Math.max(minutes[minute] ?? -Infinity, (rss - base) / 1_048_576);
  }
  return minutes.filter((m) => Number.isFinite(m));
}

/** process.memoryUsage() in MiB, to see where RSS beyond the heap sits. */
function memoryBreakdown(): string {
  const m = process.memoryUsage();
  const mib = (n: number): string => (n / 1_048_576).toFixed(0);
  return `rss ${mib(m.rss)} MiB, heap total ${mib(m.heapTotal)} used ${mib(m.heapUsed)}, external ${mib(m.external)}, array buffers ${mib(m.arrayBuffers)}`;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** bench/kernel-bursts.ts in a child process: the host kernel bursts it has seen so far, and stop(). */
async function startKernelBurstSampler(): Promise<{ readonly bursts: KernelBurst[]; stop(): Promise<void> }> {
  const bursts: KernelBurst[] = [];
  const child = fork(path.join(import.meta.dirname, `kernel-bursts${path.extname(import.meta.filename)}`), { stdio: 'inherit' });
  const exited = once(child, 'exit');
  child.on('message', (m: KernelBurst | { threads: number }) => {
    if ('startMs' in m) bursts.push(m);
  });
  await once(child, 'message');
  let stopped: Promise<void> | undefined;
  return {
    bursts,
    stop(): Promise<void> {
      stopped ??= (async () => {
        if (child.connected) child.send('stop');
        await exited;
      })();
      return stopped;
    },
  };
}

async function startEchoChildren(count: number): Promise<{ children: ChildProcess[]; ports: number[] }> {
  const started = await Promise.all(Array.from({ length: count }, () => startEchoChild()));
  return { children: started.map((s) => s.child), ports: started.map((s) => s.port) };
}

/**
 * The far end and the scraper run at nice 10: on this 2-core machine they stand in for other hosts,
 * and at equal priority the scheduler would make the probe wait for them (the probe needs about
 * half a core at 10,000 legs; without this its event loop waited up to 30-70 ms at p99 for CPU the
 * echo processes held, whatever the probe did).
 */
function deprioritise(child: ChildProcess): void {
  if (child.pid !== undefined) os.setPriority(child.pid, 10);
}

async function startEchoChild(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(path.join(import.meta.dirname, `ws-legs-far-end${path.extname(import.meta.filename)}`), { stdio: 'inherit' });
  deprioritise(child);
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

async function waitUntil(what: string, predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

interface ScrapeFigures {
  readonly scrapes: number;
  readonly bytes: number;
  readonly wallMsP50: number;
  readonly wallMsMax: number;
  /** The process's CPU while writing the leg series, per scrape (timed step by step). */
  readonly renderCpuMsPerScrape: number;
  /** The same steps' wall time, and the GC pauses inside them, per scrape. */
  readonly renderWallMsPerScrape: number;
  readonly renderGcMsPerScrape: number;
  /** The probe's CPU over the scraped part less its CPU rate without scrapes, per scrape (the scraper is another process). */
  readonly cpuMsPerScrape: number;
}

interface LoadFigures {
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  /** Gap between a leg's answered heartbeats beyond the interval: send lateness plus RTT jitter. */
  readonly heartbeatLatenessP99Ms: number;
  /** How late heartbeats left (the timer's lateness), p99 and max. */
  readonly sendLatenessP99Ms: number;
  readonly sendLatenessMaxMs: number;
  /** GC pauses, ms per second of the part measured. */
  readonly gcMsPerS: number;
  readonly slowestLegBeatsPerS: number;
  readonly late: number;
  readonly drops: number;
  readonly rssGrowthMiB: number;
  /** The highest RSS in each minute of the scraped part, less RSS at the start of the measured part (MiB). */
  readonly rssByMinuteMiB: readonly number[];
  readonly seriesPerLeg: number;
  readonly scrape: ScrapeFigures | undefined;
  /** Send lateness per 50 ms, without scrapes (if that part ran) and in the measured part. */
  readonly quietTimeline: TimelineCounts | undefined;
  readonly timeline: TimelineCounts;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function benchProbeLegs(ports: readonly number[]): Promise<{ cpuPerBeatUs: number; rssPerLegKiB: number; heapPerLegKiB: number; beats: number; p50RttMs: number; p99RttMs: number; load: LoadFigures }> {
  gc();
  await delay(200);
  gc();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const config = wsLegsConfig(LEGS, ports, DETAIL);
  const scraping = SCRAPE_EVERY_S > 0;
  // Process metrics ride along when scraping, as in production (prom-client renders them).
  const probe = new Probe(config, { processMetrics: scraping });
  let beats = 0;
  let drops = 0;
  let late = 0;
  let measuring = false;
  const rtts = new Recorder();
  const lateness = new Recorder();
  const beatsPerLeg = new Map<string, number>();
  const dropCauses = new Map<string, number>();
  for (const leg of probe.legs) {
    let lastOkAt = 0;
    leg.on('heartbeat', (result, rtt) => {
      if (result === 'late') late++;
      if (result === 'ok') {
        beats++;
        if (rtt !== undefined) rtts.record(rtt * 1000);
        const now = performance.now();
        if (measuring) {
          beatsPerLeg.set(leg.name, (beatsPerLeg.get(leg.name) ?? 0) + 1);
          if (lastOkAt > 0) lateness.record(Math.max(0, now - lastOkAt - 1_000));
        }
        lastOkAt = now;
      }
    });
    leg.on('drop', (event) => {
      drops++;
      const key = `${event.reason} ${event.code}${event.upForSeconds === null ? ' (never up)' : ''}`;
      dropCauses.set(key, (dropCauses.get(key) ?? 0) + 1);
    });
  }
  await probe.start({ listen: scraping });
  await waitUntil('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  await delay(WARMUP_S * 1000);
  gc();
  const rssUp = process.memoryUsage().rss;
  const heapUp = process.memoryUsage().heapUsed;
  console.log(`memory at ${LEGS} legs:   ${memoryBreakdown()}`);
  await settleAfterForcedGc();

  // The quiet part: CPU per heartbeat and RTT with no scrapes, to hold against a bare ws client.
  rtts.reset();
  sendLateness.reset();
  recordSendLateness = true;
  const quietTimeline = new LatenessTimeline(QUIET_SECONDS);
  quietTimeline.start();
  activeTimeline = quietTimeline;
  const quietBeats0 = beats;
  const quietCpu0 = cpuMicros();
  const quietGc0 = gcMs;
  const quietLoop = monitorEventLoopDelay({ resolution: 10 });
  quietLoop.enable();
  if (QUIET_SECONDS > 0) await delay(QUIET_SECONDS * 1000);
  quietLoop.disable();
  activeTimeline = undefined;
  const quietCpu = cpuMicros() - quietCpu0;
  const rssAfterQuiet = process.memoryUsage.rss();
  if (QUIET_SECONDS > 0) {
    console.log(
      `without scrapes:      event-loop delay p99 ${(quietLoop.percentile(99) / 1e6).toFixed(1)} ms max ${(quietLoop.max / 1e6).toFixed(1)} ms, ` +
        `heartbeats left late by p99 ${sendLateness.quantile(0.99).toFixed(1)} ms max ${sendLateness.max.toFixed(1)} ms, GC ${((gcMs - quietGc0) / QUIET_SECONDS).toFixed(0)} ms/s, ` +
        `RSS at its end ${rssAfterQuiet >= rssUp ? '+' : ''}${((rssAfterQuiet - rssUp) / 1_048_576).toFixed(1)} MiB`,
    );
  }
  const quietBeats = beats - quietBeats0;
  const quietRttP50Ms = rtts.quantile(0.5);
  const quietRttP99Ms = rtts.quantile(0.99);

  rtts.reset();
  const beats0 = beats;
  const drops0 = drops;
  const late0 = late;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  measuring = true;
  sendLateness.reset();
  recordSendLateness = true;
  const scrapedTimeline = new LatenessTimeline(SECONDS);
  scrapedTimeline.start();
  activeTimeline = scrapedTimeline;
  const cpu0 = cpuMicros();
  const gc0 = gcMs;
  const started = performance.now();
  const scrapeWall: number[] = [];
  /** RSS as each scrape ended: whether memory climbs with scraping or settles at a level. */
  const rssAtScrape: { atS: number; rss: number }[] = [];
  let scrapeCpuUs = 0;
  let scrapeBytes = 0;
  if (scraping) {
    // CPU the process spends without scrapes, per ms: from the quiet part, or a second measured now.
    let idleCpuUsPerMs = QUIET_SECONDS > 0 ? quietCpu / (QUIET_SECONDS * 1000) : 0;
    if (QUIET_SECONDS === 0) {
      const idleCpu0 = cpuMicros();
      const idleT0 = performance.now();
      await delay(1_000);
      idleCpuUsPerMs = (cpuMicros() - idleCpu0) / (performance.now() - idleT0);
    }
    renderCpuUs = 0;
    renderWallMs = 0;
    renderGcMs = 0;
    renderStepCount = 0;
    const windowCpu0 = cpuMicros();
    const windowT0 = performance.now();
    const scraper = fork(path.join(import.meta.dirname, `scraper${path.extname(import.meta.filename)}`), [`${probe.url ?? ''}/metrics`, String(SCRAPE_EVERY_S)], { stdio: 'inherit' });
    deprioritise(scraper);
    scraper.on('message', (m: { wallMs: number; bytes: number }) => {
      scrapeWall.push(m.wallMs);
      rssAtScrape.push({ atS: (performance.now() - started) / 1000, rss: process.memoryUsage.rss() });
      scrapeBytes = m.bytes;
    });
    await delay(SECONDS * 1000 - (performance.now() - started));
    const exited = once(scraper, 'exit');
    scraper.send('stop');
    await exited;
    const windowMs = performance.now() - windowT0;
    scrapeCpuUs = cpuMicros() - windowCpu0 - idleCpuUsPerMs * windowMs;
  } else {
    await delay(SECONDS * 1000);
  }
  const elapsedS = (performance.now() - started) / 1000;
  const gcMsPerS = (gcMs - gc0) / elapsedS;
  const cpu1 = cpuMicros();
  measuring = false;
  recordSendLateness = false;
  activeTimeline = undefined;
  loop.disable();
  const measured = beats - beats0;
  gc();
  const rssAfter = process.memoryUsage().rss;
  console.log(`memory afterwards:     ${memoryBreakdown()}; /metrics chunks allocated since start ${probe.metrics.chunksAllocated}`);
  const body = await probe.metrics.render();
  const seriesPerLeg = body.split('\n').filter((line) => !line.startsWith('#') && /[{,]leg="leg0"[,}]/.test(line)).length;
  await probe.close();
  if (drops > 0) console.error(`warning: ${drops} drops since start-up: ${[...dropCauses].map(([cause, n]) => `${n} ${cause}`).join(', ')}`);
  scrapeWall.sort((a, b) => a - b);
  const slowest = Math.min(...probe.legs.map((l) => beatsPerLeg.get(l.name) ?? 0));
  const load: LoadFigures = {
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    heartbeatLatenessP99Ms: lateness.quantile(0.99),
    sendLatenessP99Ms: sendLateness.quantile(0.99),
    sendLatenessMaxMs: sendLateness.max,
    gcMsPerS,
    slowestLegBeatsPerS: slowest / elapsedS,
    late: late - late0,
    drops: drops - drops0,
    rssGrowthMiB: (rssAfter - rssUp) / 1_048_576,
    rssByMinuteMiB: rssByMinute(rssAtScrape, rssUp),
    seriesPerLeg,
    quietTimeline: QUIET_SECONDS > 0 ? countsOf(quietTimeline) : undefined,
    timeline: countsOf(scrapedTimeline),
    scrape: scraping
      ? {
          scrapes: scrapeWall.length,
          bytes: scrapeBytes,
          wallMsP50: percentile(scrapeWall, 0.5),
          wallMsMax: scrapeWall.at(-1) ?? 0,
          cpuMsPerScrape: scrapeCpuUs / 1000 / Math.max(1, scrapeWall.length),
          renderCpuMsPerScrape: renderCpuUs / 1000 / Math.max(1, scrapeWall.length),
          renderWallMsPerScrape: renderWallMs / Math.max(1, scrapeWall.length),
          renderGcMsPerScrape: renderGcMs / Math.max(1, scrapeWall.length),
        }
      : undefined,
  };
  // Without a quiet part (--quick) the figures come from the scraped part, scrapes included.
  const quiet = QUIET_SECONDS > 0;
  return {
    load,
    cpuPerBeatUs: quiet ? quietCpu / quietBeats : (cpu1 - cpu0) / measured,
    rssPerLegKiB: (rssUp - rssBefore) / LEGS / 1024,
    heapPerLegKiB: (heapUp - heapBefore) / LEGS / 1024,
    beats: quiet ? quietBeats : measured,
    p50RttMs: quiet ? quietRttP50Ms : rtts.quantile(0.5),
    p99RttMs: quiet ? quietRttP99Ms : rtts.quantile(0.99),
  };
}

/** The floor: bare ws clients, each echoing JSON {seq, t} once a second; memory per client measured as for the legs. */
async function benchBareWs(
  ports: readonly number[],
): Promise<{ cpuPerBeatUs: number; beats: number; rssPerLegKiB: number; heapPerLegKiB: number; p50RttMs: number; p99RttMs: number; loopDelayP99Ms: number; sendLatenessP99Ms: number; timeline: TimelineCounts }> {
  const late = new Recorder();
  const timeline = new LatenessTimeline(QUIET_SECONDS > 0 ? QUIET_SECONDS : SECONDS);
  let recordLate = false;
  const clients: WebSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  const rtts = new Recorder();
  let beats = 0;
  gc();
  await delay(200);
  gc();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  await Promise.all(
    Array.from({ length: LEGS }, async (_, i) => {
      const ws = new WebSocket(`ws://127.0.0.1:${ports[i % ports.length] ?? 0}/probe/ws`, { perMessageDeflate: false });
      clients.push(ws);
      await once(ws, 'open');
      let seq = 0;
      ws.on('message', (data: Buffer) => {
        const reply = JSON.parse(data.toString()) as { seq: number; t: number };
        if (reply.seq > 0) {
          beats++;
          rtts.record(performance.now() - reply.t);
        }
      });
      let lastSent = 0;
      timers.push(
        setInterval(() => {
          const now = performance.now();
          if (recordLate && lastSent > 0) {
            late.record(Math.max(0, now - lastSent - 1_000));
            timeline.record(performance.timeOrigin + now, Math.max(0, now - lastSent - 1_000));
          }
          lastSent = now;
          ws.send(JSON.stringify({ seq: ++seq, t: now }));
        }, 1_000),
      );
    }),
  );
  await delay(WARMUP_S * 1000);
  gc();
  const rssUp = process.memoryUsage().rss;
  const heapUp = process.memoryUsage().heapUsed;
  console.error(`memory at ${LEGS} bare clients: ${memoryBreakdown()}`);
  await settleAfterForcedGc();
  rtts.reset();
  const beats0 = beats;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  timeline.start();
  recordLate = true;
  const cpu0 = cpuMicros();
  await delay((QUIET_SECONDS > 0 ? QUIET_SECONDS : SECONDS) * 1000);
  const cpu1 = cpuMicros();
  recordLate = false;
  loop.disable();
  const measured = beats - beats0;
  for (const t of timers) clearInterval(t);
  for (const ws of clients) ws.terminate();
  return {
    cpuPerBeatUs: (cpu1 - cpu0) / measured,
    beats: measured,
    rssPerLegKiB: (rssUp - rssBefore) / LEGS / 1024,
    heapPerLegKiB: (heapUp - heapBefore) / LEGS / 1024,
    p50RttMs: rtts.quantile(0.5),
    p99RttMs: rtts.quantile(0.99),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    sendLatenessP99Ms: late.quantile(0.99),
    timeline: countsOf(timeline),
  };
}

function processCpuMicros(pid: number): number {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (100 Hz on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function benchBlackbox(echoPort: number): Promise<{ cpuPerProbeUs: number; probes: number; version: string } | string> {
  const binary = ['/usr/bin/prometheus-blackbox-exporter', '/usr/bin/blackbox_exporter'].find((b) => existsSync(b));
  if (binary === undefined) return 'not installed (apt-get install prometheus-blackbox-exporter)';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bbx-'));
  try {
    await writeFile(path.join(dir, 'bb.yml'), 'modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n');
    const listen = `127.0.0.1:${40_000 + Math.floor(Math.random() * 20_000)}`;
    const child = spawn(binary, [`--config.file=${path.join(dir, 'bb.yml')}`, `--web.listen-address=${listen}`], { stdio: 'ignore' });
    try {
      const target = encodeURIComponent(`http://127.0.0.1:${echoPort}/probe/healthz`);
      const probeUrl = `http://${listen}/probe?module=http_2xx&target=${target}`;
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`http://${listen}/-/healthy`)).ok) break;
        } catch {
          if (i > 100) throw new Error('blackbox_exporter did not start');
        }
        await delay(50);
      }
      const versionText = await (await fetch(`http://${listen}/metrics`)).text();
      const version = /blackbox_exporter_build_info\{[^}]*version="([^"]+)"/.exec(versionText)?.[1] ?? 'unknown';
      for (let i = 0; i < 100; i++) await (await fetch(probeUrl)).text(); // warm-up
      const pid = child.pid ?? 0;
      const cpu0 = processCpuMicros(pid);
      let next = 0;
      let failed = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < PEER_PROBES) {
            next++;
            const body = await (await fetch(probeUrl)).text();
            if (!/^probe_success 1$/m.test(body)) failed++;
          }
        }),
      );
      const cpu1 = processCpuMicros(pid);
      if (failed > 0) console.error(`warning: ${failed} blackbox probes failed`);
      return { cpuPerProbeUs: (cpu1 - cpu0) / PEER_PROBES, probes: PEER_PROBES, version };
    } finally {
      child.kill();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type BareFigures = Awaited<ReturnType<typeof benchBareWs>>;

/** The bare clients in a child process of this script, against the same far ends. */
async function benchBareWsInChild(ports: readonly number[]): Promise<BareFigures> {
  const args = ['--bare-only', ports.join(','), '--legs', String(LEGS), '--seconds', String(SECONDS), '--quiet-seconds', String(QUIET_SECONDS)];
  const child = fork(import.meta.filename, args, { execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`bare ws child exited with ${code}`);
  return JSON.parse(out) as BareFigures;
}

if (values['bare-only'] !== undefined) {
  const figures = await benchBareWs(values['bare-only'].split(',').map(Number));
  process.stdout.write(JSON.stringify(figures));
  process.exit(0);
}

const { children, ports } = await startEchoChildren(ECHO_PROCESSES);
const kernel = await startKernelBurstSampler();
const port = ports[0] ?? 0;
try {
  const scrapeNote = SCRAPE_EVERY_S > 0 ? `, /metrics scraped every ${SCRAPE_EVERY_S} s (metrics.detail: ${DETAIL})` : '';
  console.log(`# t3-probe ws-legs benchmark: ${LEGS} legs, 1 s heartbeat, echo in ${ECHO_PROCESSES} child process(es), ${QUIET_SECONDS > 0 ? `${QUIET_SECONDS} s without scrapes, then ` : ''}${SECONDS} s measured after ${WARMUP_S} s warm-up${scrapeNote}`);
  console.log(`# node ${process.version}${process.execArgv.length > 0 ? ` (${process.execArgv.join(' ')})` : ''}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('# event-loop delay is monitorEventLoopDelay at a 10 ms resolution; Node counts the interval in each sample, so an idle loop reads 10-11 ms');
  const legs = await benchProbeLegs(ports);
  console.log(
    `t3-probe ws legs:     ${legs.cpuPerBeatUs.toFixed(1)} µs client CPU per heartbeat (${legs.beats} heartbeats${QUIET_SECONDS > 0 ? ', no scrapes' : ', scrapes included'}), ` +
      `RSS ${legs.rssPerLegKiB.toFixed(1)} KiB/leg, heap ${legs.heapPerLegKiB.toFixed(1)} KiB/leg, RTT p50 ${legs.p50RttMs.toFixed(2)} ms p99 ${legs.p99RttMs.toFixed(2)} ms`,
  );
  const { load } = legs;
  if (load.scrape !== undefined) {
    const s = load.scrape;
    console.log(
      `scrapes:              ${s.scrapes} of ${(s.bytes / 1_048_576).toFixed(2)} MiB, wall p50 ${s.wallMsP50.toFixed(0)} ms max ${s.wallMsMax.toFixed(0)} ms, ` +
        `CPU ${s.renderCpuMsPerScrape.toFixed(0)} ms per scrape writing the leg series (timed; wall ${s.renderWallMsPerScrape.toFixed(0)} ms, of it GC pauses ${s.renderGcMsPerScrape.toFixed(0)} ms), ${s.cpuMsPerScrape.toFixed(0)} ms beyond the heartbeats' own rate (noisy)`,
    );
  }
  console.log(
    `during the run:       event-loop delay p99 ${load.loopDelayP99Ms.toFixed(1)} ms max ${load.loopDelayMaxMs.toFixed(1)} ms, heartbeats left late by p99 ${load.sendLatenessP99Ms.toFixed(1)} ms max ${load.sendLatenessMaxMs.toFixed(1)} ms, answer gap beyond 1 s p99 ${load.heartbeatLatenessP99Ms.toFixed(1)} ms, ` +
      `GC ${load.gcMsPerS.toFixed(0)} ms/s, slowest leg ${load.slowestLegBeatsPerS.toFixed(3)} heartbeats/s, ${load.late} late, ${load.drops} drops, RSS ${load.rssGrowthMiB >= 0 ? '+' : ''}${load.rssGrowthMiB.toFixed(1)} MiB`,
  );
  if (load.rssByMinuteMiB.length > 0) console.log(`RSS while scraped:    highest per minute, above the start: ${load.rssByMinuteMiB.map((m) => `${m >= 0 ? '+' : ''}${m.toFixed(1)}`).join(', ')} MiB`);
  console.log(`series per leg:       ${load.seriesPerLeg} (a ws leg, metrics.detail: ${DETAIL})`);
  const lateLines: string[] = [];
  if (load.quietTimeline !== undefined) lateLines.push(`without scrapes, ${lateShares(load.quietTimeline, kernel.bursts)}`);
  lateLines.push(`${load.scrape !== undefined ? 'scraped part' : 'measured part'}, ${lateShares(load.timeline, kernel.bursts)}`);
  // --quick is the regression guard (issue 12 §5): the peers are for the full run.
  if (!QUICK && !values['skip-peers']) {
    const bare = await benchBareWsInChild(ports);
    console.log(
      `bare ws client:       ${bare.cpuPerBeatUs.toFixed(1)} µs client CPU per echo (${bare.beats} echoes), ` +
        `RSS ${bare.rssPerLegKiB.toFixed(1)} KiB/client, heap ${bare.heapPerLegKiB.toFixed(1)} KiB/client, RTT p50 ${bare.p50RttMs.toFixed(2)} ms p99 ${bare.p99RttMs.toFixed(2)} ms, ` +
        `event-loop delay p99 ${bare.loopDelayP99Ms.toFixed(1)} ms, echoes left late by p99 ${bare.sendLatenessP99Ms.toFixed(1)} ms`,
    );
    lateLines.push(`bare ws client, ${lateShares(bare.timeline, kernel.bursts)}`);
    console.log(
      `ratios t3/bare:       CPU per heartbeat ${(legs.cpuPerBeatUs / bare.cpuPerBeatUs).toFixed(2)}x, RSS ${(legs.rssPerLegKiB / bare.rssPerLegKiB).toFixed(2)}x, heap ${(legs.heapPerLegKiB / bare.heapPerLegKiB).toFixed(2)}x`,
    );
    const peer = values['skip-blackbox'] ? 'skipped (--skip-blackbox)' : await benchBlackbox(port);
    if (typeof peer === 'string') console.log(`blackbox_exporter:    skipped: ${peer}`);
    else console.log(`blackbox_exporter ${peer.version}: ${peer.cpuPerProbeUs.toFixed(0)} µs exporter CPU per plain-HTTP probe (${peer.probes} probes, concurrency 10)`);
  }
  await kernel.stop();
  for (const line of lateLines) console.log(`heartbeats sent:      ${line}`);
  console.log(loadLine());
} finally {
  kernel.stop().catch(() => undefined);
  for (const child of children) child.disconnect();
}
