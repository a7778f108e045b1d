/**
 * Every metric the probe exports, in one registry per probe (never prom-client's global one, so
 * two probes in one process, or tests, never share state). Legs get a small bound handle per leg
 * so the heartbeat hot path never looks labels up.
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { DEFAULT_METRICS_DETAIL, DEFAULT_METRICS_PREFIX, type MetricsDetail } from '../config/defaults.js';
import type { IdleExpiry } from '../errors.js';
import { ChunkPool } from './chunk-pool.js';
import { EXPOSITION_CONTENT_TYPES, exposition, renderExposition, type ExpositionFormat } from './exposition.js';
import { LegSeriesStore, type LegLayoutSpec } from './leg-series.js';
import { registerProcessMetrics } from './process-metrics.js';
import { CONNECT_PHASES, HEARTBEAT_RESULTS, PRECREATED_HEARTBEAT_RESULTS, type ConnectPhase, type LegMetrics } from './leg-vocabulary.js';

export { CONNECT_PHASES, HEARTBEAT_RESULTS, PRECREATED_HEARTBEAT_RESULTS } from './leg-vocabulary.js';
export type { ConnectPhase, HeartbeatResult, LegMetrics } from './leg-vocabulary.js';

/** Series per leg the default detail must stay within (test/metrics-series.test.ts holds it there). */
export const MAX_DEFAULT_SERIES_PER_LEG = 40;

/** 0.5 ms (loopback) to 30 s (a WAN leg in trouble). */
export const RTT_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

/**
 * The default detail's RTT buckets: the same ends (0.5 ms, 30 s) so histogram_quantile() resolves
 * loopback and WAN alike, a bucket per 2-2.5x in the ms range where heartbeats live, coarser above.
 */
export const RTT_BUCKETS_DEFAULT_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 30] as const;

/** Connection phases need less resolution than RTT: each is observed once per connect. */
export const CONNECT_BUCKETS_S = [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10] as const;

/**
 * Buckets placed in pairs around well-known idle timeouts, so the lifetime histogram fingerprints
 * the middlebox that cut the connection: Cloudflare 270 s / 400 s, cloud LBs 350 s, IPVS 900 s.
 */
export const LIFETIME_BUCKETS_S = [
  1, 5, 10, 30, 60, 120, 180, 240, 265, 275, 300, 345, 355, 395, 405, 600, 895, 905, 1200, 1800, 3600, 7200,
  14_400, 43_200, 86_400,
] as const;

/**
 * survived: the echo came back; expired: the idle connection was dead while its control
 * connection to the same far end stayed up; inconclusive: both died (the far end went away).
 */
export const IDLE_CHECK_RESULTS = ['survived', 'expired', 'inconclusive'] as const;
export type IdleCheckResult = (typeof IDLE_CHECK_RESULTS)[number];
export const IDLE_EXPIRIES = ['silent', 'reset', 'closed'] as const satisfies readonly IdleExpiry[];

/**
 * The default detail's lifetime buckets: the pairs that fingerprint an idle timeout (Cloudflare
 * 270 s / 400 s, cloud LBs 350 s, IPVS 900 s), and a day. The day is also what keeps a leg small:
 * prom-client keeps a histogram's buckets in an object keyed by bound, and with integer bounds
 * that all lie below about a thousand V8 stores them as a dense array as long as the largest
 * bound (905 slots: +7 to +9 KiB of heap per leg, measured); a far bound makes it a small dictionary.
 */
export const LIFETIME_BUCKETS_DEFAULT_S = [265, 275, 345, 355, 395, 405, 895, 905, 86_400] as const;

/** The extra series of an idle leg. */
export interface IdleLegMetrics {
  /** The connection went (or stopped being) idle; undefined clears the idle-time gauge. */
  setIdleSince(startedNs: bigint | undefined): void;
  recordSurvived(idleSeconds: number): void;
  recordExpired(expiry: IdleExpiry): void;
  /** The idle connection died, but so did the control: no expiry is counted. */
  recordInconclusive(): void;
}

/** The probe's own health: its stalls (src/metrics/stall-monitor.ts) and its event-loop lag. */
export interface StallMetrics {
  /** One stall of the process itself, this long. */
  addStall(seconds: number): void;
}

