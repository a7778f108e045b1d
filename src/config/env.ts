/**
 * Environment variables that override single config keys. They are applied on top of the file
 * and validated the same way; an error names the variable instead of the key.
 */
import { LOG_LEVELS, METRICS_DETAILS } from './defaults.js';
import { orList } from '../util/or-list.js';

export interface EnvOverride {
  /** Variable name. */
  readonly env: string;
  /** Config key path it replaces. */
  readonly key: string;
  readonly description: string;
}

export const ENV_OVERRIDES = [
  { env: 'T3PROBE_LISTEN', key: 'listen', description: 'Metrics and /status address, "host:port" or ":port".' },
  { env: 'T3PROBE_LOG_LEVEL', key: 'log.level', description: `Log level: ${orList(LOG_LEVELS)}.` },
  { env: 'T3PROBE_METRICS_PREFIX', key: 'metrics.prefix', description: 'Prefix for every metric name.' },
  { env: 'T3PROBE_METRICS_DETAIL', key: 'metrics.detail', description: `Series per leg: ${orList(METRICS_DETAILS)}.` },
  { env: 'T3PROBE_DOH_URL', key: 'doh.url', description: 'DoH endpoint (https://) for legs with resolve: doh.' },
  { env: 'T3PROBE_DOH_BOOTSTRAP', key: 'doh.bootstrap', description: 'IP address to reach the DoH server at.' },
  { env: 'T3PROBE_INTERVAL', key: 'defaults.interval', description: 'Default heartbeat/request interval for legs that set none.' },
] as const satisfies readonly EnvOverride[];

/** A value from the environment, and the variable name to use in error lines. */
export interface Override {
  readonly label: string;
  readonly value: string;
}

/** The overrides that are set, by config key path. An empty variable counts as unset. */
export function readEnvOverrides(env: NodeJS.ProcessEnv): ReadonlyMap<string, Override> {
  const overrides = new Map<string, Override>();
  for (const { env: name, key } of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') overrides.set(key, { label: name, value });
  }
  return overrides;
}
