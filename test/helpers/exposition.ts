/**
 * Read a probe's /metrics text back into samples, for tests that check a value: the same text a
 * scraper reads, whichever store (prom-client or src/metrics/leg-series.ts) holds the series.
 */
import type { ProbeMetrics } from '../../src/metrics/registry.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of an exposition (text format or OpenMetrics); comments and blank lines skipped. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key = '', raw = ''] of (match[2] ?? '').matchAll(LABEL)) labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
export async function sampleSum(metrics: ProbeMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  return parseSamples(await metrics.render())
    .filter((s) => s.name === name && Object.entries(labels).every(([k, want]) => s.labels[k] === want))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The metric families an exposition declares (`# TYPE` lines), with their types. */
export async function familiesOf(metrics: ProbeMetrics): Promise<Map<string, string>> {
  const families = new Map<string, string>();
  for (const [, name = '', type = ''] of (await metrics.render()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(name, type);
  return families;
}
