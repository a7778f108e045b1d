/**
 * pino JSON logs to stdout; one child per leg (`log.child({ leg })`). An error logged under `err`
 * keeps pino's standard shape (type, code, stack with its causes), but its message is
 * `errorText`: pino's own appends every cause's message, and a wrapper that carries its cause's
 * words then reads twice.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/types.js';
import { errorText } from './errors.js';

export type { Logger } from 'pino';

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const serialized = pino.stdSerializers.err(err);
  serialized.message = errorText(err);
  return serialized;
}

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { name: 't3-probe' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });
