/**
 * Every key the config accepts, as the lists the validator checks against (src/config/schema.ts),
 * and the whole tree of them (`configKeys`), so the README's key table is tested against the same
 * lists.
 */
import { LEG_KIND_NAMES, LEG_KINDS } from './leg-kinds.js';

export const ROOT_KEYS = ['listen', 'metrics', 'log', 'dropHistory', 'state', 'defaults', 'doh', 'legs'];
export const METRICS_KEYS = ['prefix', 'detail'];
export const LOG_KEYS = ['level'];
export const TIMING_KEYS = ['interval', 'deadline', 'connectTimeout', 'backoff'];
export const BACKOFF_KEYS = ['min', 'max', 'factor'];
export const DOH_KEYS = ['url', 'method', 'bootstrap', 'timeout', 'family', 'minTtl', 'maxTtl', 'tls'];
export const TLS_KEYS = ['ca', 'insecure'];
export const COMMON_LEG_KEYS = ['name', 'kind', 'role', 'url', 'resolve', 'pin', 'dnsRecheck', ...TIMING_KEYS, 'tls', 'headers'];
export const ANY_KIND_LEG_KEYS = [...COMMON_LEG_KEYS, ...LEG_KIND_NAMES.flatMap((kind) => LEG_KINDS[kind].keys)];
export const ANY_KIND_SCHEMES = [...new Set(LEG_KIND_NAMES.flatMap((kind) => LEG_KINDS[kind].schemes))];
/** The keys of a nested mapping, by the key that holds it wherever it appears: the lists above. */
const MAPPING_KEYS: Readonly<Record<string, readonly string[]>> = {
  metrics: METRICS_KEYS,
  log: LOG_KEYS,
  defaults: TIMING_KEYS,
  backoff: BACKOFF_KEYS,
  doh: DOH_KEYS,
  tls: TLS_KEYS,
};

/** A key the config accepts, by its path (`legs[].tls.ca`). */
export interface ConfigKey {
  readonly path: string;
  /** A mapping (or, for `legs`, a list) whose own keys are listed too. */
  readonly nested: boolean;
}

/**
 * Every key the config accepts, derived from the lists above, which the checks use, so the README's key
 * table can be tested against the schema itself. Keys of one leg kind are listed as `legs[].key`.
 */
export function configKeys(): ConfigKey[] {
  const keys: ConfigKey[] = [];
  const walk = (prefix: string, names: readonly string[]): void => {
    for (const name of names) {
      const path = `${prefix}${name}`;
      const nested = name === 'legs' ? ANY_KIND_LEG_KEYS : MAPPING_KEYS[name];
      keys.push({ path, nested: nested !== undefined });
      if (nested !== undefined) walk(name === 'legs' ? 'legs[].' : `${path}.`, nested);
    }
  };
  walk('', ROOT_KEYS);
  return keys;
}
