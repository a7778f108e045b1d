/**
 * Build real legs for tests: real resolvers, a private metrics registry per leg, silent logs.
 * Options are the normalized config shapes, so tests exercise exactly what the probe runs.
 */
import { once } from 'node:events';
import type { DohOptions, HttpLegOptions, IdleLegOptions, ResolveOptions, WsLegOptions } from '../../src/config/types.js';
import { createLeg } from '../../src/legs/create-leg.js';
import { DohResolver } from '../../src/net/doh.js';
import type { DropEvent, Leg } from '../../src/legs/leg.js';
import type { Reason } from '../../src/reasons.js';
import { createResolver } from '../../src/net/resolver.js';
import { silentLogger } from '../../src/log.js';
import { ProbeMetrics } from '../../src/metrics/registry.js';
import { sampleSum } from './exposition.js';
import type { MetricsDetail } from '../../src/config/defaults.js';
import type { StallClock } from '../../src/util/run-deadline.js';

export const FAST = {
  dnsRecheckMs: 30_000,
  intervalMs: 100,
  deadlineMs: 300,
  connectTimeoutMs: 2_000,
  backoff: { minMs: 20, maxMs: 100, factor: 2 },
} as const;

export function wsLegOptions(overrides: Partial<WsLegOptions> & { url: string }): WsLegOptions {
  return {
    kind: 'ws',
    name: 'test-ws',
    role: 'public',
    ...FAST,
    headers: {},
    tls: { insecure: false },
    resolve: { mode: 'system' },
    maxPayloadBytes: 65_536,
    closeTimeoutMs: 1_000,
    ...overrides,
  };
}

export function httpLegOptions(overrides: Partial<HttpLegOptions> & { url: string }): HttpLegOptions {
  return {
    kind: 'http',
    name: 'test-http',
    role: 'serve',
    ...FAST,
    headers: {},
    tls: { insecure: false },
    resolve: { mode: 'system' },
    maxBodyBytes: 1024 * 1024,
    ...overrides,
  };
}

export function idleLegOptions(overrides: Partial<IdleLegOptions> & { url: string }): IdleLegOptions {
  return {
    kind: 'idle',
    name: 'test-idle',
    role: 'idle',
    ...FAST,
    deadlineMs: 500,
    idleMs: 300,
    headers: {},
    tls: { insecure: false },
    resolve: { mode: 'system' },
    ...overrides,
  };
}

export function dohOptions(overrides: Partial<DohOptions> & { url: string }): DohOptions {
  return { method: 'GET', timeoutMs: 1_000, tls: { insecure: false }, family: 0, minTtlS: 0, maxTtlS: 3600, ...overrides };
}

export interface LegUnderTest {
  readonly leg: Leg;
  readonly metrics: ProbeMetrics;
  readonly drops: DropEvent[];
  /** Current value of t3probe_disconnects_total{leg,reason}. */
  disconnects(reason?: Reason): Promise<number>;
  heartbeats(result: string): Promise<number>;
  connected(): Promise<number>;
  nextDrop(): Promise<DropEvent>;
  up(): Promise<void>;
  close(): Promise<void>;
}

function sample(metrics: ProbeMetrics, name: string, labels: Record<string, string>): Promise<number> {
  return sampleSum(metrics, `t3probe_${name}`, labels);
}

export function startLeg(options: WsLegOptions | HttpLegOptions | IdleLegOptions, extra: { stalls?: StallClock; detail?: MetricsDetail } = {}): LegUnderTest {
  const metrics = new ProbeMetrics({ processMetrics: false, ...(extra.detail === undefined ? {} : { detail: extra.detail }) });
  const dohResolvers: DohResolver[] = [];
  const resolver = createResolver(options.resolve, (doh) => {
    const r = new DohResolver(doh);
    dohResolvers.push(r);
    return r;
  });
  const leg = createLeg(options, {
    metrics: metrics.forLeg(options.name),
    log: silentLogger,
    ...(extra.stalls === undefined ? {} : { stalls: extra.stalls }),
    resolver,
    idleMetrics: () => metrics.forIdleLeg(options.name),
  });
  const drops: DropEvent[] = [];
  leg.on('drop', (event) => drops.push(event));
  leg.start();
  // Leg timers are unref'd background work; a running probe keeps the process alive through its
  // server. A bare leg under test needs its own ref'd handle until close().
  const keepAlive = setInterval(() => {}, 1 << 30);
  const name = options.name;
  return {
    leg,
    metrics,
    drops,
    disconnects: (reason) => sample(metrics, 'disconnects_total', reason === undefined ? { leg: name } : { leg: name, reason }),
    heartbeats: (result) => sample(metrics, 'heartbeats_total', { leg: name, result }),
    connected: () => sample(metrics, 'connected', { leg: name }),
    async nextDrop() {
      const [event] = (await once(leg, 'drop')) as [DropEvent];
      return event;
    },
    async up() {
      if (leg.state === 'up') return;
      for (;;) {
        const [state] = (await once(leg, 'state')) as [string];
        if (state === 'up') return;
      }
    },
    async close() {
      clearInterval(keepAlive);
      await leg.close();
      await Promise.all(dohResolvers.map((r) => r.close()));
    },
  };
}

export type { ResolveOptions };
