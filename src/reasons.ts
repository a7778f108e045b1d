/**
 * Every drop gets exactly one reason from this fixed set. This file is the only place where
 * platform errors (errno codes, TLS codes, undici codes, ws codes, AggregateError from
 * happy-eyeballs) are mapped to a reason. The original error stays on `cause` for the logs.
 */
import { isProbeError, type ErrorCode, type IdleExpiry } from './errors.js';

export const REASONS = [
  'timeout',
  'reset',
  'refused',
  'closed',
  'dns',
  'tls',
  'handshake',
  'http_status',
  'idle_expired',
  'error',
] as const;

export type Reason = (typeof REASONS)[number];

/** What each reason means; the README's reasons table is generated from the same words. */
export const REASON_DESCRIPTIONS: Readonly<Record<Reason, string>> = {
  timeout: 'No answer in time: a heartbeat missed its deadline, or connect/request timed out. Silent blackholes and stalls look like this.',
  reset: 'The connection was reset (TCP RST, ECONNRESET/EPIPE) while it was up or being set up.',
  refused: 'The connection was actively refused: RST to the SYN (ECONNREFUSED) or ICMP unreachable (EHOSTUNREACH/ENETUNREACH).',
  closed: 'The peer closed the connection: a WebSocket close frame (its code is logged) or a FIN without one.',
  dns: 'Name resolution failed: DoH transport error, non-2xx DoH answer, NXDOMAIN/SERVFAIL, or no A/AAAA records.',
  tls: 'The TLS handshake failed: wrong name, untrusted or expired certificate, protocol alert.',
  handshake: 'The WebSocket upgrade got a non-101 HTTP response (for example 404 or 502).',
  http_status: 'The HTTP leg got a non-2xx response.',
  idle_expired: 'Idle legs only: after staying silent for `idle`, the connection was dead (no echo, a reset, or a close) while the control connection to the same far end stayed up. A middlebox forgot it: IPVS at 900 s, a cloud LB, a NAT. (When the control dropped too, the drop takes the reason the control saw and the check is `inconclusive`.)',
  error: 'Anything else, such as a protocol violation. The log line carries the original error code.',
};

const REASON_BY_PROBE_CODE: Partial<Record<ErrorCode, Reason>> = {
  PROBE_ERR_DOH: 'dns',
  PROBE_ERR_DNS: 'dns',
  PROBE_ERR_CONNECT_TIMEOUT: 'timeout',
  PROBE_ERR_HEARTBEAT_TIMEOUT: 'timeout',
  PROBE_ERR_REQUEST_TIMEOUT: 'timeout',
  PROBE_ERR_TLS: 'tls',
  PROBE_ERR_HANDSHAKE: 'handshake',
  PROBE_ERR_PEER_CLOSED: 'closed',
  PROBE_ERR_HTTP_STATUS: 'http_status',
  PROBE_ERR_IDLE_EXPIRED: 'idle_expired',
  // PROBE_ERR_IDLE_INCONCLUSIVE is deliberately absent: an idle connection died while its control
  // connection failed too, so the far end or the whole path went away. Its reason is the cause's,
  // what the control saw (closed, reset, refused, timeout), and never idle_expired.
  PROBE_ERR_PROTOCOL: 'error',
};

const REASON_BY_SYSTEM_CODE: Readonly<Record<string, Reason>> = {
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  ECONNREFUSED: 'refused',
  EHOSTUNREACH: 'refused',
  ENETUNREACH: 'refused',
  EHOSTDOWN: 'refused',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  ENODATA: 'dns',
};

// OpenSSL and Node name TLS failures in many ways; these prefixes and names cover them.
const TLS_CODE_PATTERN =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_OSSL_)/;

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function causeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
}

/** Map any error to exactly one reason. Never throws. */
export function reasonOf(err: unknown): Reason {
  return reasonAtDepth(err, 0);
}

function reasonAtDepth(err: unknown, depth: number): Reason {
  if (depth > 8 || err === null || err === undefined) return 'error';
  if (isProbeError(err)) {
    const mapped = REASON_BY_PROBE_CODE[err.code];
    if (mapped) return mapped;
    // PROBE_ERR_CONNECT and friends wrap a platform error: look underneath.
    return err.cause === undefined ? 'error' : reasonAtDepth(err.cause, depth + 1);
  }
  // Happy-eyeballs (autoSelectFamily) fails with an AggregateError of per-address errors. A
  // single specific reason among them wins; otherwise the first one decides.
  if (err instanceof AggregateError) {
    const inner = (err.errors as unknown[]).map((e) => reasonAtDepth(e, depth + 1));
    return inner.find((r) => r !== 'error') ?? 'error';
  }
  const code = codeOf(err);
  if (code !== undefined) {
    const mapped = REASON_BY_SYSTEM_CODE[code];
    if (mapped) return mapped;
    if (TLS_CODE_PATTERN.test(code)) return 'tls';
    // undici wraps socket failures; the platform error (if any) is the cause.
    if (code === 'UND_ERR_SOCKET') {
      const inner = reasonAtDepth(causeOf(err), depth + 1);
      return inner === 'error' ? 'closed' : inner;
    }
  }
  const cause = causeOf(err);
  return cause === undefined ? 'error' : reasonAtDepth(cause, depth + 1);
}

/** How a connection that should have echoed showed it was dead, from the reason of its failure. */
export function idleExpiryOf(err: unknown): IdleExpiry {
  const reason = reasonOf(err);
  if (reason === 'reset' || reason === 'refused') return 'reset';
  if (reason === 'closed') return 'closed';
  return 'silent';
}

/** The most specific code for logs: the probe code plus the platform code underneath, if any. */
export function errorCodeChain(err: unknown): string {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    const code = current instanceof AggregateError ? codeOf((current.errors as unknown[])[0]) : codeOf(current);
    if (code !== undefined && codes.at(-1) !== code) codes.push(code);
    current = causeOf(current);
  }
  return codes.length > 0 ? codes.join('/') : 'UNKNOWN';
}
