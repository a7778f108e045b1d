/**
 * The shipped CLI (dist/cli.js) and blackbox_exporter as child processes for the peer
 * benchmarks: started, waited for (by polling their readiness URL with a deadline), and stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const BLACKBOX_BIN = ['/usr/bin/prometheus-blackbox-exporter', '/usr/bin/blackbox_exporter'].find((b) => existsSync(b));

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

export function start(command: string, args: readonly string[]): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Bounded: only the start of the output is ever read (addresses, readiness lines).
  const keep = (c: string): void => {
    if (output.length < 1_000_000) output += c;
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  const exited = once(child, 'exit');
  return {
    child,
    pid: child.pid!,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function waitForOutput(proc: Child, pattern: RegExp, what: string, timeoutMs = 10_000): Promise<RegExpExecArray> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(proc.output());
    if (match) return match;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}: ${proc.output().slice(0, 2_000)}`);
    await delay(10);
  }
}

/** Poll a URL until it answers 200; returns the time it took in ms. */
export async function waitFor200(url: string, what: string, timeoutMs = 15_000, everyMs = 10): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what} (${url})`);
    await delay(everyMs);
  }
}

/** A free-enough loopback port for a peer that cannot be told to listen on port 0. */
export function randomPort(): number {
  return 40_000 + Math.floor(Math.random() * 20_000);
}

/** `t3-probe echo` on 127.0.0.1:0; resolves with its port once it prints its URL. */
export async function startEcho(args: readonly string[] = []): Promise<Child & { port: number }> {
  const echo = start(process.execPath, [CLI, 'echo', '--listen', '127.0.0.1:0', ...args]);
  const match = await waitForOutput(echo, /wss?:\/\/127\.0\.0\.1:(\d+)\//, 'the echo server');
  return Object.assign(echo, { port: Number(match[1]) });
}

/**
 * blackbox_exporter with the given module config, once /-/healthy answers. It cannot listen on
 * port 0, so a random port is tried, and another if it exits (the port was taken).
 */
export async function startBlackbox(dir: string, modulesYaml: string): Promise<Child & { listen: string; startMs: number }> {
  if (BLACKBOX_BIN === undefined) throw new Error('blackbox_exporter is not installed (Debian package prometheus-blackbox-exporter)');
  const file = path.join(dir, 'blackbox.yml');
  await writeFile(file, modulesYaml);
  for (let attempt = 1; ; attempt++) {
    const listen = `127.0.0.1:${randomPort()}`;
    const t0 = performance.now();
    const proc = start(BLACKBOX_BIN, [`--config.file=${file}`, `--web.listen-address=${listen}`]);
    const exited = once(proc.child, 'exit').then(() => 'exited' as const);
    const ready = waitFor200(`http://${listen}/-/healthy`, 'blackbox_exporter').then(() => 'ready' as const);
    const outcome = await Promise.race([ready, exited]).catch((err: unknown) => err);
    if (outcome === 'ready') return Object.assign(proc, { listen, startMs: performance.now() - t0 });
    await proc.stop();
    if (attempt === 3) throw new Error(`blackbox_exporter did not start (3 attempts): ${proc.output().slice(0, 2_000)}`, { cause: outcome });
  }
}

/** Sum of every sample of a metric family in a Prometheus text body whose labels match. */
export function sumSamples(body: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labelFilter !== '' && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
