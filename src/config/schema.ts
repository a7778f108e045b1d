/**
 * Raw config (parsed YAML or a plain object) to the normalized ProbeConfig. Every key is checked
 * here and nowhere else, and nothing here touches the disk: a tls.ca is checked as a path and
 * handed back unread, for load.ts to read. All problems are collected, not thrown, so load.ts can
 * add the CA files' problems and throw them all together as one PROBE_ERR_CONFIG.
 */
import { resolve as resolvePath } from 'node:path';
import { formatDurationMs } from '../util/duration.js';
import {
  DEFAULT_BACKOFF,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DEADLINE_INTERVALS,
  DEFAULT_DNS_RECHECK_MS,
  DEFAULT_DOH,
  DEFAULT_DROP_HISTORY,
  DEFAULT_INTERVAL_MS,
  DEFAULT_LISTEN,
  DEFAULT_LOG_LEVEL,
  DEFAULT_METRICS_DETAIL,
  DEFAULT_METRICS_PREFIX,
  METRICS_DETAILS,
  LOG_LEVELS,
} from './defaults.js';
import { readEnvOverrides } from './env.js';
import { LEG_ROLES, inferRole } from '../roles.js';
import { ConfigIssues, documentError, formatValue, type IssueSource } from './issues.js';
import {
  ANY_KIND_LEG_KEYS,
  ANY_KIND_SCHEMES,
  BACKOFF_KEYS,
  COMMON_LEG_KEYS,
  DOH_KEYS,
  LOG_KEYS,
  METRICS_KEYS,
  ROOT_KEYS,
  TIMING_KEYS,
  TLS_KEYS,
} from './keys.js';
import { LEG_KIND_NAMES, LEG_KINDS, kindOfKey } from './leg-kinds.js';
import { parseListen } from './listen.js';
import { Section, isMapping } from './section.js';
import type {
  BackoffOptions,
  DohOptions,
  LegOptions,
  ListenAddress,
  ProbeConfig,
  ResolveOptions,
  TlsOptions,
} from './types.js';

export interface NormalizeOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Directory that relative file paths (tls.ca) are resolved against. */
  readonly baseDir: string;
  /** Where the raw config was parsed from, so errors can point into it. Absent for a plain object. */
  readonly source?: IssueSource;
}

const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LEG_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const MAX_DROP_HISTORY = 10_000;
const MAX_LEGS = 10_000;
const MIN_INTERVAL_MS = 10;
/** Timers beyond 2^31-1 ms fire after 1 ms in Node; a day is far below that and far above any sane setting. */
const MAX_TIMER_MS = 86_400_000;

/**
 * A tls.ca the config names, not yet read: validation checks that it is a path, and load.ts reads
 * it (a missing CA must fail the start, not the first connect an hour later).
 */
export interface CaFile {
  /** Whose tls it is: the doh section, or the leg at this index of the config's `legs`. */
  readonly owner: 'doh' | number;
  /** Where it is written, for the error line: "doh.tls.ca", "legs[2].tls.ca". */
  readonly key: string;
  /** The value as written, for the error's `(got ...)`. */
  readonly value: string;
  /** The value resolved against the base directory. */
  readonly path: string;
}

/** What validation found. `config` is only meaningful when `issues` is empty. */
export interface Normalized {
  /** Every tls in it is without `ca`: `caFiles` lists the ones to read. */
  readonly config: ProbeConfig;
  readonly caFiles: readonly CaFile[];
  /** Every problem found; the caller adds the CA files' problems and throws them together. */
  readonly issues: ConfigIssues;
}

/** State shared by one validation: where relative paths start, and the CA files named so far. */
interface Loader {
  readonly baseDir: string;
  readonly caFiles: CaFile[];
  /** For `${NAME}` in header values, so a secret such as the echo token stays out of the file. */
  readonly env: NodeJS.ProcessEnv;
}

/** Timing settings from `defaults`, before any leg overrides them. */
interface LegDefaults {
  readonly intervalMs: number;
  /** Undefined: each leg uses DEFAULT_DEADLINE_INTERVALS × its own interval. */
  readonly deadlineMs: number | undefined;
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffOptions;
}

/**
 * Check every key of `raw` and build the config, without any disk I/O. A config that is not a
 * mapping at all is thrown at once (there is nothing else to check); every other problem is
 * collected in the result's `issues`.
 */
