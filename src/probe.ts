/**
 * A probe: the legs of one config, their metrics, the ring of recent drops, and the HTTP server
 * that exposes them. The CLI calls this; this calls the legs.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DohOptions, LegOptions, ProbeConfig } from './config/types.js';
import { ProbeError } from './errors.js';
import { completeSince, downSpansOf, stallSpansOf } from './attribution/probe-history.js';
import { readStateFile, writeStateFile } from './attribution/state-file.js';
import { attribute, DEFAULT_BURST_MS, DEFAULT_WINDOW_MS, type ObservedSpan, type Verdict } from './attribution/verdict.js';
import { createLeg } from './legs/create-leg.js';
import { StartRamp } from './legs/start-ramp.js';
import { DohResolver } from './net/doh.js';
import type { DropEvent, Leg, LegStatus } from './legs/leg.js';
import { createResolver } from './net/resolver.js';
import { silentLogger, type Logger } from './log.js';
import { ProbeMetrics } from './metrics/registry.js';
import { StallMonitor, type StallEvent } from './metrics/stall-monitor.js';
import { startProbeServer, type ProbeServer } from './server/probe-server.js';
import { Ring } from './util/ring.js';

export interface ProbeOptions {
  readonly logger?: Logger;
  /** Register prom-client's process metrics; default true. */
  readonly processMetrics?: boolean;
}

export interface ProbeStatus {
  readonly startedAt: string;
  /** The attribution of now ± statusWindow.windowMs (clamped to now), from the drop ring and the legs' states. */
  readonly verdict: Verdict;
  readonly uptimeSeconds: number;
  readonly ready: boolean;
  readonly legs: readonly LegStatus[];
  /** Capacity of the drop ring. */
  readonly dropHistory: number;
  /** Oldest first, at most `dropHistory` entries. */
  readonly recentDrops: readonly DropEvent[];
  /**
   * The stretches of time the history covers, oldest first: earlier runs (from the `state` file)
   * and this one up to now. The gaps between them (the probe was down) were not observed.
   */
  readonly observed: readonly ObservedSpan[];
  /** Capacity of the stall ring. */
  readonly stallHistory: number;
  /** Seconds the probe itself did not run since it started (t3probe_probe_stall_seconds_total). */
  readonly stalledSecondsTotal: number;
  /** The probe's own stalls (SIGSTOP, CPU throttling, GC), oldest first, at most `stallHistory`. */
  readonly recentStalls: readonly StallEvent[];
}

/** A drop is written to the state file at most this long after it happened (and at most this often). */
const STATE_WRITE_DELAY_MS = 1_000;
/** With no drops, the state file is rewritten this often, so a crash loses at most this much coverage. */
const STATE_REFRESH_MS = 60_000;

/** What a reload did, by leg name. A changed leg was stopped and started again (remove + add). */
export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly kept: readonly string[];
}

/** A running leg and the options it was built from, so a reload can tell whether it changed. */
interface RunningLeg {
  readonly leg: Leg;
  readonly options: LegOptions;
}

export class Probe {
  readonly metrics: ProbeMetrics;
  readonly log: Logger;
  /** The window and burst gap of the verdict in status(). */
  readonly statusWindow = { windowMs: DEFAULT_WINDOW_MS, burstMs: DEFAULT_BURST_MS } as const;
  #config: ProbeConfig;
  /** The one owner of the set of legs: the constructor fills it, applyConfig changes it. */
  readonly #legs = new Map<string, RunningLeg>();
  /** `legs` as an array, rebuilt only when the set changes (status() reads it on every request). */
  #legList: readonly Leg[] = [];
  /** Reloads run one at a time, in the order they were asked for. */
  #reloading: Promise<unknown> = Promise.resolve();
  #drops: Ring<DropEvent>;
  /** This process's own stalls: counted, kept for attribution, and discounted by leg deadlines. */
  readonly #stalls: StallMonitor;
  readonly #dohResolvers = new Map<string, DohResolver>();
  readonly #startedAt = Date.now();
  /** What earlier runs observed, from the state file. */
  #previousObserved: readonly ObservedSpan[] = [];
  #stateWrite: NodeJS.Timeout | undefined;
  #stateRefresh: NodeJS.Timeout | undefined;
  #stateWriting: Promise<void> = Promise.resolve();
  #stateFailing = false;
  #server: ProbeServer | undefined;
  /** Leg timers are unref'd; this one ref'd handle is what keeps a started probe's process alive. */
  #keepAlive: NodeJS.Timeout | undefined;
  /** Starts legs at a bounded rate, so thousands of legs do not all connect in one moment. */
  readonly #ramp = new StartRamp();
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(config: ProbeConfig, options: ProbeOptions = {}) {
    this.#config = config;
    this.log = options.logger ?? silentLogger;
    this.metrics = new ProbeMetrics({ prefix: config.metrics.prefix, detail: config.metrics.detail, processMetrics: options.processMetrics ?? true });
    this.#drops = new Ring<DropEvent>(config.dropHistory);
    this.#stalls = new StallMonitor({ metrics: this.metrics, log: this.log });
    for (const legOptions of config.legs) this.#legs.set(legOptions.name, { leg: this.#createLeg(legOptions), options: legOptions });
    this.#legList = [...this.#legs.values()].map((r) => r.leg);
    this.metrics.recordConfigLoad(true);
  }

