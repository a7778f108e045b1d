/**
 * The idle times a sweep tries at once: an evenly spaced ladder from `min` to `max`, so one run no
 * longer than `max` brackets the path's real idle timeout between two rungs.
 */
export function idleLadder(minMs: number, maxMs: number, steps: number): number[] {
  if (steps <= 1 || minMs === maxMs) return [maxMs];
  const gap = (maxMs - minMs) / (steps - 1);
  return Array.from({ length: steps }, (_, i) => Math.round(minMs + gap * i));
}

/** Idle timeouts worth naming when a bracket contains them. */
export const KNOWN_IDLE_TIMEOUTS: readonly { readonly seconds: number; readonly what: string }[] = [
  { seconds: 270, what: 'Cloudflare (270 s)' },
  { seconds: 350, what: 'cloud load balancer (350 s, e.g. AWS NLB)' },
  { seconds: 400, what: 'Cloudflare (400 s)' },
  { seconds: 900, what: 'IPVS: Docker Swarm service VIP (900 s, moby/moby#31208)' },
];
