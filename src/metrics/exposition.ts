/**
 * The /metrics body in the Prometheus text format or OpenMetrics 1.0, written in chunks that give
 * the event loop back between them, so a scrape of thousands of legs never holds up a heartbeat
 * timer for the whole render (issue 12 §1). prom-client still keeps every value (process metrics
 * included); only the text is written here, because its `registry.metrics()` renders every
 * series in one synchronous run.
 */
import type { Metric, MetricValue, Registry } from 'prom-client';
import { escapeHelp, escapeLabelValue, type LegSeriesStore } from './leg-series.js';
import type { ChunkPool } from './chunk-pool.js';
import { ChunkWriter, sampleValueText } from './chunk-writer.js';

export const EXPOSITION_FORMATS = ['prometheus', 'openmetrics'] as const;
export type ExpositionFormat = (typeof EXPOSITION_FORMATS)[number];

export const EXPOSITION_CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/**
 * Sample lines per chunk of the prom-client part (the leg series come in chunks of CHUNK_BYTES):
 * about 80 KB of text, which formats in well under a millisecond, so the event loop is never held
 * long by the writing itself.
 */
export const LINES_PER_CHUNK = 1_000;

/**
 * The writer gives the event loop back once it has run this long. Yielding after every chunk
 * instead made a 23 MiB scrape of 10,000 legs take 25-41 s on a saturated loop (one loop turn per
 * chunk), past Prometheus' scrape timeout; a few ms keeps timers within that of their schedule.
 */
export const WRITE_SLICE_MS = 5;

/**
 * The format the scraper prefers by its Accept header: OpenMetrics 1.0 when it ranks it at least
 * as high as the text format (Prometheus 2.x asks for it first by default), else the text format,
 * which is also the answer to no header or an unparseable one.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'prometheus';
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const [key, value = ''] = param.split('=', 2).map((part) => part.trim());
      if (key === 'q') q = Number(value);
      else if (key === 'version') version = value;
    }
    if (!(q >= 0 && q <= 1)) continue;
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0')) openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text ? 'openmetrics' : 'prometheus';
}

/** What prom-client's `get()` returns per sample; histograms name each sample (`_bucket`, ...). */
type Sample = MetricValue<string> & { readonly metricName?: string };

/**
 * The exposition of every per-leg series in `legs`, then of every metric in `registry`, in chunks
 * of about LINES_PER_CHUNK lines, with a setImmediate whenever the writer has run WRITE_SLICE_MS,
 * so timers due meanwhile run first. The writer yields only between series: a histogram series'
 * buckets, `_sum` and `_count` are read in one go, so they always agree.
 */
export async function* exposition(
  legs: LegSeriesStore,
  registry: Registry,
  format: ExpositionFormat,
  signal?: AbortSignal,
  chunks?: ChunkPool,
): AsyncGenerator<string | Buffer, void, undefined> {
  const openMetrics = format === 'openmetrics';
  let sliceStart = performance.now();
  // The per-leg families: bytes from constant pieces around each leg's label (leg-series.ts),
  // about 64 KiB (some 1,000 lines) per chunk, from `chunks` when given (the sender gives them back).
  const writer = new ChunkWriter(chunks);
  for (const chunk of legs.write(openMetrics, writer)) {
    yield chunk;
    if (performance.now() - sliceStart >= WRITE_SLICE_MS) {
      await nextTurn();
      sliceStart = performance.now();
      signal?.throwIfAborted();
    }
  }
  const rest = writer.take();
  if (rest.length > 0) yield rest;
  let lines: string[] = [];
  let written = 0;
  // getMetricsAsArray is typed as plain objects; they are the metric instances themselves.
  for (const metric of registry.getMetricsAsArray() as unknown as Metric[]) {
    signal?.throwIfAborted();
    const stored = storedValues(metric);
    const got = stored === undefined ? await metric.get() : undefined;
    // prom-client declares `type` as a numeric enum, but at run time it is the type's name ('counter').
    const { name, help, type } = stored ?? { name: got?.name ?? '', help: got?.help ?? '', type: got?.type as unknown as string };
    const values = got?.values ?? [];
    // OpenMetrics names a counter family without `_total` and each of its samples with it.
    const family = openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name;
    lines.push(`# HELP ${family} ${escapeHelp(help, openMetrics)}`, `# TYPE ${family} ${type}`);
    const samples = stored === undefined ? fromGet(values, type === 'counter' && openMetrics ? `${family}_total` : undefined, name) : fromStore(stored, openMetrics);
    for (const series of samples) {
      lines.push(series.text);
      written += series.lines;
      if (written >= LINES_PER_CHUNK) {
        written = 0;
        yield `${lines.join('\n')}\n`;
        lines = [];
        if (performance.now() - sliceStart >= WRITE_SLICE_MS) {
          await nextTurn();
          sliceStart = performance.now();
          signal?.throwIfAborted();
        }
      }
    }
    // The text format separates families with a blank line, as prom-client does; OpenMetrics allows none.
    if (!openMetrics) lines.push('');
  }
  if (openMetrics) lines.push('# EOF');
  yield `${lines.join('\n')}\n`;
}