export function normalize(raw: unknown, options: NormalizeOptions): Normalized {
  if (!isMapping(raw)) {
    const reason =
      raw === null || raw === undefined
        ? 'config is empty: expected a mapping with at least a "legs" list'
        : `config must be a mapping of keys such as listen and legs (got ${formatValue(raw)})`;
    throw documentError(options.source?.name, reason);
  }
  const overrides = readEnvOverrides(options.env);
  // A value from an environment variable is not in the text: its error names the variable only.
  const variables = new Set([...overrides.values()].map((override) => override.label));
  const locate = options.source?.locate;
  const issues = new ConfigIssues({
    name: options.source?.name,
    locate: locate === undefined ? undefined : (path, target) => (variables.has(path) ? undefined : locate(path, target)),
  });

  const loader: Loader = { baseDir: options.baseDir, caFiles: [], env: options.env };
  const root = new Section({ issues, overrides }, '', raw);
  root.checkKeys(ROOT_KEYS);

  const listen = readListen(root) ?? { ...DEFAULT_LISTEN };
  const metrics = root.child('metrics');
  metrics.checkKeys(METRICS_KEYS);
  const prefix =
    metrics.string('prefix', METRIC_PREFIX, `must match ${METRIC_PREFIX.source}`) ?? DEFAULT_METRICS_PREFIX;
  const detail = metrics.oneOf('detail', METRICS_DETAILS) ?? DEFAULT_METRICS_DETAIL;
  const log = root.child('log');
  log.checkKeys(LOG_KEYS);
  const level = log.oneOf('level', LOG_LEVELS) ?? DEFAULT_LOG_LEVEL;
  const dropHistory = root.integer('dropHistory', 1, MAX_DROP_HISTORY) ?? DEFAULT_DROP_HISTORY;
  // Checked as a path only: the probe reads it at start, and a missing file is a first start.
  const state = root.read('state', (value, fail) =>
    typeof value === 'string' && value !== '' && !value.endsWith('/') ? resolvePath(options.baseDir, value) : fail('must be a path to a file'),
  );
  const defaults = readLegDefaults(root.child('defaults'));
  const doh = readDohSection(root, loader);
  const legs = readLegs(root, defaults, doh, loader);
  const config = { listen, metrics: { prefix, detail }, log: { level }, dropHistory, ...(state === undefined ? {} : { state }), legs };
  return { config, caFiles: loader.caFiles, issues };
}

function readListen(root: Section): ListenAddress | undefined {
  return root.read('listen', (value, fail) => {
    if (typeof value !== 'string') return fail('must be "host:port"');
    const parsed = parseListen(value);
    return typeof parsed === 'string' ? fail(parsed) : parsed;
  });
}

function readTimer(section: Section, key: string): number | undefined {
  return section.duration(key, { atMostMs: MAX_TIMER_MS });
}

function readInterval(section: Section): number | undefined {
  return section.duration('interval', { atLeastMs: MIN_INTERVAL_MS, atMostMs: MAX_TIMER_MS });
}

function readLegDefaults(section: Section): LegDefaults {
  section.checkKeys(TIMING_KEYS);
  return {
    intervalMs: readInterval(section) ?? DEFAULT_INTERVAL_MS,
    deadlineMs: readTimer(section, 'deadline'),
    connectTimeoutMs: readTimer(section, 'connectTimeout') ?? DEFAULT_CONNECT_TIMEOUT_MS,
    backoff: readBackoff(section.child('backoff'), DEFAULT_BACKOFF),
  };
}

/** Backoff keys merge one by one over `inherited`; max >= min is checked where a key was set. */
function readBackoff(section: Section, inherited: BackoffOptions): BackoffOptions {
  section.checkKeys(BACKOFF_KEYS);
  const minMs = readTimer(section, 'min');
  const maxMs = readTimer(section, 'max');
  const factor = section.read('factor', (value, fail) =>
    typeof value === 'number' && Number.isFinite(value) && value >= 1 ? value : fail('must be a number >= 1'),
  );
  const backoff = { minMs: minMs ?? inherited.minMs, maxMs: maxMs ?? inherited.maxMs, factor: factor ?? inherited.factor };
  if (backoff.maxMs < backoff.minMs) {
    const max = section.field('max');
    const min = section.field('min');
    if (maxMs !== undefined && max !== undefined) {
      section.ctx.issues.invalid(max.path, `must be at least backoff.min (${formatDurationMs(backoff.minMs)})`, max.value);
    } else if (minMs !== undefined && min !== undefined) {
      section.ctx.issues.invalid(min.path, `must be at most backoff.max (${formatDurationMs(backoff.maxMs)})`, min.value);
    }
  }
  return backoff;
}

/**
 * The doh section is read when the file has one or T3PROBE_DOH_URL is set, and is required when a
 * leg uses resolve: doh. A lone T3PROBE_DOH_BOOTSTRAP is still checked, so a typo is not ignored.
 */
