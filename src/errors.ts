/**
 * The one error type t3-probe throws. Callers, metric labels and tests match on `code`, never on
 * the message. Platform errors are kept on `cause`.
 */
export const ERROR_CODES = [
  'PROBE_ERR_CONFIG',
  'PROBE_ERR_USAGE',
  'PROBE_ERR_LISTEN',
  'PROBE_ERR_DOH',
  'PROBE_ERR_DNS',
  'PROBE_ERR_CONNECT',
  'PROBE_ERR_CONNECT_TIMEOUT',
  'PROBE_ERR_TLS',
  'PROBE_ERR_HANDSHAKE',
  'PROBE_ERR_HEARTBEAT_TIMEOUT',
  'PROBE_ERR_PEER_CLOSED',
  'PROBE_ERR_IDLE_EXPIRED',
  'PROBE_ERR_IDLE_INCONCLUSIVE',
  'PROBE_ERR_HTTP_STATUS',
  'PROBE_ERR_REQUEST_TIMEOUT',
  'PROBE_ERR_PROTOCOL',
  'PROBE_ERR_CLOSED',
  'PROBE_ERR_SOURCE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** How an idle connection turned out to be dead: no answer, a reset, or a close (FIN/close frame). */
export type IdleExpiry = 'silent' | 'reset' | 'closed';

export interface ProbeErrorDetails {
  /** HTTP status of a failed upgrade or request. */
  readonly status?: number;
  /** WebSocket close code sent by the peer. */
  readonly closeCode?: number;
  /** WebSocket close reason sent by the peer (untrusted text, truncated). */
  readonly closeReason?: string;
  /** Config key path, for config errors. */
  readonly key?: string;
  /** For PROBE_ERR_IDLE_EXPIRED: how the dead connection showed itself. */
  readonly expiry?: IdleExpiry;
  readonly cause?: unknown;
}

export class ProbeError extends Error {
  override readonly name = 'ProbeError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;
  readonly key: string | undefined;
  readonly expiry: IdleExpiry | undefined;

  constructor(code: ErrorCode, message: string, details: ProbeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.closeCode = details.closeCode;
    this.closeReason = details.closeReason;
    this.key = details.key;
    this.expiry = details.expiry;
  }
}

export function isProbeError(err: unknown, code?: ErrorCode): err is ProbeError {
  return err instanceof ProbeError && (code === undefined || err.code === code);
}

/** Turn anything thrown into an Error without losing it. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * One line of text for an error and its causes, for logs and /status: the top message, then each
 * cause's message only where it says something the text does not already say. Wrappers often
 * carry their cause's message (ours did, and pino's serializer appends every cause's), which
 * used to read "connect ECONNREFUSED 127.0.0.1:80: connect ECONNREFUSED 127.0.0.1:80".
 */
export function errorText(err: unknown): string {
  let text = '';
  const seen = new Set<unknown>();
  for (let current = err, depth = 0; current !== undefined && current !== null && depth < 8 && !seen.has(current); depth++) {
    seen.add(current);
    const message = ownMessage(current);
    if (message !== '' && !text.includes(message)) {
      // A cause that already says everything said so far (and more) replaces it.
      text = text === '' || message.includes(text) ? message : `${text}: ${message}`;
    }
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return text === '' ? fallbackText(err) : text;
}

function ownMessage(value: unknown): string {
  if (value instanceof Error) {
    // Happy-eyeballs' AggregateError often has no message of its own; its per-address errors do.
    if (value.message === '' && value instanceof AggregateError) {
      return [...new Set((value.errors as unknown[]).map((e) => errorText(e)))].join('; ');
    }
    return value.message;
  }
  return typeof value === 'string' ? value : '';
}

function fallbackText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.name;
  }
  return toError(err).message;
}
