/**
 * One mapping of the raw config, with its key path, and typed readers for its keys. A reader
 * records a problem and returns undefined when a value is wrong, so reading goes on and every
 * problem is reported at once. Environment overrides are looked up here, so they are validated
 * exactly like the file's values and their errors name the variable.
 */
import { isIP } from 'node:net';
import { formatDurationMs, parseDurationMs } from '../util/duration.js';
import type { Override } from './env.js';
import type { ConfigIssues } from './issues.js';
import { formatBytes, parseByteSize } from './size.js';
import { orList } from '../util/or-list.js';
import { unknownKeyReason } from '../util/suggest.js';

export interface ReadContext {
  readonly issues: ConfigIssues;
  /** By key path ("log.level"); an override replaces the file's value. */
  readonly overrides: ReadonlyMap<string, Override>;
}

/** A value that is present, and the path (or variable name) to blame if it is wrong. */
export interface Field {
  readonly path: string;
  readonly value: unknown;
}

/** Records `reason` against the field being read (showing `got`, by default the value) and returns undefined. */
export type Fail = (reason: string, got?: unknown) => undefined;

export interface DurationRule {
  /** Accept 0 (for TTL clamps). Otherwise a duration must be greater than 0. */
  readonly allowZero?: boolean;
  readonly atLeastMs?: number;
  readonly atMostMs?: number;
}

