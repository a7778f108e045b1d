/** pino's levels, most severe first; `log.level`, T3PROBE_LOG_LEVEL and --log-level take these. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