function readDohSection(root: Section, loader: Loader): DohOptions | undefined {
  const section = root.child('doh');
  if (root.has('doh') || section.has('url')) return readDoh(section, loader);
  const legs = root.field('legs')?.value;
  const user = Array.isArray(legs) ? legs.findIndex((leg) => isMapping(leg) && leg['resolve'] === 'doh') : -1;
  if (user >= 0) root.ctx.issues.problem('doh', `required because legs[${user}] uses resolve: doh`);
  else section.ip('bootstrap');
  return undefined;
}

function readDoh(section: Section, loader: Loader): DohOptions {
  section.checkKeys(DOH_KEYS);
  section.require('url', 'the DoH endpoint, for example https://cloudflare-dns.com/dns-query');
  const url = section.url('url', ['https:']) ?? '';
  const method = section.oneOf('method', ['GET', 'POST']) ?? DEFAULT_DOH.method;
  const bootstrap = section.ip('bootstrap');
  const timeoutMs = readTimer(section, 'timeout') ?? DEFAULT_DOH.timeoutMs;
  const family =
    section.read('family', (value, fail): 0 | 4 | 6 | undefined => {
      if (value === 4 || value === '4') return 4;
      if (value === 6 || value === '6') return 6;
      return value === 'any' ? 0 : fail('must be 4, 6 or any');
    }) ?? DEFAULT_DOH.family;
  const minTtlMs = section.duration('minTtl', { allowZero: true }) ?? DEFAULT_DOH.minTtlMs;
  const maxTtlMs = section.duration('maxTtl', { allowZero: true }) ?? DEFAULT_DOH.maxTtlMs;
  if (maxTtlMs < minTtlMs) {
    const max = section.field('maxTtl');
    const min = section.field('minTtl');
    if (max !== undefined) section.ctx.issues.invalid(max.path, `must be at least minTtl (${formatDurationMs(minTtlMs)})`, max.value);
    else if (min !== undefined) section.ctx.issues.invalid(min.path, `must be at most maxTtl (${formatDurationMs(maxTtlMs)})`, min.value);
  }
  const tls = readTls(section.child('tls'), loader, 'doh');
  return {
    url,
    method,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    timeoutMs,
    tls,
    family,
    minTtlS: minTtlMs / 1_000,
    maxTtlS: maxTtlMs / 1_000,
  };
}

/** The tls options without `ca`; a valid `ca` is added to `loader.caFiles` for `owner`. */
function readTls(section: Section, loader: Loader, owner: CaFile['owner']): TlsOptions {
  section.checkKeys(TLS_KEYS);
  const ca = section.read('ca', (value, fail) =>
    typeof value === 'string' && value !== '' ? value : fail('must be a path to a PEM file'),
  );
  if (ca !== undefined) {
    loader.caFiles.push({ owner, key: section.keyPath('ca'), value: ca, path: resolvePath(loader.baseDir, ca) });
  }
  return { insecure: section.boolean('insecure') ?? false };
}

/** `${NAME}` in a header value: the environment variable NAME, which must be set and non-empty. */
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function readHeaders(section: Section, env: NodeJS.ProcessEnv): Record<string, string> {
  const headers: [string, string][] = [];
  const seen = new Map<string, string>();
  for (const name of section.keys()) {
    const path = section.keyPath(name);
    if (!HEADER_NAME.test(name)) {
      section.ctx.issues.invalid(path, 'must be a valid HTTP header name', name, 'key');
      continue;
    }
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) {
      section.ctx.issues.problem(path, `duplicate of header "${first}" (header names are case-insensitive)`);
      continue;
    }
    seen.set(name.toLowerCase(), name);
    if (!section.has(name)) {
      section.ctx.issues.invalid(path, 'must be a string', null);
      continue;
    }
    const value = section.read(name, (raw, fail) => {
      if (typeof raw !== 'string') return fail('must be a string (quote numbers and booleans)');
      if (/[\r\n\0]/.test(raw)) return fail('must not contain CR, LF or NUL');
      const unset = [...raw.matchAll(ENV_REFERENCE)].map((m) => m[1] ?? '').filter((name) => (env[name] ?? '') === '');
      if (unset.length > 0) return fail(`references ${unset.map((name) => `\${${name}}`).join(', ')}, not set in the environment`);
      const expanded = raw.replace(ENV_REFERENCE, (_match, name: string) => env[name] ?? '');
      // The expanded value is a secret: the error says what is wrong with it, never what it is.
      return /[\r\n\0]/.test(expanded) ? fail('expands to a value with CR, LF or NUL (from the environment)') : expanded;
    });
    if (value !== undefined) headers.push([name, value]);
  }
  // fromEntries defines own properties, so even a header called __proto__ stays a header.
  return Object.fromEntries(headers);
}

