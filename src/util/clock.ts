/** Monotonic time for every measurement (process.hrtime), and wall time only for timestamps. */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}
