/**
 * A fresh CPU-limited cgroup for one process, on cgroup v1 (the `cpu` controller's
 * cpu.cfs_quota_us / cpu.cfs_period_us) or v2 (`cpu.max`). `release()` moves the process back
 * where it was and removes the cgroup; it is idempotent and safe after the process exited.
 * Needs root: `cpuCgroupUnavailable()` says why it can't run here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const V1_CPU = '/sys/fs/cgroup/cpu';
const V2_ROOT = '/sys/fs/cgroup';

type Layout = { readonly version: 1; readonly root: string } | { readonly version: 2; readonly root: string };

function layout(): Layout | undefined {
  if (existsSync(path.join(V1_CPU, 'cpu.cfs_quota_us'))) return { version: 1, root: V1_CPU };
  const controllers = path.join(V2_ROOT, 'cgroup.controllers');
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) return { version: 2, root: V2_ROOT };
  return undefined;
}

/** Why a CPU cgroup can't be made here, or undefined when it can. */
export function cpuCgroupUnavailable(): string | undefined {
  // T3PROBE_LAB_AS_USER=1 behaves as for an unprivileged user, as the network lab does, so the
  // skip (and its failure with CI=true) can be seen as root.
  if (process.getuid?.() !== 0 || process.env.T3PROBE_LAB_AS_USER === '1') return 'limiting a process to 5% of a core needs root (cgroups)';
  if (layout() === undefined) return `no cgroup cpu controller (neither ${V1_CPU} nor cpu in ${V2_ROOT}/cgroup.controllers)`;
  return undefined;
}

export interface CpuCgroup {
  readonly path: string;
  readonly version: 1 | 2;
  /** Move `pid` into the cgroup (all its threads: cgroup.procs). */
  add(pid: number): Promise<void>;
  /** Move every process added back to where it was, then remove the cgroup. Idempotent. */
  release(): Promise<void>;
}

/** The cgroup `pid` is in now, as a path under the layout's root. */
async function currentCgroup(pid: number, where: Layout): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const line = lines.find((l) => (where.version === 2 ? l.startsWith('0::') : l.split(':')[1]?.split(',').includes('cpu')));
  return path.join(where.root, line?.split(':').slice(2).join(':') ?? '/');
}

/** A child cgroup limited to `quotaUs` of CPU per `periodUs`. */
export async function createCpuCgroup(name: string, quotaUs: number, periodUs = 100_000): Promise<CpuCgroup> {
  const where = layout();
  if (where === undefined) throw new Error(cpuCgroupUnavailable() ?? 'no cgroup cpu controller');
  const dir = path.join(where.root, name);
  await mkdir(dir);
  if (where.version === 1) {
    await writeFile(path.join(dir, 'cpu.cfs_period_us'), String(periodUs));
    await writeFile(path.join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
  } else {
    await writeFile(path.join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
  }
  const origins = new Map<number, string>();
  let released: Promise<void> | undefined;
  return {
    path: dir,
    version: where.version,
    async add(pid) {
      origins.set(pid, await currentCgroup(pid, where));
      await writeFile(path.join(dir, 'cgroup.procs'), String(pid));
    },
    release() {
      released ??= (async () => {
        for (const [pid, origin] of origins) {
          // ESRCH: the process is gone already, which also empties the cgroup.
          await writeFile(path.join(origin, 'cgroup.procs'), String(pid)).catch(() => {});
        }
        await rmdir(dir);
      })();
      return released;
    },
  };
}
