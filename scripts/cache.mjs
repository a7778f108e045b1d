// Where the slow-to-make test inputs live between runs: outside any clone, keyed by version, so
// a fresh clone (CI's) reuses what an earlier run made. `T3PROBE_CACHE_DIR` moves it.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export function cacheDir(...parts) {
  const base = process.env.T3PROBE_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 't3-probe');
  return path.join(base, ...parts);
}

/**
 * Returns `target`, making it first if it is missing: `make(tmp)` fills a temporary path beside
 * it, which is then renamed into place, so a crash or a concurrent run never leaves half a file.
 * @param {string} target
 * @param {(tmp: string) => Promise<void>} make
 * @returns {Promise<{ path: string, hit: boolean }>}
 */
export async function cached(target, make) {
  if (existsSync(target)) return { path: target, hit: true };
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await make(tmp);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // A concurrent run renamed its copy into place first: use that one.
    if (existsSync(target)) return { path: target, hit: true };
    throw err;
  }
  return { path: target, hit: false };
}
