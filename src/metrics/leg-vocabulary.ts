/**
 * What a leg records, in words shared by the legs, the per-leg store (leg-series.ts) and the
 * registry (registry.ts): heartbeat results, connect phases, and the calls a leg makes.
 */
import type { Reason } from '../reasons.js';

export const HEARTBEAT_RESULTS = ['ok', 'late', 'duplicate', 'garbled', 'timeout', 'failed'] as const;
export type HeartbeatResult = (typeof HEARTBEAT_RESULTS)[number];
/**
 * The heartbeat results that exist at 0 from the start at the default detail: `ok` (every rate
 * reads it) and `timeout` (the one that turns into a drop). The rest appear when they first happen.
 */
export const PRECREATED_HEARTBEAT_RESULTS = ['ok', 'timeout'] as const satisfies readonly HeartbeatResult[];

export const CONNECT_PHASES = ['dns', 'tcp', 'tls', 'upgrade'] as const;
export type ConnectPhase = (typeof CONNECT_PHASES)[number];

/** What a leg records; the same calls whatever backs them. */
export interface LegMetrics {
  setConnected(up: boolean): void;
  observeRtt(seconds: number): void;
  countHeartbeat(result: HeartbeatResult): void;
  observeConnectPhase(phase: ConnectPhase, seconds: number): void;
  recordDrop(reason: Reason, lifetimeSeconds: number | undefined, atEpochMs: number): void;
}
