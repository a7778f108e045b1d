/** Argument parsing shared by every command: node:util parseArgs, with errors as usage errors. */
import { LOG_LEVELS } from '../config/defaults.js';
import { parseListen } from '../config/listen.js';
import { formatBytes, parseByteSize } from '../config/size.js';
import type { ListenAddress, LogLevel } from '../config/types.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ProbeError } from '../errors.js';
import { parseDurationMs } from '../util/duration.js';
import { nearestWord } from '../util/suggest.js';

/** Run node:util parseArgs (strict) and turn its errors into usage errors (exit 2). */
function asUsageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ProbeError('PROBE_ERR_USAGE', (err as Error).message, { cause: err });
  }
}

export function listenArg(flag: string, value: string | undefined, fallback: ListenAddress): ListenAddress {
  if (value === undefined) return fallback;
  const parsed = parseListen(value);
  if (typeof parsed === 'string') throw new ProbeError('PROBE_ERR_USAGE', `${flag}: ${parsed} (got ${JSON.stringify(value)})`);
  return parsed;
}

export function logLevelArg(value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined) return fallback;
  const level = LOG_LEVELS.find((candidate) => candidate === value);
  if (level === undefined) {
    throw new ProbeError('PROBE_ERR_USAGE', `--log-level: must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return level;
}

export function positiveIntArg(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new ProbeError('PROBE_ERR_USAGE', `${flag}: must be a positive integer (got ${JSON.stringify(value)})`);
  return n;
}

export function durationArg(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) {
    throw new ProbeError('PROBE_ERR_USAGE', `${flag}: must be a duration greater than 0, such as 5s or 16m (got ${JSON.stringify(value)})`);
  }
  return ms;
}

/** Whole bytes from 1 to `max`, in the config's size format and with its message. */
export function sizeArg(flag: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseByteSize(value);
  if (bytes === undefined || bytes < 1 || bytes > max) {
    throw new ProbeError('PROBE_ERR_USAGE', `${flag}: must be a size from 1B to ${formatBytes(max)} (got ${JSON.stringify(value)})`);
  }
  return bytes;
}

type CommandOptions = NonNullable<ParseArgsConfig['options']>;
type CommandConfig<T extends CommandOptions> = { args: string[]; options: T & typeof HELP; strict: true; allowPositionals: false };
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Parse a command's flags (strict, no positionals, plus -h/--help). Prints `usage` and returns
 * undefined for --help; anything malformed is a usage error (exit 2).
 */
export function parseCommand<T extends CommandOptions>(
  argv: readonly string[],
  options: T,
  usage: string,
): ReturnType<typeof parseArgs<CommandConfig<T>>>['values'] | undefined {
  const config: CommandConfig<T> = { args: [...argv], options: { ...options, ...HELP }, strict: true, allowPositionals: false };
  rejectUnknownOptions(argv, config.options);
  const { values } = asUsageErrors(() => parseArgs(config));
  if ((values as { help?: boolean }).help === true) {
    process.stdout.write(usage);
    return undefined;
  }
  return values;
}

/**
 * An unknown option is a usage error that names the nearest valid one (`--chek` -> `--check`) or,
 * when none is near, lists them all. Checked before the strict parse, whose message only says
 * "Unknown option".
 */
function rejectUnknownOptions(argv: readonly string[], options: CommandOptions): void {
  const { tokens } = asUsageErrors(() => parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }));
  for (const token of tokens) {
    if (token.kind !== 'option' || Object.hasOwn(options, token.name)) continue;
    const names = Object.keys(options);
    // A one-letter -x is too short to guess from.
    const suggestion = token.rawName.startsWith('--') ? nearestWord(token.name, names) : undefined;
    throw new ProbeError(
      'PROBE_ERR_USAGE',
      suggestion === undefined
        ? `unknown option ${token.rawName} (valid options: ${names.map((name) => `--${name}`).join(', ')})`
        : `unknown option ${token.rawName}: did you mean --${suggestion}?`,
    );
  }
}