/** One series as text: a single sample line, or a histogram series' bucket, sum and count lines. */
interface SeriesText {
  readonly text: string;
  readonly lines: number;
}

function* fromGet(values: readonly Sample[], counterSample: string | undefined, name: string): Generator<SeriesText> {
  for (const sample of values) yield { text: `${counterSample ?? sample.metricName ?? name}${formatLabels(sample.labels)} ${sampleValueText(sample.value)}`, lines: 1 };
}

/**
 * prom-client's own store of a metric without a collect() callback, read in place. Its `get()`
 * copies every series into new objects first (a histogram: one object per bucket per leg), in one
 * synchronous run per metric; read here, a leg's lines are written straight from its values, and
 * the writer can yield between legs. The layout is prom-client 15's (`hashMap` of `{ labels,
 * value }`, or `{ labels, bucketValues, sum, count }` with `upperBounds`); anything else falls back
 * to `get()`, and test/metrics-exposition.test.ts checks both give the same samples.
 */
interface StoredMetric {
  readonly name: string;
  readonly help: string;
  /** 'counter', 'gauge' or 'histogram'. */
  readonly type: string;
  readonly entries: readonly StoredEntry[];
  readonly upperBounds: readonly number[] | undefined;
}

interface StoredEntry {
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly value?: number;
  readonly bucketValues?: Readonly<Record<string, number>>;
  readonly sum?: number;
  readonly count?: number;
}

function storedValues(metric: Metric): StoredMetric | undefined {
  const internal = metric as unknown as { name?: unknown; help?: unknown; type?: unknown; collect?: unknown; hashMap?: unknown; upperBounds?: unknown };
  if (internal.collect !== undefined || typeof internal.hashMap !== 'object' || internal.hashMap === null) return undefined;
  if (typeof internal.name !== 'string' || typeof internal.help !== 'string') return undefined;
  const type = internal.type as string;
  const histogram = type === 'histogram';
  if (!histogram && type !== 'counter' && type !== 'gauge') return undefined;
  if (histogram && !Array.isArray(internal.upperBounds)) return undefined;
  return {
    name: internal.name,
    help: internal.help,
    type,
    entries: Object.values(internal.hashMap as Record<string, StoredEntry>),
    upperBounds: histogram ? (internal.upperBounds as number[]) : undefined,
  };
}

function* fromStore(stored: StoredMetric, openMetrics: boolean): Generator<SeriesText> {
  const { name, upperBounds } = stored;
  const counterSample = openMetrics && stored.type === 'counter' ? `${name.replace(/_total$/, '')}_total` : name;
  for (const entry of stored.entries) {
    if (upperBounds === undefined) {
      yield { text: `${counterSample}${formatLabels(entry.labels)} ${sampleValueText(entry.value ?? 0)}`, lines: 1 };
      continue;
    }
    // A leg's buckets, _sum and _count are written together from one read, so they agree.
    const own = formatLabels(entry.labels);
    const rest = own === '' ? '}' : `,${own.slice(1)}`;
    const out: string[] = [];
    let cumulative = 0;
    for (const bound of upperBounds) {
      cumulative += entry.bucketValues?.[bound] ?? 0;
      out.push(`${name}_bucket{le="${sampleValueText(bound)}"${rest} ${sampleValueText(cumulative)}`);
    }
    out.push(`${name}_bucket{le="+Inf"${rest} ${sampleValueText(entry.count ?? 0)}`, `${name}_sum${own} ${sampleValueText(entry.sum ?? 0)}`, `${name}_count${own} ${sampleValueText(entry.count ?? 0)}`);
    yield { text: out.join('\n'), lines: out.length };
  }
}

/** Every chunk of `exposition()` joined: for callers that want the whole text (tests, the CLI). */
export async function renderExposition(legs: LegSeriesStore, registry: Registry, format: ExpositionFormat = 'prometheus'): Promise<string> {
  let text = '';
  for await (const chunk of exposition(legs, registry, format)) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return text;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function formatLabels(labels: Readonly<Record<string, string | number | undefined>>): string {
  let out = '';
  for (const [key, value] of Object.entries(labels)) {
    if (value === undefined) continue;
    out += `${out === '' ? '{' : ','}${key}="${escapeLabelValue(String(value))}"`;
  }
  return out === '' ? '' : `${out}}`;
}
