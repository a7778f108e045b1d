/** Monotonic time for every measurement (process.hrtime), and wall time only for timestamps. */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/**
 * The same monotonic clock as nowNs(), read as a plain number of ms (performance.now()). For a
 * time stored on every heartbeat: a bigint is a fresh heap object each time, which lives until the
 * next beat and so survives into the old generation; a number field is written in place.
 */
export function nowMs(): number {
  return performance.now();
}

/** A nowMs() reading as a nowNs() one, to hand to code that measures in ns. */
export function msReadingToNs(readingMs: number): bigint {
  return nowNs() - BigInt(Math.max(0, Math.round((performance.now() - readingMs) * 1e6)));
}
