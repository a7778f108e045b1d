/**
 * What the echo server refused or cut off, since it started. Plain counts, so an operator (or a
 * test) can see that a bound was hit instead of guessing from a client's symptoms.
 */
export interface EchoCounters {
  /** Connections destroyed because they had not completed an upgrade within handshakeTimeoutMs. */
  handshakeTimeouts: number;
  /** WebSocket clients closed with 4408: nothing sent within firstMessageTimeoutMs of the upgrade. */
  firstMessageTimeouts: number;
  /** WebSocket clients closed with 1008 for sending faster than the rate limit. */
  rateLimitedClients: number;
  /** Upgrades refused 503 because maxConnections clients were open. */
  refusedFull: number;
  /** Upgrades (and TCP connections) refused because their address had maxConnectionsPerIp open. */
  refusedPerIp: number;
  /** Upgrades refused 403: an Origin not in allowedOrigins. */
  refusedOrigin: number;
  /** Upgrades refused 401: a missing or wrong token. */
  refusedToken: number;
  /** Requests closed without an answer because the answer would have been larger than the request. */
  unanswered: number;
}

export function newEchoCounters(): EchoCounters {
  return {
    handshakeTimeouts: 0,
    firstMessageTimeouts: 0,
    rateLimitedClients: 0,
    refusedFull: 0,
    refusedPerIp: 0,
    refusedOrigin: 0,
    refusedToken: 0,
    unanswered: 0,
  };
}
