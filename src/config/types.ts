/**
 * The normalized, fully-typed configuration. Everything downstream of the config loader takes
 * these shapes and never re-checks user input. Durations are milliseconds.
 */
import type { LegRole } from '../roles.js';
import type { LogLevel } from './log-levels.js';
import type { MetricsDetail } from './metrics-detail.js';

export type { LogLevel };

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface BackoffOptions {
  /** First reconnect delay. */
  readonly minMs: number;
  /** Upper bound for any reconnect delay. */
  readonly maxMs: number;
  /** Exponential growth factor between attempts; each delay is also jittered by ×[1, 2). */
  readonly factor: number;
}

export interface TlsOptions {
  /** Extra trusted CA certificates (PEM text, already read from disk). Undefined: system roots. */
  readonly ca?: string;
  /** Skip certificate verification. Off by default; a probe that trusts anything proves nothing. */
  readonly insecure: boolean;
}

export interface DohOptions {
  /** RFC 8484 endpoint, for example https://cloudflare-dns.com/dns-query. */
  readonly url: string;
  readonly method: 'GET' | 'POST';
  /** Connect to the DoH server at this IP instead of resolving its hostname with the system resolver. */
  readonly bootstrap?: string;
  readonly timeoutMs: number;
  readonly tls: TlsOptions;
  /** Which address family to ask for: 4 (A), 6 (AAAA) or 0 (both; A preferred). */
  readonly family: 0 | 4 | 6;
  /** Lower and upper clamp for the record TTL used by the cache. */
  readonly minTtlS: number;
  readonly maxTtlS: number;
}

/** How a leg turns its URL's hostname into the address it connects to. */
export type ResolveOptions =
  | { readonly mode: 'system' }
  | { readonly mode: 'doh'; readonly doh: DohOptions }
  | { readonly mode: 'pin'; readonly address: string };

interface LegCommon {
  /** Label value for every metric, and the name in logs and /status. */
  readonly name: string;
  /** What the leg stands for in attribution (public path, internal path, serve process, idle). */
  readonly role: LegRole;
  readonly url: string;
  /** Heartbeat (ws) or request (http) period. Idle legs ignore it: their period is `idleMs`. */
  readonly intervalMs: number;
  /** How long a heartbeat, request or post-idle probe may take before it counts as unanswered. */
  readonly deadlineMs: number;
  /** Budget for dns + tcp + tls + upgrade. */
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly resolve: ResolveOptions;
  /**
   * DoH-resolved legs: re-resolve the hostname this often while connected, and drop with reason
   * `dns` when public DNS stops answering (a connected WebSocket alone would never notice).
   */
  readonly dnsRecheckMs: number;
  readonly tls: TlsOptions;
  /** Extra request headers (for example an auth token for the far end). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface WsLegOptions extends LegCommon {
  readonly kind: 'ws';
  /** Largest frame accepted from the far end; a bigger one is a protocol error. */
  readonly maxPayloadBytes: number;
  /**
   * How long a polite close (close frame, wait for the far end's) may take on shutdown or when a
   * reload removes the leg, before the socket is terminated.
   */
  readonly closeTimeoutMs: number;
}

export interface HttpLegOptions extends LegCommon {
  readonly kind: 'http';
  /** Largest response body read; the rest is discarded and the leg stays up if status was 2xx. */
  readonly maxBodyBytes: number;
}

/**
 * A deliberately idle connection (tcp:// to a TCP echo, or ws(s):// to a WebSocket echo): verify
 * one echo, stay completely silent for `idleMs`, then send one probe and expect its echo within
 * `deadlineMs`. Catches middleboxes that forget idle connections (IPVS: 900 s).
 */
export interface IdleLegOptions extends LegCommon {
  readonly kind: 'idle';
  readonly idleMs: number;
  /** TCP keepalive (TCP_KEEPIDLE) while idle; undefined: keepalive off, the connection is silent. */
  readonly keepaliveMs?: number;
  /**
   * Heartbeat period of the control connection that runs next to the idle one, so an idle death
   * counts as an expiry only while the far end stayed reachable. The config loader always sets
   * it; undefined (legs built in code) means defaultControlIntervalMs(idleMs).
   */
  readonly controlIntervalMs?: number;
}

export type LegOptions = WsLegOptions | HttpLegOptions | IdleLegOptions;
export type LegKind = LegOptions['kind'];

export interface ProbeConfig {
  readonly listen: ListenAddress;
  readonly metrics: { readonly prefix: string; readonly detail: MetricsDetail };
  readonly log: { readonly level: LogLevel };
  /** How many recent drop events /status keeps. */
  readonly dropHistory: number;
  /**
   * Absolute path of the file that keeps /status's history (the drop ring, what was observed)
   * across restarts; undefined: the history lives in memory only.
   */
  readonly state?: string;
  readonly legs: readonly LegOptions[];
}
