/**
 * What each leg kind adds to the keys every leg has. Adding a kind means adding it to LegOptions
 * in types.ts and one entry here; the mapped type below makes the compiler ask for it.
 */
import type { LegKind, LegOptions } from './types.js';
import type { Section } from './section.js';
import { formatDurationMs } from '../util/duration.js';
import { DEFAULT_CLOSE_TIMEOUT_MS } from './defaults.js';

/** The part of a leg that every kind has. */
export type LegCommonOptions = Omit<LegOptions, 'kind'>;

export interface LegKindSpec<K extends LegKind> {
  /** URL schemes this kind accepts, as URL.protocol spells them ("wss:"). */
  readonly schemes: readonly string[];
  /** Config keys only this kind accepts. */
  readonly keys: readonly string[];
  /** Read this kind's own keys from the leg's mapping and finish the leg. */
  build(common: LegCommonOptions, leg: Section): Extract<LegOptions, { kind: K }>;
}

const KiB = 1_024;
const MiB = 1_048_576;
/** Largest WebSocket message for a ws leg's maxPayload and `echo --max-payload`: one range for both ends. */
export const MAX_PAYLOAD_BYTES = 16 * MiB;
/** Longer than IPVS's 900 s, so a default idle leg catches moby/moby#31208. */
export const DEFAULT_IDLE_MS = 960_000;
/** The post-idle probe's deadline unless the leg sets its own `deadline`. */
export const DEFAULT_IDLE_DEADLINE_MS = 5_000;
const MAX_IDLE_MS = 24 * 3_600_000;
/** A close that waits longer than this is not polite, it is stuck (shutdown is bounded anyway). */
const MAX_CLOSE_TIMEOUT_MS = 3_600_000;
/** Fast enough for any real idle timeout; a shorter idle gets a faster control (see below). */
const DEFAULT_CONTROL_INTERVAL_MS = 5_000;
/** Below this a control connection is a load test, not a heartbeat. */
export const MIN_CONTROL_INTERVAL_MS = 100;

/**
 * The control connection's default heartbeat period: 5 s, but never more than a quarter of the
 * shortest idle time (a path that expires that idle must not expire the control too), and never
 * below 100 ms.
 */
export function defaultControlIntervalMs(shortestIdleMs: number): number {
  return Math.max(MIN_CONTROL_INTERVAL_MS, Math.min(DEFAULT_CONTROL_INTERVAL_MS, Math.floor(shortestIdleMs / 4)));
}

export const LEG_KINDS: { readonly [K in LegKind]: LegKindSpec<K> } = {
  ws: {
    schemes: ['ws:', 'wss:'],
    keys: ['maxPayload', 'closeTimeout'],
    build: (common, leg) => ({
      ...common,
      kind: 'ws',
      maxPayloadBytes: leg.size('maxPayload', MAX_PAYLOAD_BYTES) ?? 64 * KiB,
      closeTimeoutMs: leg.duration('closeTimeout', { atMostMs: MAX_CLOSE_TIMEOUT_MS }) ?? DEFAULT_CLOSE_TIMEOUT_MS,
    }),
  },
  http: {
    schemes: ['http:', 'https:'],
    keys: ['maxBody'],
    build: (common, leg) => ({ ...common, kind: 'http', maxBodyBytes: leg.size('maxBody', 64 * MiB) ?? MiB }),
  },
  idle: {
    schemes: ['tcp:', 'ws:', 'wss:'],
    keys: ['idle', 'keepalive', 'controlInterval'],
    build: (common, leg) => {
      // An idle leg has no heartbeat, so interval has no meaning, and the shared deadline default
      // (2 × interval) would be wrong for a single post-idle probe.
      if (leg.has('interval')) leg.ctx.issues.problem(leg.keyPath('interval'), 'not used by kind: idle legs (set idle instead)');
      const url = leg.field('url');
      if (typeof url?.value === 'string' && url.value.startsWith('tcp:') && !/:\d+\/?$/.test(url.value)) {
        leg.ctx.issues.invalid(url.path, 'must name a port, as in tcp://host:port', url.value);
      }
      const keepaliveMs = leg.duration('keepalive', { atLeastMs: 1_000, atMostMs: MAX_IDLE_MS });
      const idleMs = leg.duration('idle', { atLeastMs: 100, atMostMs: MAX_IDLE_MS }) ?? DEFAULT_IDLE_MS;
      // A control that heartbeats about as slowly as the idle connection is silent would hit the
      // same idle timeout and make every expiry inconclusive.
      let controlIntervalMs = leg.duration('controlInterval', { atLeastMs: MIN_CONTROL_INTERVAL_MS, atMostMs: MAX_IDLE_MS });
      const control = leg.field('controlInterval');
      if (controlIntervalMs !== undefined && control !== undefined && controlIntervalMs * 2 > idleMs) {
        leg.ctx.issues.invalid(control.path, `must be at most half of idle (${formatDurationMs(idleMs)})`, control.value);
        controlIntervalMs = undefined;
      }
      return {
        ...common,
        kind: 'idle',
        deadlineMs: leg.has('deadline') ? common.deadlineMs : DEFAULT_IDLE_DEADLINE_MS,
        idleMs,
        controlIntervalMs: controlIntervalMs ?? defaultControlIntervalMs(idleMs),
        ...(keepaliveMs === undefined ? {} : { keepaliveMs }),
      };
    },
  },
};

export const LEG_KIND_NAMES = Object.keys(LEG_KINDS) as LegKind[];

/** Which kind a kind-specific key belongs to, so a misplaced one gets a better message than "unknown". */
export function kindOfKey(key: string): LegKind | undefined {
  return LEG_KIND_NAMES.find((kind) => LEG_KINDS[kind].keys.includes(key));
}
