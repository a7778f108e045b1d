// The probe config the leg benchmarks share: `legs` ws legs (1 s interval, 2 s deadline) taking
// turns over the far ends' ports, logs silent, no listener of their own beyond port 0.
import type { ProbeConfig } from '../src/config/types.js';

export function wsLegsConfig(legs: number, ports: readonly number[], detail: string): ProbeConfig {
  // Asserted rather than annotated, so the same script compiles on the branch point of issue 12
  // (no metrics.detail yet) for its before figures.
  return {
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail },
    log: { level: 'silent' },
    dropHistory: 256,
    legs: Array.from({ length: legs }, (_, i) => ({
      kind: 'ws' as const,
      name: `leg${i}`,
      role: 'internal' as const,
      dnsRecheckMs: 30_000,
      url: `ws://127.0.0.1:${ports[i % ports.length] ?? 0}/probe/ws`,
      intervalMs: 1_000,
      deadlineMs: 2_000,
      connectTimeoutMs: 10_000,
      backoff: { minMs: 500, maxMs: 5_000, factor: 2 },
      resolve: { mode: 'system' as const },
      tls: { insecure: false },
      headers: {},
      maxPayloadBytes: 65_536,
      closeTimeoutMs: 1_000,
    })),
  } as ProbeConfig;
}
