/**
 * Every default the config loader fills in, in one place: the loader, the CLI's flags and its help
 * texts all read them from here, and the README's Configuration section documents them.
 * Durations are milliseconds. Kind-specific defaults live with their kind in leg-kinds.ts.
 */
import type { LogLevel } from './log-levels.js';
import type { MetricsDetail } from './metrics-detail.js';
import type { ListenAddress } from './types.js';

export { LOG_LEVELS } from './log-levels.js';
export { METRICS_DETAILS, type MetricsDetail } from './metrics-detail.js';

export const DEFAULT_LISTEN: ListenAddress = { host: '0.0.0.0', port: 9464 };
export const DEFAULT_METRICS_PREFIX = 't3probe_';
export const DEFAULT_METRICS_DETAIL: MetricsDetail = 'default';
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const DEFAULT_DROP_HISTORY = 256;

export const DEFAULT_INTERVAL_MS = 1_000;
/** With no deadline set anywhere, a leg's deadline is this many of its own (effective) intervals. */
export const DEFAULT_DEADLINE_INTERVALS = 2;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** ws legs: how long a close frame may wait for the far end's answer on shutdown. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 1_000;
/** DoH-resolved legs re-resolve this often while connected. */
export const DEFAULT_DNS_RECHECK_MS = 30_000;
export const DEFAULT_BACKOFF = { minMs: 500, maxMs: 30_000, factor: 2 } as const;

export const DEFAULT_DOH = {
  method: 'GET',
  timeoutMs: 5_000,
  family: 0,
  minTtlMs: 0,
  maxTtlMs: 3_600_000,
} as const;

/** `t3-probe demo` and startDemo: the usual port, on loopback only (the demo is not for a network). */
export const DEMO_LISTEN: ListenAddress = { host: '127.0.0.1', port: DEFAULT_LISTEN.port };

/**
 * The probe's own stall detector: a timer ticking every STALL_TICK_MS; a tick later than
 * STALL_THRESHOLD_MS is a stall of the process (SIGSTOP, CPU throttling, a GC pause), and the
 * last STALL_HISTORY of them are kept for /status and attribution.
 */
export const STALL_TICK_MS = 100;
export const STALL_THRESHOLD_MS = 250;
export const STALL_HISTORY = 128;
/**
 * Deadlines discount every tick later than this, not only stalls: under CFS throttling (a 5% CPU
 * limit) each 100 ms period holds ~95 ms the process can't run, every tick is ~95 ms late and none
 * reaches STALL_THRESHOLD_MS, yet a 300 ms deadline would mostly have been spent not running.
 */
export const LATE_TICK_JITTER_MS = 20;
/** Late ticks kept for that discount: 1024 ticks of 100 ms reach back 100 s under constant throttling. */
export const LATE_TICK_HISTORY = 1024;
/**
 * How far back before a drop a stall of the probe still counts as overlapping it: longer than the
 * deadline of any sane leg (default 2 × 1 s). A stall longer ago than this did not decide it.
 */
export const STALL_REACH_MS = 10_000;