export function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Section {
  readonly ctx: ReadContext;
  /** "" for the root, "legs[0].backoff" for a nested mapping. */
  readonly path: string;
  readonly #values: Readonly<Record<string, unknown>>;

  constructor(ctx: ReadContext, path: string, values: Readonly<Record<string, unknown>>) {
    this.ctx = ctx;
    this.path = path;
    this.#values = values;
  }

  keyPath(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** Keys the file has at this level, in file order. */
  keys(): string[] {
    return Object.keys(this.#values);
  }

  /** The value under `key`. An empty YAML value (`key:`) counts as absent, so the default applies. */
  field(key: string): Field | undefined {
    const override = this.ctx.overrides.get(this.keyPath(key));
    if (override !== undefined) return { path: override.label, value: override.value };
    if (!Object.hasOwn(this.#values, key)) return undefined;
    const value = this.#values[key];
    return value === null || value === undefined ? undefined : { path: this.keyPath(key), value };
  }

  has(key: string): boolean {
    return this.field(key) !== undefined;
  }

  /** Report `key` as required if it is absent. */
  require(key: string, hint = ''): void {
    if (!this.has(key)) this.ctx.issues.problem(this.keyPath(key), `required${hint === '' ? '' : ` (${hint})`}`);
  }

  /** The mapping under `key`: empty when absent, and empty (after reporting it) when not a mapping. */
  child(key: string): Section {
    const field = this.field(key);
    if (field === undefined) return new Section(this.ctx, this.keyPath(key), {});
    if (isMapping(field.value)) return new Section(this.ctx, field.path, field.value);
    this.ctx.issues.invalid(field.path, 'must be a mapping', field.value);
    return new Section(this.ctx, field.path, {});
  }

  /**
   * Report every key not in `valid`, suggesting the nearest valid one. `misplaced` may explain a
   * key that is valid elsewhere (for example a key of another leg kind) instead.
   */
  checkKeys(valid: readonly string[], misplaced?: (key: string) => string | undefined): void {
    for (const key of this.keys()) {
      if (valid.includes(key)) continue;
      // An empty key (`? : x`, `"": x`) at the root would be path "", which means the whole document.
      this.ctx.issues.problem(this.keyPath(key === '' ? '""' : key), misplaced?.(key) ?? unknownKeyReason(key, valid));
    }
  }

  /** Read `key` with `parse`, which calls `fail` for a wrong value. Undefined when absent or wrong. */
  read<T>(key: string, parse: (value: unknown, fail: Fail) => T | undefined): T | undefined {
    const field = this.field(key);
    if (field === undefined) return undefined;
    return parse(field.value, (reason, ...got: unknown[]) => {
      this.ctx.issues.invalid(field.path, reason, got.length > 0 ? got[0] : field.value);
      return undefined;
    });
  }

  /** Milliseconds. Accepts "500ms", "2s", "1h30m", or a number of seconds. */
  duration(key: string, rule: DurationRule = {}): number | undefined {
    return this.read(key, (value, fail) => {
      const ms = typeof value === 'string' || typeof value === 'number' ? parseDurationMs(value) : undefined;
      if (ms === undefined || !Number.isFinite(ms)) {
        return fail(rule.allowZero === true ? 'must be a duration' : 'must be a duration greater than 0');
      }
      if (ms === 0 && rule.allowZero !== true) return fail('must be a duration greater than 0');
      if (rule.atLeastMs !== undefined && ms < rule.atLeastMs) {
        return fail(`must be a duration of at least ${formatDurationMs(rule.atLeastMs)}`);
      }
      if (rule.atMostMs !== undefined && ms > rule.atMostMs) {
        return fail(`must be a duration of at most ${formatDurationMs(rule.atMostMs)}`);
      }
      return ms;
    });
  }

  integer(key: string, min: number, max: number): number | undefined {
    return this.read(key, (value, fail) =>
      typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
        ? value
        : fail(`must be an integer from ${min} to ${max}`),
    );
  }

  boolean(key: string): boolean | undefined {
    return this.read(key, (value, fail) => (typeof value === 'boolean' ? value : fail('must be true or false')));
  }

  oneOf<const T extends string>(key: string, allowed: readonly T[]): T | undefined {
    return this.read(key, (value, fail) =>
      allowed.find((candidate) => candidate === value) ?? fail(`must be one of ${allowed.join(', ')}`),
    );
  }

  /** A string matching `pattern`; `reason` says what that pattern means. */
  string(key: string, pattern: RegExp, reason: string): string | undefined {
    return this.read(key, (value, fail) => (typeof value === 'string' && pattern.test(value) ? value : fail(reason)));
  }

  /** An IPv4 or IPv6 literal, without brackets. */
  ip(key: string): string | undefined {
    return this.read(key, (value, fail) =>
      typeof value === 'string' && isIP(value) !== 0 ? value : fail('must be an IP address'),
    );
  }

  /**
   * An absolute URL with one of `schemes` (as URL.protocol spells them: "wss:"), no credentials and
   * no fragment. Returns the normalized href.
   */
  url(key: string, schemes: readonly string[]): string | undefined {
    return this.read(key, (value, fail) => {
      const wanted = `must be a URL starting with ${orList(schemes.map((scheme) => `${scheme}//`))}`;
      if (typeof value !== 'string') return fail(wanted);
      // The scheme message only when the scheme really is wrong or missing; past it, say what is.
      const scheme = URL_SCHEME.exec(value)?.[0].toLowerCase();
      if (scheme === undefined || !schemes.includes(scheme)) return fail(wanted);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return fail(whyNotUrl(value.slice(scheme.length)));
      }
      if (!schemes.includes(url.protocol)) return fail(wanted);
      if (url.username !== '' || url.password !== '') {
        if (url.password !== '') url.password = '***';
        return fail('must not contain a username or password (send credentials in headers)', url.href);
      }
      if (url.href.includes('#')) return fail('must not have a #fragment');
      return url.href;
    });
  }

  /** Whole bytes from 1 to `max`: 65536, "64KiB", "1MiB", "1KB" (1000). */
  size(key: string, max: number): number | undefined {
    return this.read(key, (value, fail) => {
      const bytes = typeof value === 'string' || typeof value === 'number' ? parseByteSize(value) : undefined;
      return bytes !== undefined && bytes >= 1 && bytes <= max ? bytes : fail(`must be a size from 1B to ${formatBytes(max)}`);
    });
  }
}

/** RFC 3986 scheme, with its colon. */
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const MAX_PORT = 65_535;

/**
 * Why `new URL` refused a URL whose scheme is fine (it only says "Invalid URL"). `rest` is what
 * follows the scheme. The host is tried alone in an http: URL, whose host rules ws: and wss: share.
 */
function whyNotUrl(rest: string): string {
  const authority = /^\/*([^/?#]*)/.exec(rest)?.[1] ?? '';
  const [host, port] = splitHostPort(authority.slice(authority.lastIndexOf('@') + 1));
  if (host === '') return 'has no host';
  if (!URL.canParse(`http://${host}/`)) return `has an invalid host ${JSON.stringify(host)}`;
  if (!/^\d*$/.test(port) || Number(port) > MAX_PORT) return `has an invalid port ${JSON.stringify(port)} (must be from 0 to ${MAX_PORT})`;
  return 'is not a valid URL';
}

/** The port follows the last colon, or the closing bracket of an IPv6 literal. */
function splitHostPort(hostPort: string): [host: string, port: string] {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    return close < 0 ? [hostPort, ''] : [hostPort.slice(0, close + 1), hostPort.slice(close + 1).replace(/^:/, '')];
  }
  const colon = hostPort.lastIndexOf(':');
  return colon < 0 ? [hostPort, ''] : [hostPort.slice(0, colon), hostPort.slice(colon + 1)];
}
