/**
 * Options shared by the WebSocket echo route, its mount and the standalone echo server. The echo
 * server is unauthenticated by design, so every option here is a bound on what a stranger can
 * make it hold. Validated once, here; everything downstream takes `ResolvedEchoOptions`.
 */
import { createHash } from 'node:crypto';
import { ProbeError } from '../errors.js';
import { unknownKeyReason } from '../util/suggest.js';

export interface EchoOptions {
  /** Largest WebSocket message accepted; a bigger one closes the client with 1009. Default 65536. */
  maxPayloadBytes?: number;
  /** Concurrent WebSocket clients (and, for the TCP echo, TCP clients). Over it: 503. Default 1024. */
  maxConnections?: number;
  /**
   * Concurrent WebSocket (and TCP echo) clients from one address (IPv6: one /64). Over it: 503.
   * Everything behind one NAT or proxy is one address, so this is per egress, not per probe.
   * Default 256.
   */
  maxConnectionsPerIp?: number;
  /**
   * A connection must have completed its WebSocket upgrade within this time of connecting (TLS
   * handshake, if any, timed separately by the same bound), or it is destroyed; a plain HTTP
   * request is answered and closed well within it. Standalone server only. Default 5000 ms.
   */
  handshakeTimeoutMs?: number;
  /**
   * A WebSocket client that has sent nothing (no message, no ping) this long after its upgrade
   * is closed with 4408. Once it has sent anything, it may stay silent for as long as it likes.
   * Default 30000 ms.
   */
  firstMessageTimeoutMs?: number;
  /** Sustained messages (data, ping or pong frames) per second per client; over it: close 1008. Default 100. */
  maxMessagesPerSecond?: number;
  /** Messages a client may send at once above the sustained rate (token bucket size). Default 200. */
  messageBurst?: number;
  /**
   * Echo bytes queued for one client before the server stops reading from it; reading resumes
   * once the queue drains below half. Default 1 MiB.
   */
  highWaterMarkBytes?: number;
  /** Path of the WebSocket echo route; the query string is ignored. Default `/probe/ws`. */
  wsPath?: string;
  /** Path of the health route; the query string is ignored. Default `/probe/healthz`. */
  healthPath?: string;
  /**
   * Exact origins (`https://app.example`) allowed to open the WebSocket echo. An upgrade with any
   * other `Origin` header is refused 403; one without an `Origin` header (every non-browser
   * client, the probe included) is admitted. Default: no check.
   */
  allowedOrigins?: readonly string[];
  /**
   * Shared secret for the WebSocket echo, sent as `Authorization: Bearer <token>` or `?token=`.
   * Missing or wrong: 401. At least 16 characters, no whitespace. Default: none. The health
   * route and the TCP echo never ask for it.
   */
  token?: string;
}

type Bounds = Omit<EchoOptions, 'allowedOrigins' | 'token'>;

export type ResolvedEchoOptions = Readonly<Required<Bounds>> & {
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  /** SHA-256 of the token: the token itself is not kept, so it cannot end up in a log line. */
  readonly tokenDigest: Buffer | undefined;
};

export const ECHO_DEFAULTS: Readonly<Required<Bounds>> = {
  maxPayloadBytes: 65_536,
  maxConnections: 1024,
  maxConnectionsPerIp: 256,
  handshakeTimeoutMs: 5_000,
  firstMessageTimeoutMs: 30_000,
  maxMessagesPerSecond: 100,
  messageBurst: 200,
  highWaterMarkBytes: 1024 * 1024,
  wsPath: '/probe/ws',
  healthPath: '/probe/healthz',
};

/**
 * How long a graceful close waits for peers to finish the closing handshake before their
 * sockets are destroyed. A peer that has vanished never answers, so this must be short.
 */
export const CLOSE_GRACE_MS = 1_000;

/** Shortest shared secret accepted: anything shorter is guessable, not a secret. */
export const MIN_TOKEN_LENGTH = 16;

const KEYS = [...Object.keys(ECHO_DEFAULTS), 'allowedOrigins', 'token'] as (keyof EchoOptions)[];

export function resolveEchoOptions(options: EchoOptions = {}, prefix = 'echo'): ResolvedEchoOptions {
  for (const key of Object.keys(options)) {
    if (!(KEYS as string[]).includes(key)) {
      throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: ${unknownKeyReason(key, KEYS)}`, {
        key: `${prefix}.${key}`,
      });
    }
  }
  // An explicit `undefined` means "default", not "unset".
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as EchoOptions;
  const { allowedOrigins, token, ...bounds } = defined;
  const resolved: Required<Bounds> = { ...ECHO_DEFAULTS, ...bounds };
  for (const key of [
    'maxPayloadBytes',
    'maxConnections',
    'maxConnectionsPerIp',
    'handshakeTimeoutMs',
    'firstMessageTimeoutMs',
    'maxMessagesPerSecond',
    'messageBurst',
    'highWaterMarkBytes',
  ] as const) {
    positiveInteger(prefix, key, resolved[key]);
  }
  routePath(prefix, 'wsPath', resolved.wsPath);
  routePath(prefix, 'healthPath', resolved.healthPath);
  if (resolved.wsPath === resolved.healthPath) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.healthPath: must differ from wsPath (both "${resolved.wsPath}")`, {
      key: `${prefix}.healthPath`,
    });
  }
  return {
    ...resolved,
    allowedOrigins: allowedOrigins === undefined ? undefined : originSet(prefix, allowedOrigins),
    tokenDigest: token === undefined ? undefined : tokenDigestOf(prefix, token),
  };
}

export function positiveInteger(prefix: string, key: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: must be an integer greater than 0 (got ${JSON.stringify(value)})`, {
      key: `${prefix}.${key}`,
    });
  }
}

/** The digest both sides are compared by: equal lengths whatever was sent, so nothing leaks. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function routePath(prefix: string, key: string, value: unknown): void {
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: must be a path starting with "/" without query or spaces (got ${JSON.stringify(value)})`, {
      key: `${prefix}.${key}`,
    });
  }
}

/**
 * Origins as browsers serialize them (scheme://host[:port], lower case, no path, no default
 * port), so an exact string match is also a correct origin match.
 */
function originSet(prefix: string, origins: unknown): ReadonlySet<string> {
  const key = `${prefix}.allowedOrigins`;
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${key}: must be a non-empty list of origins such as "https://app.example" (leave it out to allow any)`, { key });
  }
  return new Set(
    origins.map((origin: unknown, i) => {
      let serialized: string | undefined;
      try {
        serialized = typeof origin === 'string' ? new URL(origin).origin : undefined;
      } catch {
        serialized = undefined;
      }
      if (serialized === undefined || serialized === 'null' || serialized !== origin) {
        const hint = serialized !== undefined && serialized !== 'null' ? ` (did you mean "${serialized}"?)` : '';
        throw new ProbeError('PROBE_ERR_CONFIG', `${key}[${i}]: must be an origin, scheme://host[:port] with nothing after it${hint} (got ${JSON.stringify(origin)})`, {
          key: `${key}[${i}]`,
        });
      }
      return serialized;
    }),
  );
}

/** Never quotes the token back: a rejected secret is still somebody's secret. */
function tokenDigestOf(prefix: string, token: unknown): Buffer {
  const key = `${prefix}.token`;
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new ProbeError(
      'PROBE_ERR_CONFIG',
      `${key}: must be at least ${MIN_TOKEN_LENGTH} characters without whitespace (got ${typeof token === 'string' ? `${token.length} characters` : typeof token}); for example: openssl rand -hex 32`,
      { key },
    );
  }
  return secretDigest(token);
}
