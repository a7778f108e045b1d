/**
 * Idle footprint, against peers: `t3-probe run` with 4 legs (ws, ws, http, idle) against a local
 * `t3-probe echo --tcp-listen`, and blackbox_exporter, each in a process of its own:
 *   - start-to-ready: spawn until /readyz answers 200 (blackbox_exporter: /-/healthy), polled
 *     every 10 ms;
 *   - over `--seconds` (60 by default) of idling: CPU (utime + stime, /proc/<pid>/stat) as a share
 *     of one core and in millicores, RSS at the end and its peak (VmHWM);
 *   - blackbox_exporter once idle (never scraped) and once probed 3 times a second (the 3
 *     legs that heartbeat, as 3 Prometheus targets scraped every second would);
 *   - goldpinger is not run here: the request its published example DaemonSet sets is printed.
 * Figures only: no pass or fail.
 *
 *   npm run bench:footprint -- [--seconds 60]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { CLI, randomPort, start, startBlackbox, startEcho, waitFor200, waitForOutput, type Child } from './cli-process.js';
import { cpuSeconds, loadLine, machineLine, statusKiB } from './proc-stats.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' } } });
const SECONDS = Number(values.seconds);
/**
 * goldpinger's published example DaemonSet (bloomberg/goldpinger extras/example-with-kubeconfig.yaml):
 * a request, not a measurement. Its Helm chart sets no resources at all (`resources: {}`).
 */
const GOLDPINGER_REQUEST = 'goldpinger (not run here; request in its published example DaemonSet, a request, not a measurement): cpu 1m, memory 40Mi (limit 80Mi)';

interface Footprint {
  readonly readyMs: number;
  readonly millicores: number;
  readonly rssMiB: number;
  readonly hwmMiB: number;
}

async function idle(proc: Child, readyMs: number, during?: () => Promise<void>): Promise<Footprint> {
  const cpu0 = cpuSeconds(proc.pid);
  const t0 = performance.now();
  await Promise.all([delay(SECONDS * 1000), during?.()]);
  const cpu = cpuSeconds(proc.pid) - cpu0;
  const wall = (performance.now() - t0) / 1000;
  return { readyMs, millicores: (cpu / wall) * 1000, rssMiB: statusKiB(proc.pid, 'VmRSS') / 1024, hwmMiB: statusKiB(proc.pid, 'VmHWM') / 1024 };
}

function line(label: string, f: Footprint): string {
  return `${label}: start-to-ready ${f.readyMs.toFixed(0)} ms, CPU ${f.millicores.toFixed(1)} millicores over ${SECONDS} s, RSS ${f.rssMiB.toFixed(1)} MiB (peak ${f.hwmMiB.toFixed(1)})`;
}

const dir = await mkdtemp(path.join(os.tmpdir(), 't3-footprint-'));
try {
  const echo = await startEcho(['--tcp-listen', '127.0.0.1:0']);
  try {
    const tcpPort = Number((await waitForOutput(echo, /"tcp":\{[^}]*"port":(\d+)/, 'the TCP echo'))[1]);
    console.log(machineLine());
    console.log(`# footprint: idle for ${SECONDS} s each`);
    const listen = `127.0.0.1:${randomPort()}`;
    const config = path.join(dir, 'probe.yaml');
    const ws = `ws://127.0.0.1:${echo.port}/probe/ws`;
    await writeFile(
      config,
      stringify({
        listen,
        defaults: { interval: '1s' },
        legs: [
          { name: 'ws-a', kind: 'ws', url: ws },
          { name: 'ws-b', kind: 'ws', url: ws },
          { name: 'http', kind: 'http', url: `http://127.0.0.1:${echo.port}/probe/healthz` },
          { name: 'idle', kind: 'idle', url: `tcp://127.0.0.1:${tcpPort}` },
        ],
      }),
    );
    const t0 = performance.now();
    const probe = start(process.execPath, [CLI, 'run', '--config', config, '--log-level', 'warn']);
    try {
      await waitFor200(`http://${listen}/readyz`, 'the probe ready', 30_000);
      const t3 = await idle(probe, performance.now() - t0);
      console.log(line('t3-probe, 4 legs', t3));
    } finally {
      await probe.stop();
    }

    const module = 'modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n';
    const quiet = await startBlackbox(dir, module);
    try {
      console.log(line('blackbox_exporter, idle (never scraped)', await idle(quiet, quiet.startMs)));
    } finally {
      await quiet.stop();
    }
    const busy = await startBlackbox(dir, module);
    try {
      const url = `http://${busy.listen}/probe?module=http_2xx&target=${encodeURIComponent(`http://127.0.0.1:${echo.port}/probe/healthz`)}`;
      const probing = async (): Promise<void> => {
        const until = performance.now() + SECONDS * 1000 - 1_000;
        while (performance.now() < until) {
          const tick = delay(1_000);
          await Promise.all([0, 1, 2].map(async () => (await fetch(url)).text()));
          await tick;
        }
      };
      console.log(line('blackbox_exporter, 3 probes a second', await idle(busy, busy.startMs, probing)));
    } finally {
      await busy.stop();
    }
    console.log(GOLDPINGER_REQUEST);
  } finally {
    await echo.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(loadLine());
