/**
 * `attribute --prometheus`: rebuild the drops around a moment from Prometheus' HTTP API.
 *   - t3probe_leg_info gives the legs and their roles;
 *   - the distinct values of t3probe_last_drop_timestamp_seconds over the window are the drop
 *     times, and the disconnects_total counter that moved at the same step gives each reason;
 *   - min_over_time(t3probe_connected) finds legs that were down without a new drop;
 *   - p99 RTT inside the window against the 15 minutes before it finds spikes.
 */
import { ProbeError } from '../errors.js';
import type { Reason } from '../legs/reasons.js';
import { REASONS } from '../legs/reasons.js';
import { LEG_ROLES, type LegRole } from './roles.js';
import type { AttributionDrop, AttributionInput, LegRttEvidence } from './verdict.js';

interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value?: readonly [number, string];
  readonly values?: readonly (readonly [number, string])[];
}

export interface PrometheusSourceOptions {
  readonly url: URL;
  readonly job: string;
  readonly prefix: string;
}

const MAX_POINTS = 10_000;

class PromClient {
  constructor(
    readonly base: URL,
    readonly signal: AbortSignal,
  ) {}

  async #get(path: string, params: Record<string, string>): Promise<Sample[]> {
    const url = new URL(path, this.base.href.endsWith('/') ? this.base : new URL(`${this.base.href}/`));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    let body: { status?: string; error?: string; data?: { result?: Sample[] } };
    try {
      const res = await fetch(url, { signal: this.signal });
      body = (await res.json()) as typeof body;
      if (!res.ok && body.error === undefined) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      const e = err as { message?: string; cause?: { code?: string } };
      throw new ProbeError('PROBE_ERR_SOURCE', `cannot read --prometheus ${this.base.href}: ${e.message ?? String(err)}${e.cause?.code ? ` (${e.cause.code})` : ''}`, {
        cause: err,
      });
    }
    if (body.status !== 'success') {
      throw new ProbeError('PROBE_ERR_SOURCE', `--prometheus ${this.base.href} refused ${params.query ?? ''}: ${body.error ?? 'unknown error'}`);
    }
    return body.data?.result ?? [];
  }

  instant(query: string, atSeconds: number): Promise<Sample[]> {
    return this.#get('api/v1/query', { query, time: atSeconds.toFixed(3) });
  }

  range(query: string, startSeconds: number, endSeconds: number, stepSeconds: number): Promise<Sample[]> {
    return this.#get('api/v1/query_range', { query, start: startSeconds.toFixed(3), end: endSeconds.toFixed(3), step: String(stepSeconds) });
  }
}

export async function readPrometheusSource(
  options: PrometheusSourceOptions,
  at: number,
  windowMs: number,
  signal: AbortSignal,
): Promise<Omit<AttributionInput, 'at' | 'windowMs' | 'burstMs'>> {
  const prom = new PromClient(options.url, signal);
  const p = options.prefix;
  const sel = `{job=${JSON.stringify(options.job)}}`;
  const from = (at - windowMs) / 1000;
  const to = (at + windowMs) / 1000;
  const range = `${Math.ceil((to - from))}s`;

  const info = await prom.instant(`last_over_time(${p}leg_info${sel}[${range}])`, to);
  if (info.length === 0) {
    throw new ProbeError(
      'PROBE_ERR_SOURCE',
      `--prometheus ${options.url.href} has no ${p}leg_info${sel} between ${new Date(from * 1000).toISOString()} and ${new Date(to * 1000).toISOString()}: is the probe scraped as job "${options.job}"?`,
    );
  }
  const legs = info.map((s) => ({
    name: s.metric.leg ?? '',
    role: (LEG_ROLES as readonly string[]).includes(s.metric.role ?? '') ? (s.metric.role as LegRole) : ('public' as const),
  }));

  const step = Math.max(1, Math.ceil((to - from) / MAX_POINTS));
  const [lastDrop, counters, lastInWindow, increases, down, p99, baseline] = await Promise.all([
    prom.range(`${p}last_drop_timestamp_seconds${sel}`, from, to, step),
    prom.range(`${p}disconnects_total${sel}`, from, to, step),
    // Range steps can fall short of the window's end; the newest drop inside it is never missed.
    prom.instant(`max_over_time(${p}last_drop_timestamp_seconds${sel}[${range}])`, to),
    prom.instant(`increase(${p}disconnects_total${sel}[${range}]) > 0`, to),
    prom.instant(`min_over_time(${p}connected${sel}[${range}]) == 0`, to),
    prom.instant(`histogram_quantile(0.99, sum by (leg, le) (rate(${p}rtt_seconds_bucket${sel}[${range}])))`, to),
    prom.instant(`histogram_quantile(0.99, sum by (leg, le) (rate(${p}rtt_seconds_bucket${sel}[15m])))`, from),
  ]);

  const drops: AttributionDrop[] = [];
  for (const series of lastDrop) {
    const leg = series.metric.leg ?? '';
    const points = series.values ?? [];
    const reasonSeries = counters.filter((c) => c.metric.leg === leg);
    for (let i = 1; i < points.length; i++) {
      const [stepAt, value] = points[i] ?? [0, '0'];
      const previous = points[i - 1]?.[1];
      if (value === previous) continue;
      const dropAt = Number(value) * 1000;
      if (!(dropAt >= at - windowMs && dropAt <= at + windowMs)) continue;
      const reasons = reasonSeries.filter((c) => increasedAt(c, stepAt)).map((c) => c.metric.reason ?? 'error');
      const reason = (reasons.find((r) => (REASONS as readonly string[]).includes(r)) ?? 'error') as Reason;
      drops.push({ leg, reason, at: dropAt, lastRttSeconds: null });
    }
  }
  for (const series of lastInWindow) {
    const leg = series.metric.leg ?? '';
    const dropAt = (numberOf(series) ?? 0) * 1000;
    if (!(dropAt >= at - windowMs && dropAt <= at + windowMs) || drops.some((d) => d.leg === leg && d.at === dropAt)) continue;
    const reasons = increases.filter((c) => c.metric.leg === leg).sort((a, b) => (numberOf(b) ?? 0) - (numberOf(a) ?? 0));
    const reason = (reasons.map((c) => c.metric.reason).find((r) => (REASONS as readonly (string | undefined)[]).includes(r)) ?? 'error') as Reason;
    drops.push({ leg, reason, at: dropAt, lastRttSeconds: null });
  }
  drops.sort((a, b) => a.at - b.at);
  const downLegs = down.map((s) => s.metric.leg ?? '').filter((leg) => !drops.some((d) => d.leg === leg));
  const base = new Map(baseline.map((s) => [s.metric.leg ?? '', numberOf(s)]));
  const rtt: LegRttEvidence[] = p99.map((s) => ({ leg: s.metric.leg ?? '', p99Seconds: numberOf(s), baselineP99Seconds: base.get(s.metric.leg ?? '') ?? null }));
  return { legs, drops, downLegs, rtt };
}

/** Whether a counter series went up at the step ending at `stepAt`. */
function increasedAt(series: Sample, stepAt: number): boolean {
  const values = series.values ?? [];
  const i = values.findIndex(([t]) => t === stepAt);
  if (i <= 0) return false;
  return Number(values[i]?.[1]) > Number(values[i - 1]?.[1]);
}

function numberOf(sample: Sample): number | null {
  const n = Number(sample.value?.[1]);
  return Number.isFinite(n) ? n : null;
}
