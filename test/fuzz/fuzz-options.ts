/**
 * One place for how much the fuzz tests fuzz. CI (the default) runs a fixed seed and a small
 * number of runs, so a run is reproducible and fast. `npm run fuzz:long` (FUZZ_LONG=1) runs many
 * more, from a fresh seed each time. A failing property prints its seed, its path and the shrunk
 * counterexample (fast-check does); replay it exactly with
 *   FUZZ_SEED=<seed> FUZZ_PATH=<path> node --import tsx --test test/fuzz/<file>.test.ts
 * FUZZ_RUNS=<n> overrides the number of runs of every property.
 */
import type fc from 'fast-check';

/** Any fixed number does; changing it changes which inputs CI tries. */
const CI_SEED = 20_261_122;
/** How many times more a long run tries than CI. */
const LONG_FACTOR = 50;

export const FUZZ_LONG = process.env.FUZZ_LONG === '1';

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer (got ${JSON.stringify(text)})`);
  return value;
}

const seed = envInteger('FUZZ_SEED') ?? (FUZZ_LONG ? Date.now() % 2 ** 31 : CI_SEED);
const path = process.env.FUZZ_PATH;
if (FUZZ_LONG && process.env.FUZZ_SEED === undefined) process.stderr.write(`fuzz: long run, seed ${seed}\n`);

/**
 * fast-check parameters for a property that runs `ciRuns` times in CI. `timeoutMs` bounds each
 * run of an async property: a run that takes longer fails as a hang, with its counterexample.
 * `budgetMs` bounds the whole property in CI (node:test cannot stop a synchronous one): past it,
 * the property fails as too slow rather than holding CI for minutes.
 */
export function fuzzRuns<T>(ciRuns: number, { timeoutMs, budgetMs }: { timeoutMs?: number; budgetMs?: number } = {}): fc.Parameters<T> {
  const unbounded = FUZZ_LONG || process.env.FUZZ_RUNS !== undefined;
  return {
    seed,
    ...(path === undefined ? {} : { path }),
    numRuns: envInteger('FUZZ_RUNS') ?? (FUZZ_LONG ? ciRuns * LONG_FACTOR : ciRuns),
    ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    ...(budgetMs === undefined || unbounded ? {} : { interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: true }),
    // The failure message carries the shrunk counterexample, its seed and its path: enough to replay it.
  };
}

/** node:test's own bound for a whole fuzz test: generous in CI, unbounded in a long run. */
export function testTimeout(ciMs: number): number {
  return FUZZ_LONG || process.env.FUZZ_RUNS !== undefined ? Number.POSITIVE_INFINITY : ciMs;
}

/** Throws if `work` (synchronous) took longer than `limitMs`: a parser must never crawl. */
export function withinMs<T>(limitMs: number, what: string, work: () => T): T {
  const started = performance.now();
  const inTime = (): void => {
    const took = performance.now() - started;
    if (took > limitMs) throw new Error(`${what} took ${Math.round(took)} ms (limit ${limitMs} ms)`);
  };
  let value: T;
  try {
    value = work();
  } catch (err) {
    inTime();
    throw err;
  }
  inTime();
  return value;
}