/** The event-loop delay over the last lag window (perf_hooks.monitorEventLoopDelay). */
export interface EventLoopLag {
  readonly maxSeconds: number;
  readonly p99Seconds: number;
}

export interface ProbeMetricsOptions {
  /** Prefix of every probe metric; default DEFAULT_METRICS_PREFIX (`t3probe_`). Process metrics keep their standard names. */
  readonly prefix?: string;
  /** Register prom-client's default process and Node.js metrics; default true. */
  readonly processMetrics?: boolean;
  /** Series per leg: `default` (<= 40) or `full`; default DEFAULT_METRICS_DETAIL. */
  readonly detail?: MetricsDetail;
}

export class ProbeMetrics {
  readonly registry = new Registry();
  readonly prefix: string;
  readonly detail: MetricsDetail;
  /** Every series with a `leg` label (src/metrics/leg-series.ts). */
  readonly legSeries: LegSeriesStore;
  readonly #reloadSuccess: Gauge;
  readonly #reloadTimestamp: Gauge;

  constructor(options: ProbeMetricsOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX;
    this.prefix = prefix;
    const detail = options.detail ?? DEFAULT_METRICS_DETAIL;
    this.detail = detail;
    const full = detail === 'full';
    const registers = [this.registry];
    const connect = {
      name: `${prefix}connect_seconds`,
      help: `Time spent in each connection phase: dns, tcp, tls, upgrade${full ? '' : ', over all legs (metrics.detail: full splits it per leg)'}.`,
      type: 'histogram' as const,
      buckets: [...CONNECT_BUCKETS_S],
    };
    const spec: LegLayoutSpec = {
      prefix,
      detail,
      connected: { name: `${prefix}connected`, type: 'gauge', help: 'Whether the leg is connected and answering heartbeats (1) or not (0).' },
      disconnects: {
        name: `${prefix}disconnects_total`,
        type: 'counter',
        help: 'Drops per leg and reason: transitions into the down state, each counted once with one reason.',
      },
      rtt: {
        name: `${prefix}rtt_seconds`,
        type: 'histogram',
        help: 'Heartbeat round-trip time (ws legs) or request time (http legs) on the established connection.',
        buckets: full ? RTT_BUCKETS_S : RTT_BUCKETS_DEFAULT_S,
      },
      lifetime: {
        name: `${prefix}connection_lifetime_seconds`,
        type: 'histogram',
        help: 'How long a connection stayed up before it dropped; buckets bracket common idle timeouts (270/350/400/900 s).',
        buckets: full ? LIFETIME_BUCKETS_S : LIFETIME_BUCKETS_DEFAULT_S,
      },
      lastDrop: { name: `${prefix}last_drop_timestamp_seconds`, type: 'gauge', help: 'Unix time of the most recent drop of the leg; 0 if it never dropped.' },
      heartbeats: {
        name: `${prefix}heartbeats_total`,
        type: 'counter',
        help: 'Heartbeats (ws) or requests (http) by result: ok, late, duplicate, garbled, timeout, failed.',
        results: HEARTBEAT_RESULTS,
        precreated: PRECREATED_HEARTBEAT_RESULTS,
      },
      info: {
        name: `${prefix}leg_info`,
        type: 'gauge',
        help: 'Always 1: what each leg is (kind) and stands for in attribution (role: public, internal, serve, idle).',
      },
      connect: full ? { ...connect, phases: CONNECT_PHASES } : undefined,
    };
    // At `default` the connect phases are one histogram over all legs (44 series per probe, not
    // per leg); at `full` they are per leg, in legSeries.
    const connectSeconds = full ? undefined : new Histogram({ ...connect, labelNames: ['phase'] as const, registers });
    this.legSeries = new LegSeriesStore(spec, connectSeconds === undefined ? undefined : (phase: ConnectPhase, seconds: number) => connectSeconds.observe({ phase }, seconds));
    // The names and meaning of Prometheus' own prometheus_config_last_reload_successful and
    // prometheus_config_last_reload_success_timestamp_seconds, so the same alert works.
    this.#reloadSuccess = new Gauge({
      name: `${prefix}config_last_reload_success`,
      help: 'Whether the last config load (start-up, SIGHUP or a change of the file) was applied (1) or rejected (0).',
      registers,
    });
    this.#reloadTimestamp = new Gauge({
      name: `${prefix}config_last_reload_timestamp_seconds`,
      help: 'Unix time of the last config load that was applied (start-up or reload).',
      registers,
    });
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /** A config load was applied (success) or rejected; a rejected one keeps the last success time. */
  recordConfigLoad(success: boolean, atEpochMs = Date.now()): void {
    this.#reloadSuccess.set(success ? 1 : 0);
    if (success) this.#reloadTimestamp.set(atEpochMs / 1000);
  }

  /**
   * Delete every series of a leg that is gone (a reload removed it), from every metric that has a
   * `leg` label, so a dashboard shows no frozen last value and `absent()` alerts fire. Found by
   * label rather than by a list of metrics, so a per-leg metric added later is covered too.
   */
  async removeLeg(leg: string): Promise<void> {
    this.legSeries.remove(leg);
    this.#idle?.forget(leg);
    // getMetricsAsArray is typed as plain objects; they are the metric instances themselves.
    for (const metric of this.registry.getMetricsAsArray() as unknown as Metric[]) {
      const { values } = await metric.get();
      const seen = new Set<string>();
      for (const { labels } of values) {
        if (labels['leg'] !== leg) continue;
        // A histogram's bucket series carry `le`; the series itself is named without it.
        const own = metric instanceof Histogram ? withoutLe(labels) : labels;
        const key = JSON.stringify(own);
        if (seen.has(key)) continue;
        seen.add(key);
        metric.remove(own as Record<string, string | number>);
      }
    }
  }

  /**
   * Bind a leg's series. Every counter series that `increase()` needs is created at 0 here, so
   * alerts work from the first scrape instead of missing the first drop. At the default detail an
   * idle leg exports no RTT histogram: it sees one echo per idle period, and its idle series carry
   * what it is for.
   */
  forLeg(leg: string, info?: { kind: string; role: string }): LegMetrics {
    return this.legSeries.bind(leg, info, info?.kind !== 'idle');
  }

  #idle: IdleSeries | undefined;

  /** Bind the idle series of an idle leg (registered the first time an idle leg exists). */
  forIdleLeg(leg: string): IdleLegMetrics {
    this.#idle ??= new IdleSeries(this.prefix, this.registry, this.detail);
    return this.#idle.bind(leg);
  }

  #stalls: StallMetrics | undefined;

  /**
   * Register the probe's own stall counter and event-loop lag gauges, read from `lag` at scrape
   * time. The counter exists at 0 from the start, so increase() sees the first stall.
   */
  forStalls(lag: () => EventLoopLag): StallMetrics {
    if (this.#stalls !== undefined) return this.#stalls;
    const registers = [this.registry];
    const stalled = new Counter({
      name: `${this.prefix}probe_stall_seconds_total`,
      help: 'Seconds the probe process itself did not run (SIGSTOP, CPU throttling, a GC pause): timer lateness beyond the stall threshold. Drops while it moves are the probe\'s doing, not the path\'s.',
      registers,
    });
    stalled.inc(0);
    new Gauge({
      name: `${this.prefix}event_loop_lag_seconds`,
      help: "The probe's longest event-loop delay over the last 10 s (perf_hooks.monitorEventLoopDelay).",
      registers,
      collect() {
        this.set(lag().maxSeconds);
      },
    });
    new Gauge({
      name: `${this.prefix}event_loop_lag_p99_seconds`,
      help: "The probe's p99 event-loop delay over the last 10 s (perf_hooks.monitorEventLoopDelay).",
      registers,
      collect() {
        this.set(lag().p99Seconds);
      },
    });
    this.#stalls = { addStall: (seconds) => stalled.inc(seconds) };
    return this.#stalls;
  }

  get contentType(): string {
    return EXPOSITION_CONTENT_TYPES.prometheus;
  }

  /** The leg series' chunks, reused from scrape to scrape (chunk-pool.ts). */
  readonly #chunks = new ChunkPool();

  /**
   * The /metrics body in chunks that yield the event loop between them (src/metrics/exposition.ts).
   * A sender gives each Buffer chunk back with `recycle()` once its write has completed.
   */
  exposition(format: ExpositionFormat, signal?: AbortSignal): AsyncGenerator<string | Buffer, void, undefined> {
    return exposition(this.legSeries, this.registry, format, signal, this.#chunks);
  }

  /** A chunk of `exposition()` whose bytes the socket has taken: the next scrape writes into it. */
  recycle(chunk: Uint8Array): void {
    this.#chunks.give(chunk);
  }

  /** Chunks of /metrics allocated so far (tests: a steady scrape allocates none). */
  get chunksAllocated(): number {
    return this.#chunks.allocated;
  }

  /** The whole text at once, written by the same code as /metrics. */
  render(format: ExpositionFormat = 'prometheus'): Promise<string> {
    return renderExposition(this.legSeries, this.registry, format);
  }
}

function withoutLe(labels: Readonly<Record<string, string | number | undefined>>): Record<string, string | number | undefined> {
  const own = { ...labels };
  delete own['le'];
  return own;
}

class IdleSeries {
  readonly #checks: Counter<'leg' | 'result'>;
  readonly #expiries: Counter<'leg' | 'expiry'>;
  /** Only at `full`: at the default detail the longest-survived gauge and the checks carry it. */
  readonly #survived: Histogram<'leg'> | undefined;
  readonly #longest: Gauge<'leg'>;
  /** Idle start per leg; the gauge is computed at scrape time, so it is exact without a ticker. */
  readonly #idleSince = new Map<string, bigint | undefined>();

  constructor(prefix: string, registry: Registry, detail: MetricsDetail) {
    const registers = [registry];
    const idleSince = this.#idleSince;
    this.#checks = new Counter({
      name: `${prefix}idle_checks_total`,
      help: 'Idle legs: post-idle probes by result (survived: the echo came back; expired: the idle connection was dead while its control connection stayed up; inconclusive: the control failed too).',
      labelNames: ['leg', 'result'],
      registers,
    });
    this.#expiries = new Counter({
      name: `${prefix}idle_expiries_total`,
      help: 'Idle legs: how expired connections showed it: silent (no echo, as with IPVS), reset (RST), closed (FIN or close frame).',
      labelNames: ['leg', 'expiry'],
      registers,
    });
    this.#survived =
      detail === 'full'
        ? new Histogram({
            name: `${prefix}idle_survived_seconds`,
            help: 'Idle legs: idle time of each check that survived.',
            labelNames: ['leg'],
            buckets: [...LIFETIME_BUCKETS_S],
            registers,
          })
        : undefined;
    this.#longest = new Gauge({
      name: `${prefix}idle_longest_survived_seconds`,
      help: 'Idle legs: the longest idle time that survived since the probe started.',
      labelNames: ['leg'],
      registers,
    });
    new Gauge({
      name: `${prefix}idle_seconds`,
      help: 'Idle legs: how long the connection has been silent right now (0 while not idle).',
      labelNames: ['leg'],
      registers,
      collect() {
        for (const [leg, since] of idleSince) this.set({ leg }, since === undefined ? 0 : Number(process.hrtime.bigint() - since) / 1e9);
      },
    });
  }

  /** Stop computing the idle-time gauge of a leg that is gone. */
  forget(leg: string): void {
    this.#idleSince.delete(leg);
  }

  bind(leg: string): IdleLegMetrics {
    for (const result of IDLE_CHECK_RESULTS) this.#checks.inc({ leg, result }, 0);
    for (const expiry of IDLE_EXPIRIES) this.#expiries.inc({ leg, expiry }, 0);
    this.#longest.set({ leg }, 0);
    this.#idleSince.set(leg, undefined);
    let longest = 0;
    return {
      setIdleSince: (startedNs) => this.#idleSince.set(leg, startedNs),
      recordSurvived: (idleSeconds) => {
        this.#checks.inc({ leg, result: 'survived' });
        this.#survived?.observe({ leg }, idleSeconds);
        if (idleSeconds > longest) {
          longest = idleSeconds;
          this.#longest.set({ leg }, idleSeconds);
        }
      },
      recordExpired: (expiry) => {
        this.#checks.inc({ leg, result: 'expired' });
        this.#expiries.inc({ leg, expiry });
      },
      recordInconclusive: () => this.#checks.inc({ leg, result: 'inconclusive' }),
    };
  }
}
