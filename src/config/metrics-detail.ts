/**
 * `metrics.detail`: `default` keeps a leg at <= 40 series (what the alerts, the runbook,
 * attribution and the dashboard read); `full` adds per-leg connect phases, fine RTT and lifetime
 * buckets, every heartbeat result from the start and the idle survival histogram (109 series per
 * ws leg).
 */
export const METRICS_DETAILS = ['default', 'full'] as const;

export type MetricsDetail = (typeof METRICS_DETAILS)[number];
