/**
 * `attribute --prometheus`: rebuild the drops around a moment from Prometheus' HTTP API.
 *   - t3probe_leg_info gives the legs and their roles;
 *   - the distinct values of t3probe_last_drop_timestamp_seconds over the window are the drop
 *     times, and the disconnects_total counter that moved at the same step gives each reason;
 *   - min_over_time(t3probe_connected) finds legs that were down in the window without a new drop,
 *     and t3probe_connected at the window's start finds legs that went down before it;
 *   - the steps with samples of t3probe_leg_info are the time the window is covered;
 *   - p99 RTT inside the window against the 15 minutes before it finds spikes;
 *   - the steps at which t3probe_probe_stall_seconds_total grew are when the probe itself stalled.
 */
import { readBoundedText } from '../util/read-bounded.js';
import { ProbeError, errorText } from '../errors.js';
import type { Reason } from '../reasons.js';
import { REASONS } from '../reasons.js';
import { LEG_ROLES, type LegRole } from '../roles.js';
import { STALL_REACH_MS } from './verdict.js';
import type { AttributionDrop, AttributionInput, LegRttEvidence, ObservedSpan, StallSpan } from './verdict.js';

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
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

interface ApiBody {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly result?: Sample[] };
}

/**
 * A Prometheus API answer is a JSON object with a string `status`; anything else is not one
 * (undefined). Its samples are checked here, once: a result that is not a list of samples (a
 * `metric` of labels, a `value` pair or a `values` list of pairs) gives the reason it is malformed.
 */
function parseApiBody(text: string): ApiBody | string | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || typeof (raw as { status?: unknown }).status !== 'string') return undefined;
  const body = raw as { status: string; error?: unknown; data?: unknown };
  const data = typeof body.data === 'object' && body.data !== null ? (body.data as { result?: unknown }) : undefined;
  const result: Sample[] = [];
  if (data !== undefined && Array.isArray(data.result)) {
    for (const item of data.result as unknown[]) {
      const sample = sampleOf(item);
      if (typeof sample === 'string') return sample;
      result.push(sample);
    }
  }
  return {
    status: body.status,
    ...(typeof body.error === 'string' ? { error: body.error } : {}),
    ...(data !== undefined && Array.isArray(data.result) ? { data: { result } } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One `[unix seconds, "value"]` pair, as Prometheus writes it. */
function isPoint(value: unknown): value is readonly [number, string] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'string';
}

function sampleOf(item: unknown): Sample | string {
  if (!isRecord(item) || !isRecord(item.metric) || !Object.values(item.metric).every((v) => typeof v === 'string')) {
    return 'a sample without a metric of string labels';
  }
  const { metric, value, values } = item as { metric: Record<string, string>; value?: unknown; values?: unknown };
  if (value !== undefined && !isPoint(value)) return 'a sample whose value is not a [time, "value"] pair';
  if (values !== undefined && !(Array.isArray(values) && values.every(isPoint))) return 'a sample whose values are not [time, "value"] pairs';
  return { metric, ...(value === undefined ? {} : { value }), ...(values === undefined ? {} : { values: values }) };
}

class PromClient {
  constructor(
    readonly base: URL,
    readonly signal: AbortSignal,
  ) {}

  async #get(path: string, params: Record<string, string>): Promise<Sample[]> {
    const url = new URL(path, this.base.href.endsWith('/') ? this.base : new URL(`${this.base.href}/`));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: this.signal, headers: { accept: 'application/json' } });
      text = await readBoundedText(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      throw new ProbeError('PROBE_ERR_SOURCE', `cannot read --prometheus ${this.base.href}: ${errorText(err)}`, { cause: err });
    }
    const body = parseApiBody(text);
    if (typeof body === 'string') {
      throw new ProbeError('PROBE_ERR_SOURCE', `--prometheus ${this.base.href} answered GET ${url.pathname} with a malformed result: ${body}`);
    }
    if (body === undefined) {
      // Something answered, but not Prometheus' HTTP API: say what it was, not a JSON parse error.
      const type = res.headers.get('content-type') ?? 'no content type';
      throw new ProbeError(
        'PROBE_ERR_SOURCE',
        `--prometheus ${this.base.href} is not a Prometheus API: GET ${url.pathname} answered HTTP ${res.status} (${type}), not a Prometheus JSON response; give the Prometheus base URL, such as http://prometheus:9090`,
      );
    }
    if (body.status !== 'success') {
      throw new ProbeError('PROBE_ERR_SOURCE', `--prometheus ${this.base.href} refused ${params.query ?? ''}: ${body.error ?? `HTTP ${res.status}`}`);
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
  now: number,
  signal: AbortSignal,
): Promise<Omit<AttributionInput, 'at' | 'windowMs' | 'burstMs' | 'now'>> {
  const prom = new PromClient(options.url, signal);
  const p = options.prefix;
  const sel = `{job=${JSON.stringify(options.job)}}`;
  const from = (at - windowMs) / 1000;
  // Never past the present: nothing after it has been observed.
  const to = Math.min(at + windowMs, now) / 1000;
  // A window that lies wholly in the future has nothing to ask about.
  if (to <= from) return { legs: [], drops: [], observed: [] };
  const range = `${Math.ceil(to - from)}s`;

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
  // Down (connected 0) after at least one drop: a leg still connecting for the first time is not down.
  const down = `(${p}connected${sel} + on (job, instance, leg) (${p}last_drop_timestamp_seconds${sel} == bool 0))`;
  const [lastDrop, counters, lastInWindow, increases, downInside, downAtStart, scraped, p99, baseline, stalled] = await Promise.all([
    prom.range(`${p}last_drop_timestamp_seconds${sel}`, from, to, step),
    prom.range(`${p}disconnects_total${sel}`, from, to, step),
    // Range steps can fall short of the window's end; the newest drop inside it is never missed.
    prom.instant(`max_over_time(${p}last_drop_timestamp_seconds${sel}[${range}])`, to),
    prom.instant(`increase(${p}disconnects_total${sel}[${range}]) > 0`, to),
    prom.instant(`min_over_time(${down}[${range}:${step}s]) == 0`, to),
    // A leg that went down before the window and was still down when it opened was down in it.
    prom.instant(`${down} == 0`, from),
    // Which steps of the window Prometheus has samples for: the coverage.
    prom.range(`count(${p}leg_info${sel})`, from, to, step),
    prom.instant(`histogram_quantile(0.99, sum by (leg, le) (rate(${p}rtt_seconds_bucket${sel}[${range}])))`, to),
    prom.instant(`histogram_quantile(0.99, sum by (leg, le) (rate(${p}rtt_seconds_bucket${sel}[15m])))`, from),
    // From STALL_REACH_MS before the window: a stall just before it can still decide a timeout in it.
    prom.range(`${p}probe_stall_seconds_total${sel}`, from - STALL_REACH_MS / 1000, to, step),
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
      if (!(dropAt >= from * 1000 && dropAt <= to * 1000)) continue;
      const reasons = reasonSeries.filter((c) => increasedAt(c, stepAt)).map((c) => c.metric.reason ?? 'error');
      const reason = (reasons.find((r) => (REASONS as readonly string[]).includes(r)) ?? 'error') as Reason;
      drops.push({ leg, reason, at: dropAt, lastRttSeconds: null });
    }
  }
  for (const series of lastInWindow) {
    const leg = series.metric.leg ?? '';
    const dropAt = (numberOf(series) ?? 0) * 1000;
    if (!(dropAt >= from * 1000 && dropAt <= to * 1000) || drops.some((d) => d.leg === leg && d.at === dropAt)) continue;
    const reasons = increases.filter((c) => c.metric.leg === leg).sort((a, b) => (numberOf(b) ?? 0) - (numberOf(a) ?? 0));
    const reason = (reasons.map((c) => c.metric.reason).find((r) => (REASONS as readonly (string | undefined)[]).includes(r)) ?? 'error') as Reason;
    drops.push({ leg, reason, at: dropAt, lastRttSeconds: null });
  }
  drops.sort((a, b) => a.at - b.at);
  const downLegs = [...new Set([...downInside, ...downAtStart].map((s) => s.metric.leg ?? ''))];
  const base = new Map(baseline.map((s) => [s.metric.leg ?? '', numberOf(s)]));
  const rtt: LegRttEvidence[] = p99.map((s) => ({ leg: s.metric.leg ?? '', p99Seconds: numberOf(s), baselineP99Seconds: base.get(s.metric.leg ?? '') ?? null }));
  return { legs, drops, downLegs, rtt, observed: observedSpans(scraped[0]?.values ?? [], from, to, step), stalls: stallSpans(stalled, step) };
}

