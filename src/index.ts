/** The library API of t3-probe. The CLI (src/cli.ts) is a client of exactly this. */
export { Probe } from './probe.js';
export { loadConfigFile, normalizeConfig, parseConfig } from './config/load.js';
export { ProbeError, ERROR_CODES } from './errors.js';
export { REASONS, REASON_DESCRIPTIONS, reasonOf } from './reasons.js';
export { Leg } from './legs/leg.js';
export { WsLeg } from './legs/ws-leg.js';
export { HttpLeg } from './legs/http-leg.js';
export { DohResolver } from './net/doh.js';
export { ProbeMetrics, HEARTBEAT_RESULTS, CONNECT_PHASES } from './metrics/registry.js';
export { mountEcho } from './echo/mount.js';
export { startEchoServer } from './echo/server.js';
export { startTcpEcho } from './echo/tcp-echo.js';
// The demo (startDemo) is `t3-probe/demo`, src/demo/index.ts: it needs node-forge and a DoH
// responder, which a library user holding real legs should not load.

export type { ProbeOptions, ProbeStatus } from './probe.js';
export type {
  ProbeConfig,
  LegOptions,
  WsLegOptions,
  HttpLegOptions,
  DohOptions,
  ResolveOptions,
  TlsOptions,
  BackoffOptions,
  ListenAddress,
} from './config/types.js';
export type { ErrorCode } from './errors.js';
export type { Reason } from './reasons.js';
export type { DropEvent, LegState, LegStatus } from './legs/leg.js';
export type { HeartbeatResult, ConnectPhase, LegMetrics } from './metrics/registry.js';
export type { StallEvent } from './metrics/stall-monitor.js';
export type { EchoMount } from './echo/mount.js';
export type { EchoOptions } from './echo/options.js';
export type { EchoServer, StartEchoOptions } from './echo/server.js';
export type { LoadOptions } from './config/load.js';
