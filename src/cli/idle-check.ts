import { fstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/defaults.js';
import { DEFAULT_IDLE_DEADLINE_MS, DEFAULT_IDLE_MS, MIN_CONTROL_INTERVAL_MS, defaultControlIntervalMs } from '../config/leg-kinds.js';
import { ProbeError, isProbeError } from '../errors.js';
import { idleLadder } from '../idle-check/ladder.js';
import { formatReport, formatRung } from '../idle-check/report.js';
import { FirstConnectionError, runIdleCheck, type Expectation } from '../idle-check/run.js';
import { formatDurationMs, parseDurationMs } from '../util/duration.js';
import { durationArg, parseCommand, positiveIntArg } from './args.js';
import { DEFAULT_EXPECTATION, DEFAULT_SWEEP_STEPS, MAX_SWEEP_STEPS } from './defaults.js';
import { IDLE_CHECK_USAGE } from './usage.js';

/**
 * With --json, stdout carries exactly one JSON object whatever happens: the report, or
 * `{ error, code }` for a usage error (flag parsing included), a failed first connection or
 * anything else, with the same exit codes as without --json.
 */
export async function idleCheckCommand(argv: readonly string[]): Promise<number> {
  // Read before parsing: a flag parsing error must still come out as JSON.
  const json = argv.includes('--json');
  try {
    return await idleCheck(argv);
  } catch (err) {
    if (err instanceof FirstConnectionError) {
      process.stderr.write(`t3-probe idle-check: ${err.message}\n`);
      if (json) writeJsonError(err);
      return 2;
    }
    if (!json) throw err;
    const usage = isProbeError(err) && (err.code === 'PROBE_ERR_USAGE' || err.code === 'PROBE_ERR_CONFIG');
    process.stderr.write(`t3-probe idle-check: ${(err as Error).message}\n`);
    writeJsonError(err);
    return usage ? 2 : 1;
  }
}

function writeJsonError(err: unknown): void {
  const code = (err as { code?: unknown }).code;
  process.stdout.write(`${JSON.stringify({ error: (err as Error).message ?? String(err), code: typeof code === 'string' ? code : 'UNKNOWN' }, null, 2)}\n`);
}

/**
 * When stdout and stderr are one terminal, a rung line on stderr as it finishes and the same line
 * in the report on stdout would show every rung twice: then only the report lists them. Piped or
 * redirected, stderr keeps streaming rungs as they finish (logs of a long CI run want them).
 */
export function echoRungsToStderr(): boolean {
  if (process.stdout.isTTY !== true || process.stderr.isTTY !== true) return true;
  try {
    return fstatSync(1).rdev !== fstatSync(2).rdev;
  } catch {
    return false;
  }
}

async function idleCheck(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      target: { type: 'string' },
      idle: { type: 'string' },
      deadline: { type: 'string' },
      keepalive: { type: 'string' },
      expect: { type: 'string' },
      sweep: { type: 'string' },
      steps: { type: 'string' },
      pin: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      'connect-timeout': { type: 'string' },
      'control-interval': { type: 'string' },
      json: { type: 'boolean' },
    },
    IDLE_CHECK_USAGE,
  );
  if (values === undefined) return 0;
  if (values.target === undefined) throw new ProbeError('PROBE_ERR_USAGE', '--target is required (tcp://host:port, ws://host/path or wss://host/path)');
  const target = parseTarget(values.target);
  const expect = (values.expect ?? DEFAULT_EXPECTATION) as Expectation;
  if (expect !== 'survive' && expect !== 'expire') {
    throw new ProbeError('PROBE_ERR_USAGE', `--expect: must be survive or expire (got ${JSON.stringify(values.expect)})`);
  }
  if (values.sweep !== undefined && values.idle !== undefined) throw new ProbeError('PROBE_ERR_USAGE', '--idle and --sweep are alternatives: give one');
  if (values.sweep === undefined && values.steps !== undefined) throw new ProbeError('PROBE_ERR_USAGE', '--steps only applies to --sweep');
  let idlesMs: number[];
  if (values.sweep !== undefined) {
    const [min, max, ...rest] = values.sweep.split('..');
    const minMs = min === undefined ? undefined : parseDurationMs(min);
    const maxMs = max === undefined ? undefined : parseDurationMs(max);
    if (rest.length > 0 || minMs === undefined || maxMs === undefined || minMs <= 0 || maxMs < minMs) {
      throw new ProbeError('PROBE_ERR_USAGE', `--sweep: must be MIN..MAX with 0 < MIN <= MAX, such as 30s..1200s (got ${JSON.stringify(values.sweep)})`);
    }
    const steps = positiveIntArg('--steps', values.steps) ?? DEFAULT_SWEEP_STEPS;
    if (steps > MAX_SWEEP_STEPS) throw new ProbeError('PROBE_ERR_USAGE', `--steps: at most ${MAX_SWEEP_STEPS} connections (got ${steps})`);
    idlesMs = idleLadder(minMs, maxMs, steps);
  } else {
    // The defaults of an idle leg: one check is one cycle of a leg with the same settings.
    idlesMs = [durationArg('--idle', values.idle) ?? DEFAULT_IDLE_MS];
  }
  const deadlineMs = durationArg('--deadline', values.deadline) ?? DEFAULT_IDLE_DEADLINE_MS;
  const keepaliveMs = durationArg('--keepalive', values.keepalive);
  const connectTimeoutMs = durationArg('--connect-timeout', values['connect-timeout']) ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const shortestMs = Math.min(...idlesMs);
  const controlIntervalMs = durationArg('--control-interval', values['control-interval']) ?? defaultControlIntervalMs(shortestMs);
  if (values['control-interval'] !== undefined) {
    const got = JSON.stringify(values['control-interval']);
    if (controlIntervalMs < MIN_CONTROL_INTERVAL_MS) {
      throw new ProbeError('PROBE_ERR_USAGE', `--control-interval: must be at least ${formatDurationMs(MIN_CONTROL_INTERVAL_MS)} (got ${got})`);
    }
    // The control must heartbeat well inside any idle timeout the idle connections may hit.
    if (controlIntervalMs * 2 > shortestMs) {
      throw new ProbeError('PROBE_ERR_USAGE', `--control-interval: must be at most half the shortest idle (${formatDurationMs(shortestMs)}) (got ${got})`);
    }
  }
  if (values.pin !== undefined && net.isIP(values.pin) === 0) {
    throw new ProbeError('PROBE_ERR_USAGE', `--pin: must be an IP address (got ${JSON.stringify(values.pin)})`);
  }
  const ca = values.ca === undefined ? undefined : await readCa(values.ca);

  const longestMs = Math.max(...idlesMs);
  const started = performance.now();
  const progressEveryMs = Math.min(60_000, Math.max(1_000, longestMs / 10));
  let done = 0;
  // A 16-minute wait with no output looks hung: say where we are, on stderr.
  const progress = setInterval(() => {
    const elapsed = performance.now() - started;
    process.stderr.write(
      `idle-check: ${formatDurationMs(elapsed)} of ${formatDurationMs(longestMs + deadlineMs)} elapsed, ${done}/${idlesMs.length} checked\n`,
    );
  }, progressEveryMs);
  progress.unref();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new ProbeError('PROBE_ERR_CLOSED', 'interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stderr.write(
    `idle-check: ${idlesMs.length} connection(s) to ${target.href}, idle ${idlesMs.map((ms) => formatDurationMs(ms)).join(', ')}; ` +
      `the answer comes in about ${formatDurationMs(longestMs + deadlineMs)}\n`,
  );
  const echoRungs = echoRungsToStderr();
  try {
    const report = await runIdleCheck(
      {
        target,
        idlesMs,
        deadlineMs,
        connectTimeoutMs,
        controlIntervalMs,
        expect,
        tls: { insecure: values.insecure === true, ...(ca === undefined ? {} : { ca }) },
        ...(keepaliveMs === undefined ? {} : { keepaliveMs }),
        ...(values.pin === undefined ? {} : { pin: values.pin }),
      },
      abort.signal,
      (rung, n) => {
        done = n;
        if (echoRungs) process.stderr.write(`${formatRung(rung)}\n`);
      },
    );
    process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    // The text report says so itself; a JSON run's log should too.
    if (values.json === true && report.inconclusive && report.control !== null) {
      process.stderr.write(`idle-check: inconclusive: the control connection dropped too, at ${report.control.failedAt}: the far end or the whole path went away\n`);
    }
    return report.ok ? 0 : 1;
  } finally {
    clearInterval(progress);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function parseTarget(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProbeError('PROBE_ERR_USAGE', `--target: must be a URL such as tcp://host:port or ws://host/path (got ${JSON.stringify(text)})`);
  }
  if (!['tcp:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new ProbeError('PROBE_ERR_USAGE', `--target: must start with tcp://, ws:// or wss:// (got ${JSON.stringify(text)})`);
  }
  if (url.protocol === 'tcp:' && url.port === '') throw new ProbeError('PROBE_ERR_USAGE', `--target: a tcp:// target needs a port (got ${JSON.stringify(text)})`);
  return url;
}


async function readCa(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ProbeError('PROBE_ERR_USAGE', `--ca: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