/**
 * Where the probe stalled, from its stall counter: each step at which it grew by Δ seconds holds
 * a stall of Δ that ended by that step (the first scrape after a stall is the one that sees it)
 * and began after the previous step, less Δ. The span starts one step before the latest possible
 * start, which is as precise as the step. A drop to a lower value is a restart: Δ is the value.
 */
function stallSpans(series: readonly Sample[], step: number): StallSpan[] {
  const spans: StallSpan[] = [];
  for (const s of series) {
    const points = s.values ?? [];
    for (let i = 1; i < points.length; i++) {
      const [previousAt, previousText] = points[i - 1] ?? [0, '0'];
      const [stepAt, text] = points[i] ?? [0, '0'];
      const value = Number(text);
      const previous = Number(previousText);
      const grew = value >= previous ? value - previous : value;
      if (!(grew > 0) || !Number.isFinite(grew)) continue;
      spans.push({ from: Math.max(previousAt - grew, stepAt - grew - step) * 1000, to: stepAt * 1000, seconds: grew });
    }
  }
  return spans.sort((a, b) => a.from - b.from);
}

/**
 * The stretches of the window that have samples, from a range query's points: consecutive steps
 * form one stretch, which starts at its first point (or at the window start, if that has a point)
 * and lasts one step past its last point (not past the window end).
 */
function observedSpans(points: readonly (readonly [number, string])[], from: number, to: number, step: number): ObservedSpan[] {
  const spans: ObservedSpan[] = [];
  let start: number | undefined;
  let last: number | undefined;
  const flush = (): void => {
    if (start === undefined || last === undefined) return;
    spans.push({ from: (start <= from ? from : start) * 1000, to: Math.min(to, last + step) * 1000 });
  };
  for (const [t] of points) {
    if (last !== undefined && t - last > step * 1.5) {
      flush();
      start = undefined;
    }
    start ??= t;
    last = t;
  }
  flush();
  return spans;
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