  /** The config in force: the one given to the constructor, or the last one applyConfig applied. */
  get config(): ProbeConfig {
    return this.#config;
  }

  /** The legs in force, in config order. */
  get legs(): readonly Leg[] {
    return this.#legList;
  }

  #createLeg(legOptions: LegOptions): Leg {
    const leg = createLeg(legOptions, {
      metrics: this.metrics.forLeg(legOptions.name, { kind: legOptions.kind, role: legOptions.role }),
      log: this.log.child({ leg: legOptions.name }),
      stalls: this.#stalls,
      resolver: createResolver(legOptions.resolve, (doh) => this.#dohResolver(doh)),
      idleMetrics: () => this.metrics.forIdleLeg(legOptions.name),
    });
    leg.on('drop', (event) => {
      this.#drops.push(event);
      this.#scheduleStateWrite();
    });
    return leg;
  }

  /** One warning per leg that skips certificate checks, at every start and every reload that enables it. */
  #warnInsecure(legs: readonly LegOptions[]): void {
    for (const leg of legs) {
      if (!isInsecure(leg)) continue;
      this.log.warn(
        { leg: leg.name, key: leg.tls.insecure ? `legs[${this.#config.legs.indexOf(leg)}].tls.insecure` : 'doh.tls.insecure' },
        'tls.insecure: true: certificate verification is OFF for this leg, so it proves nothing about who answered',
      );
    }
  }

  /**
   * Apply a new, already validated config without a restart. Legs whose options are unchanged
   * keep their connections and counters; added legs start; removed legs stop and every series of
   * theirs is deleted; a changed leg is a removal plus an addition. `dropHistory` and `log.level`
   * apply live. `listen`, `metrics.prefix`, `metrics.detail` and `state` cannot (the socket, the registry and the
   * history file are bound at start): a config that changes them is rejected whole with
   * PROBE_ERR_CONFIG, and the running config stays, so what runs is always one config.
   */
  applyConfig(next: ProbeConfig): Promise<ReloadSummary> {
    const run = this.#reloading.then(() => this.#apply(next));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #apply(next: ProbeConfig): Promise<ReloadSummary> {
    if (this.#closing !== undefined) throw new ProbeError('PROBE_ERR_CLOSED', 'the probe is closing: reload ignored');
    const current = this.#config;
    const fixed = [
      ['listen', `${current.listen.host}:${current.listen.port}`, `${next.listen.host}:${next.listen.port}`],
      ['metrics.prefix', current.metrics.prefix, next.metrics.prefix],
      ['metrics.detail', current.metrics.detail, next.metrics.detail],
      ['state', current.state ?? 'none', next.state ?? 'none'],
    ] as const;
    const restart = fixed.filter(([, was, now]) => was !== now).map(([key, was, now]) => `${key}: needs a restart to change (running with ${JSON.stringify(was)}, the new config says ${JSON.stringify(now)})`);
    if (restart.length > 0) throw new ProbeError('PROBE_ERR_CONFIG', restart.join('\n'));

    const wanted = new Map(next.legs.map((l) => [l.name, l]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    const kept: string[] = [];
    const stopping: RunningLeg[] = [];
    for (const [name, running] of this.#legs) {
      const options = wanted.get(name);
      if (options === undefined) removed.push(name);
      else if (isDeepStrictEqual(options, running.options)) kept.push(name);
      else changed.push(name);
      if (options === undefined || !isDeepStrictEqual(options, running.options)) stopping.push(running);
    }
    for (const name of wanted.keys()) if (!this.#legs.has(name)) added.push(name);

    // Stop first, then delete the series, then start: a changed leg's new series start at 0 and
    // the old leg's last writes (close marks it disconnected) land before the deletion.
    await Promise.all(stopping.map(({ leg }) => leg.close()));
    for (const { leg } of stopping) {
      this.#legs.delete(leg.name);
      await this.metrics.removeLeg(leg.name);
    }
    this.#config = next;
    if (next.dropHistory !== current.dropHistory) {
      this.#drops = resized(this.#drops, next.dropHistory);
      this.#scheduleStateWrite();
    }
    if (next.log.level !== current.log.level) this.log.level = next.log.level;
    const starting = next.legs.filter((l) => added.includes(l.name) || changed.includes(l.name));
    const order = new Map<string, RunningLeg>();
    for (const legOptions of next.legs) {
      const running = this.#legs.get(legOptions.name) ?? { leg: this.#createLeg(legOptions), options: legOptions };
      order.set(legOptions.name, running);
    }
    this.#legs.clear();
    for (const [name, running] of order) this.#legs.set(name, running);
    this.#legList = [...this.#legs.values()].map((r) => r.leg);
    const before = new Map(stopping.map((r) => [r.options.name, r.options]));
    this.#warnInsecure(starting.filter((l) => !isInsecure(before.get(l.name))));
    if (this.#started) this.#ramp.start(starting.flatMap((l) => this.#legs.get(l.name)?.leg ?? []));
    this.metrics.recordConfigLoad(true);
    const summary = { added, removed, changed, kept };
    this.log.info(summary, 'config reloaded');
    return summary;
  }

  /** A reload was rejected: the running config stays, and the metrics say so. */
  recordRejectedConfig(): void {
    this.metrics.recordConfigLoad(false);
  }

  #dohResolver(options: DohOptions): DohResolver {
    // Legs that use the same DoH server share one HTTP/2 connection and one cache.
    const key = JSON.stringify(options);
    let resolver = this.#dohResolvers.get(key);
    if (resolver === undefined) {
      resolver = new DohResolver(options);
      this.#dohResolvers.set(key, resolver);
    }
    return resolver;
  }

  /** Listen on the configured address (unless `listen: false`), then start every leg. */
  async start({ listen = true, signal }: { listen?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    signal?.throwIfAborted();
    if (this.#started) return;
    this.#started = true;
    await this.#restoreState();
    if (listen) this.#server = await startProbeServer(this, this.config.listen, signal);
    this.#keepAlive = setInterval(() => {}, 1 << 30);
    this.#warnInsecure(this.#config.legs);
    this.#stalls.start();
    this.#ramp.start(this.legs);
    this.log.info({ legs: this.legs.map((l) => l.name), listen: this.#server?.url }, 'probe started');
  }

  get ready(): boolean {
    return this.#started && this.#closing === undefined;
  }

  /** The server's base URL, for example http://127.0.0.1:9464 (undefined before start). */
  get url(): string | undefined {
    return this.#server?.url;
  }

  leg(name: string): Leg | undefined {
    return this.legs.find((l) => l.name === name);
  }

  /** Attribute the drops around `at` (default now) from this probe's own ring and leg states. */
  verdict(at = Date.now(), windowMs = DEFAULT_WINDOW_MS, burstMs = DEFAULT_BURST_MS): Verdict {
    return this.#verdictFrom(this.legs.map((l) => l.snapshot()), this.#drops.toArray(), this.#stalls.recent(), at, windowMs, burstMs);
  }

  #verdictFrom(legs: readonly LegStatus[], drops: readonly DropEvent[], stalls: readonly StallEvent[], at: number, windowMs: number, burstMs: number): Verdict {
    const now = Date.now();
    return attribute({
      at,
      windowMs,
      burstMs,
      now,
      legs: legs.map((l) => ({ name: l.name, role: l.role })),
      drops,
      downSpans: downSpansOf(drops, legs.map((l) => ({ name: l.name, state: l.state, since: Date.parse(l.since) }))),
      observed: this.#observedSpans(drops, now),
      stalls: stallSpansOf(stalls),
    });
  }

  /**
   * Earlier runs' spans and this run's, minus whatever a full ring has forgotten: the history is
   * complete only since the oldest drop it still holds.
   */
  #observedSpans(drops: readonly DropEvent[], now: number): ObservedSpan[] {
    const forgottenBefore = completeSince(Number.NEGATIVE_INFINITY, drops, this.#config.dropHistory);
    return [...this.#previousObserved, { from: this.#startedAt, to: now }]
      .map((span) => ({ from: Math.max(span.from, forgottenBefore), to: span.to }))
      .filter((span) => span.to >= span.from);
  }

  async #restoreState(): Promise<void> {
    const path = this.#config.state;
    if (path === undefined) return;
    const read = await readStateFile(path);
    if ('problem' in read) {
      this.log.warn({ path, reason: read.problem }, 'state file ignored: starting with an empty history');
    } else if ('history' in read) {
      // Drops before this start, then this run: the ring keeps the newest `dropHistory`.
      for (const drop of read.history.drops.slice(-this.#config.dropHistory)) this.#drops.push(drop);
      this.#previousObserved = read.history.observed.filter((span) => span.to <= this.#startedAt);
      this.log.info({ path, drops: this.#drops.size, runs: this.#previousObserved.length }, 'history restored from the state file');
    }
    this.#stateRefresh = setInterval(() => this.#scheduleStateWrite(), STATE_REFRESH_MS);
    this.#stateRefresh.unref();
  }

  /** Debounced and rate-bounded: at most one write per STATE_WRITE_DELAY_MS, whatever the drop rate. */
  #scheduleStateWrite(): void {
    if (this.#config.state === undefined || this.#stateWrite !== undefined || this.#closing !== undefined) return;
    this.#stateWrite = setTimeout(() => {
      this.#stateWrite = undefined;
      void this.#writeState();
    }, STATE_WRITE_DELAY_MS);
    this.#stateWrite.unref();
  }

  /** Writes run one at a time; a failure is logged once, and so is the recovery. */
  #writeState(): Promise<void> {
    const path = this.#config.state;
    if (path === undefined) return Promise.resolve();
    this.#stateWriting = this.#stateWriting.then(async () => {
      const now = Date.now();
      const drops = this.#drops.toArray();
      try {
        await writeStateFile(path, { observed: this.#observedSpans(drops, now), drops }, now);
        if (this.#stateFailing) this.log.info({ path }, 'state file written again');
        this.#stateFailing = false;
      } catch (err) {
        if (!this.#stateFailing) this.log.warn({ path, err }, 'cannot write the state file: history will not survive a restart');
        this.#stateFailing = true;
      }
    });
    return this.#stateWriting;
  }

  status(): ProbeStatus {
    const legs = this.legs.map((l) => l.snapshot());
    const recentDrops = this.#drops.toArray();
    const recentStalls = this.#stalls.recent();
    return {
      startedAt: new Date(this.#startedAt).toISOString(),
      verdict: this.#verdictFrom(legs, recentDrops, recentStalls, Date.now(), this.statusWindow.windowMs, this.statusWindow.burstMs),
      uptimeSeconds: (Date.now() - this.#startedAt) / 1000,
      ready: this.ready,
      legs,
      dropHistory: this.#config.dropHistory,
      recentDrops,
      observed: this.#observedSpans(recentDrops, Date.now()),
      stallHistory: this.#stalls.capacity,
      stalledSecondsTotal: this.#stalls.totalSeconds,
      recentStalls,
    };
  }

  /** Graceful and idempotent: legs close politely (bounded), then the server stops. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    await this.#reloading;
    this.#ramp.close();
    await Promise.all(this.legs.map((l) => l.close()));
    clearTimeout(this.#stateWrite);
    clearInterval(this.#stateRefresh);
    // The last word: every drop up to the close, and this run's span up to now.
    if (this.#started) await this.#writeState();
    await Promise.all([...this.#dohResolvers.values()].map((r) => r.close()));
    await this.#server?.close();
    clearInterval(this.#keepAlive);
    this.#stalls.close();
    this.log.info('probe stopped');
  }
}

/** The same ring at a new capacity, keeping the newest entries. */
function resized<T>(ring: Ring<T>, capacity: number): Ring<T> {
  const next = new Ring<T>(capacity);
  for (const item of ring.toArray().slice(-capacity)) next.push(item);
  return next;
}

/** The leg, or the DoH server it resolves with, skips certificate verification. */
function isInsecure(leg: LegOptions | undefined): boolean {
  return leg !== undefined && (leg.tls.insecure || (leg.resolve.mode === 'doh' && leg.resolve.doh.tls.insecure));
}
