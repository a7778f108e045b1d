/**
 * A probe: the legs of one config, their metrics, the ring of recent drops, and the HTTP server
 * that exposes them. The CLI calls this; this calls the legs.
 */
import type { DohOptions, ProbeConfig } from './config/types.js';
import { completeSince, downSpansOf, stallSpansOf } from './attribution/probe-history.js';
import { attribute, DEFAULT_BURST_MS, DEFAULT_WINDOW_MS, type Verdict } from './attribution/verdict.js';
import { createLeg } from './legs/create-leg.js';
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
  /** Capacity of the stall ring. */
  readonly stallHistory: number;
  /** Seconds the probe itself did not run since it started (t3probe_probe_stall_seconds_total). */
  readonly stalledSecondsTotal: number;
  /** The probe's own stalls (SIGSTOP, CPU throttling, GC), oldest first, at most `stallHistory`. */
  readonly recentStalls: readonly StallEvent[];
}

export class Probe {
  readonly config: ProbeConfig;
  readonly metrics: ProbeMetrics;
  readonly legs: readonly Leg[];
  readonly log: Logger;
  /** The window and burst gap of the verdict in status(). */
  readonly statusWindow = { windowMs: DEFAULT_WINDOW_MS, burstMs: DEFAULT_BURST_MS } as const;
  readonly #drops: Ring<DropEvent>;
  /** This process's own stalls: counted, kept for attribution, and discounted by leg deadlines. */
  readonly #stalls: StallMonitor;
  readonly #dohResolvers = new Map<string, DohResolver>();
  readonly #startedAt = Date.now();
  #server: ProbeServer | undefined;
  /** Leg timers are unref'd; this one ref'd handle is what keeps a started probe's process alive. */
  #keepAlive: NodeJS.Timeout | undefined;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(config: ProbeConfig, options: ProbeOptions = {}) {
    this.config = config;
    this.log = options.logger ?? silentLogger;
    this.metrics = new ProbeMetrics({ prefix: config.metrics.prefix, processMetrics: options.processMetrics ?? true });
    this.#drops = new Ring<DropEvent>(config.dropHistory);
    this.#stalls = new StallMonitor({ metrics: this.metrics, log: this.log });
    this.legs = config.legs.map((legOptions) => {
      const leg = createLeg(legOptions, {
        metrics: this.metrics.forLeg(legOptions.name, { kind: legOptions.kind, role: legOptions.role }),
        log: this.log.child({ leg: legOptions.name }),
        stalls: this.#stalls,
        resolver: createResolver(legOptions.resolve, (doh) => this.#dohResolver(doh)),
        idleMetrics: () => this.metrics.forIdleLeg(legOptions.name),
      });
      leg.on('drop', (event) => this.#drops.push(event));
      return leg;
    });
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
    if (listen) this.#server = await startProbeServer(this, this.config.listen, signal);
    this.#keepAlive = setInterval(() => {}, 1 << 30);
    this.#stalls.start();
    for (const leg of this.legs) leg.start();
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
      observed: [{ from: completeSince(this.#startedAt, drops, this.config.dropHistory), to: now }],
      stalls: stallSpansOf(stalls),
    });
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
      dropHistory: this.config.dropHistory,
      recentDrops,
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
    await Promise.all(this.legs.map((l) => l.close()));
    await Promise.all([...this.#dohResolvers.values()].map((r) => r.close()));
    await this.#server?.close();
    clearInterval(this.#keepAlive);
    this.#stalls.close();
    this.log.info('probe stopped');
  }
}