function readLegs(
  root: Section,
  defaults: LegDefaults,
  doh: DohOptions | undefined,
  loader: Loader,
): LegOptions[] {
  const { issues } = root.ctx;
  const field = root.field('legs');
  if (field === undefined) {
    issues.problem('legs', 'required (a list of at least one leg)');
    return [];
  }
  if (!Array.isArray(field.value)) {
    issues.invalid(field.path, 'must be a list of legs', field.value);
    return [];
  }
  const items: readonly unknown[] = field.value;
  if (items.length === 0) issues.invalid(field.path, 'must have at least 1 leg', items);
  if (items.length > MAX_LEGS) issues.invalid(field.path, `must have at most ${MAX_LEGS} legs`, `${items.length} legs`);

  items.forEach((item, index) => {
    const name = isMapping(item) ? item['name'] : undefined;
    if (typeof name === 'string' && LEG_NAME.test(name)) issues.nameLeg(index, name);
  });
  const names = new Map<string, number>();
  const legs: LegOptions[] = [];
  items.forEach((item, index) => {
    const path = `legs[${index}]`;
    if (!isMapping(item)) {
      issues.invalid(path, 'must be a mapping with at least name, kind and url', item);
      return;
    }
    const section = new Section(root.ctx, path, item);
    const leg = readLeg(section, index, defaults, doh, loader);
    const name = section.field('name');
    if (typeof name?.value === 'string') {
      const first = names.get(name.value);
      if (first === undefined) names.set(name.value, index);
      else issues.invalid(name.path, `duplicate of legs[${first}].name`, name.value);
    }
    if (leg !== undefined) legs.push(leg);
  });
  return legs;
}

function readLeg(
  section: Section,
  index: number,
  defaults: LegDefaults,
  doh: DohOptions | undefined,
  loader: Loader,
): LegOptions | undefined {
  section.require('name');
  section.require('kind', `one of ${LEG_KIND_NAMES.join(', ')}`);
  section.require('url');
  const kind = section.oneOf('kind', LEG_KIND_NAMES);
  const spec = kind === undefined ? undefined : LEG_KINDS[kind];
  section.checkKeys(spec === undefined ? ANY_KIND_LEG_KEYS : [...COMMON_LEG_KEYS, ...spec.keys], (key) => {
    const owner = kindOfKey(key);
    return owner === undefined || kind === undefined
      ? undefined
      : `only valid for kind: ${owner} legs (this leg is kind: ${kind})`;
  });

  const name = section.string('name', LEG_NAME, 'must be 1 to 64 characters from A-Z a-z 0-9 _ . -');
  const url = section.url('url', spec === undefined ? ANY_KIND_SCHEMES : spec.schemes);
  const resolve = readResolve(section, doh);
  const intervalMs = readInterval(section) ?? defaults.intervalMs;
  const role = section.oneOf('role', LEG_ROLES);
  const dnsRecheckMs = section.duration('dnsRecheck', { atLeastMs: 100, atMostMs: MAX_TIMER_MS });
  if (dnsRecheckMs !== undefined && resolve.mode !== 'doh') {
    section.ctx.issues.problem(section.keyPath('dnsRecheck'), 'only used with resolve: doh');
  }
  const common = {
    name: name ?? '',
    role: role ?? inferRole({ name: name ?? '', kind: kind ?? 'ws', resolveMode: resolve.mode }),
    url: url ?? '',
    dnsRecheckMs: dnsRecheckMs ?? DEFAULT_DNS_RECHECK_MS,
    intervalMs,
    deadlineMs: readTimer(section, 'deadline') ?? defaults.deadlineMs ?? DEFAULT_DEADLINE_INTERVALS * intervalMs,
    connectTimeoutMs: readTimer(section, 'connectTimeout') ?? defaults.connectTimeoutMs,
    backoff: readBackoff(section.child('backoff'), defaults.backoff),
    resolve,
    // `index` is the leg's place in the config's legs too whenever the config is valid.
    tls: readTls(section.child('tls'), loader, index),
    headers: readHeaders(section.child('headers'), loader.env),
  };
  // Kind-specific keys are read and checked even when a common key failed: the placeholders
  // above never escape, because any reported problem fails the whole load.
  return spec?.build(common, section);
}

function readResolve(section: Section, doh: DohOptions | undefined): ResolveOptions {
  const mode = section.oneOf('resolve', ['system', 'doh']);
  const pin = section.ip('pin');
  if (mode === 'doh') {
    const pinField = section.field('pin');
    if (pinField !== undefined) {
      section.ctx.issues.invalid(pinField.path, 'cannot be combined with resolve: doh (pin skips DNS)', pinField.value);
    }
    // doh is undefined only after "doh: required" was reported, so this leg is never used.
    return doh === undefined ? { mode: 'system' } : { mode: 'doh', doh };
  }
  return pin === undefined ? { mode: 'system' } : { mode: 'pin', address: pin };
}
