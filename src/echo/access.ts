/**
 * The optional access controls of the WebSocket echo: an Origin allow-list (against browsers
 * being used from other sites) and a shared-secret token (against everyone without it). The
 * token is compared as SHA-256 digests with timingSafeEqual: equal lengths whatever was sent,
 * so neither its content nor its length leaks through timing.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { secretDigest, type ResolvedEchoOptions } from './options.js';

/** 0 admitted, otherwise the status to refuse with. */
export function accessStatus(req: IncomingMessage, options: ResolvedEchoOptions): 0 | 401 | 403 {
  const { allowedOrigins, tokenDigest } = options;
  if (allowedOrigins !== undefined) {
    // Browsers always send Origin on a WebSocket upgrade; a client that sends none is not a
    // browser, and could send any Origin it liked, so checking it would prove nothing.
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) return 403;
  }
  if (tokenDigest !== undefined) {
    const presented = presentedToken(req);
    if (presented === undefined || !timingSafeEqual(secretDigest(presented), tokenDigest)) return 401;
  }
  return 0;
}

function presentedToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match?.[1];
  }
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if (query === -1) return undefined;
  return new URLSearchParams(url.slice(query + 1)).get('token') ?? undefined;
}
