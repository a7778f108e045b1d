/**
 * Options shared by the WebSocket echo route, its mount and the standalone echo server. The echo
 * server is unauthenticated by design, so every option here is a bound on what a stranger can
 * make it hold. Validated once, here; everything downstream takes `ResolvedEchoOptions`.
 */
import { ProbeError } from '../errors.js';
import { unknownKeyReason } from '../util/suggest.js';

export interface EchoOptions {
  /** Largest WebSocket message accepted; a bigger one closes the client with 1009. Default 65536. */
  maxPayloadBytes?: number;
  /** Concurrent WebSocket clients (and, for the TCP echo, TCP clients). Over it: 503. Default 1024. */
  maxConnections?: number;
  /**
   * Echo bytes queued for one client before the server stops reading from it; reading resumes
   * once the queue drains below half. Default 1 MiB.
   */
  highWaterMarkBytes?: number;
  /** Path of the WebSocket echo route; the query string is ignored. Default `/probe/ws`. */
  wsPath?: string;
  /** Path of the health route; the query string is ignored. Default `/probe/healthz`. */
  healthPath?: string;
}

export type ResolvedEchoOptions = Readonly<Required<EchoOptions>>;

export const ECHO_DEFAULTS: ResolvedEchoOptions = {
  maxPayloadBytes: 65_536,
  maxConnections: 1024,
  highWaterMarkBytes: 1024 * 1024,
  wsPath: '/probe/ws',
  healthPath: '/probe/healthz',
};

/**
 * How long a graceful close waits for peers to finish the closing handshake before their
 * sockets are destroyed. A peer that has vanished never answers, so this must be short.
 */
export const CLOSE_GRACE_MS = 1_000;

const KEYS = Object.keys(ECHO_DEFAULTS) as (keyof EchoOptions)[];

export function resolveEchoOptions(options: EchoOptions = {}, prefix = 'echo'): ResolvedEchoOptions {
  for (const key of Object.keys(options)) {
    if (!(KEYS as string[]).includes(key)) {
      throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: ${unknownKeyReason(key, KEYS)}`, {
        key: `${prefix}.${key}`,
      });
    }
  }
  // An explicit `undefined` means "default", not "unset".
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved: ResolvedEchoOptions = { ...ECHO_DEFAULTS, ...defined };
  positiveInteger(prefix, 'maxPayloadBytes', resolved.maxPayloadBytes);
  positiveInteger(prefix, 'maxConnections', resolved.maxConnections);
  positiveInteger(prefix, 'highWaterMarkBytes', resolved.highWaterMarkBytes);
  routePath(prefix, 'wsPath', resolved.wsPath);
  routePath(prefix, 'healthPath', resolved.healthPath);
  if (resolved.wsPath === resolved.healthPath) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.healthPath: must differ from wsPath (both "${resolved.wsPath}")`, {
      key: `${prefix}.healthPath`,
    });
  }
  return resolved;
}

export function positiveInteger(prefix: string, key: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: must be an integer greater than 0 (got ${JSON.stringify(value)})`, {
      key: `${prefix}.${key}`,
    });
  }
}

function routePath(prefix: string, key: string, value: unknown): void {
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    throw new ProbeError('PROBE_ERR_CONFIG', `${prefix}.${key}: must be a path starting with "/" without query or spaces (got ${JSON.stringify(value)})`, {
      key: `${prefix}.${key}`,
    });
  }
}
