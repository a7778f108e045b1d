import { readProbeSource } from '../attribution/probe-source.js';
import { readPrometheusSource } from '../attribution/prometheus-source.js';
import { formatVerdict } from '../attribution/report.js';
import { attribute, DEFAULT_BURST_MS, DEFAULT_WINDOW_MS } from '../attribution/verdict.js';
import { DEFAULT_METRICS_PREFIX } from '../config/defaults.js';
import { isProbeError, ProbeError } from '../errors.js';
import { durationArg, parseCommand } from './args.js';
import { DEFAULT_PROMETHEUS_JOB } from './defaults.js';
import { ATTRIBUTE_USAGE } from './usage.js';

export async function attributeCommand(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      at: { type: 'string' },
      window: { type: 'string' },
      burst: { type: 'string' },
      probe: { type: 'string' },
      prometheus: { type: 'string' },
      job: { type: 'string' },
      prefix: { type: 'string' },
      json: { type: 'boolean' },
    },
    ATTRIBUTE_USAGE,
  );
  if (values === undefined) return 0;
  if ((values.probe === undefined) === (values.prometheus === undefined)) {
    throw new ProbeError('PROBE_ERR_USAGE', 'give exactly one source: --probe http://probe:9464 or --prometheus http://prometheus:9090');
  }
  // One "now" for the whole answer: the window is clamped to it and the sources observed up to it.
  const now = Date.now();
  const at = parseAt(values.at ?? 'now', now);
  const windowMs = durationArg('--window', values.window) ?? DEFAULT_WINDOW_MS;
  const burstMs = durationArg('--burst', values.burst) ?? DEFAULT_BURST_MS;
  const signal = AbortSignal.timeout(30_000);
  try {
    let input;
    let warnings: readonly string[] = [];
    let source: string;
    if (values.probe !== undefined) {
      const url = parseUrl('--probe', values.probe);
      source = `probe ${url.href}`;
      ({ input, warnings } = await readProbeSource(url, at, windowMs, now, signal));
    } else {
      const url = parseUrl('--prometheus', values.prometheus ?? '');
      const job = values.job ?? DEFAULT_PROMETHEUS_JOB;
      source = `Prometheus ${url.href} (job ${job})`;
      input = await readPrometheusSource({ url, job, prefix: values.prefix ?? DEFAULT_METRICS_PREFIX }, at, windowMs, now, signal);
    }
    const verdict = attribute({ ...input, at, windowMs, burstMs, now });
    process.stdout.write(values.json === true ? `${JSON.stringify({ source, warnings, ...verdict }, null, 2)}\n` : formatVerdict(verdict, source, warnings));
    return 0;
  } catch (err) {
    if (isProbeError(err, 'PROBE_ERR_SOURCE')) {
      process.stderr.write(`t3-probe attribute: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function parseAt(text: string, now: number): number {
  if (text === 'now') return now;
  // RFC 3339 needs a date, a time and a zone; Date.parse alone would accept far more.
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) {
    throw new ProbeError('PROBE_ERR_USAGE', `--at: must be "now" or an RFC 3339 time such as 2026-11-22T03:04:05Z (got ${JSON.stringify(text)})`);
  }
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new ProbeError('PROBE_ERR_USAGE', `--at: not a valid time (got ${JSON.stringify(text)})`);
  return ms;
}


function parseUrl(flag: string, value: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // fall through
  }
  throw new ProbeError('PROBE_ERR_USAGE', `${flag}: must be an http(s) URL (got ${JSON.stringify(value)})`);
}
