/**
 * The container image, built and run for real with podman (no Docker daemon here). Building needs
 * root (mmdebstrap makes the base image's rootfs; podman runs rootful), podman, runc and
 * mmdebstrap. Without them: a loud skip with the reason, and on CI (CI=true) a failure.
 */
import { collectOutput } from './collect.js';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-image.mjs', import.meta.url));

/** crun, podman's default runtime, refuses this kind of machine's cgroups; runc works. */
const GLOBAL_ARGS = ['--runtime', 'runc'];
/** Every `podman run` sets these: the default limits can't be set inside this kind of VM. */
export const RUN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] as const;

/** Whether the image can be built and run here; outside CI a loud skip, on CI a failure. */
export function requireImageTools(t: TestContext): boolean {
  const missing: string[] = [];
  // T3PROBE_IMAGE_AS_USER=1 makes the check behave as for an unprivileged user, so the skip/fail
  // policy itself is testable (test/deploy/dockerfile.test.ts).
  if (process.getuid?.() !== 0 || process.env.T3PROBE_IMAGE_AS_USER === '1') missing.push('root');
  for (const [file, pkg] of [
    ['/usr/bin/podman', 'podman'],
    ['/usr/sbin/runc', 'runc'],
    ['/usr/bin/mmdebstrap', 'mmdebstrap'],
  ] as const) {
    if (!existsSync(file)) missing.push(`${file} (Debian package ${pkg})`);
  }
  if (missing.length === 0) return true;
  const reason = `building the container image needs ${missing.join(', ')}; npm test installs the packages when run as root`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPED: ${t.name}: ${reason}\n`);
  t.skip(reason);
  return false;
}

export interface Podman {
  readonly stdout: string;
  readonly stderr: string;
}

export async function podman(args: readonly string[]): Promise<Podman> {
  return exec('podman', [...GLOBAL_ARGS, ...args], { maxBuffer: 64 * 1024 * 1024 });
}

/** `podman run`, with the limits, to completion: exit code and output, never a rejection. */
export async function podmanRun(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('podman', [...GLOBAL_ARGS, 'run', '--rm', ...RUN_LIMITS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return collectOutput(child);
}

/** What scripts/build-image.mjs prints on stdout. */
export interface BuildResult {
  readonly image: string;
  readonly id: string;
  readonly base: string;
  readonly baseSource: 'built' | 'reused' | 'existing';
  readonly seconds: Readonly<Record<string, number | boolean>>;
}

/** Runs scripts/build-image.mjs (stand-in base, then the real Dockerfile); its log ends the error. */
export async function buildImage(tag: string): Promise<BuildResult> {
  const child = spawn(process.execPath, [BUILD_SCRIPT, '--tag', tag], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let log = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-20_000)));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`scripts/build-image.mjs exited ${code}:\n${log}`);
  return JSON.parse(stdout) as BuildResult;
}

/** Test containers are named `${CONTAINER_PREFIX}<pid>-<role>`; a killed run's are removed by the next. */
export const CONTAINER_PREFIX = 't3-image-test-';

export async function removeStaleContainers(): Promise<void> {
  const { stdout } = await podman(['ps', '-a', '--format', '{{.Names}}', '--filter', `name=^${CONTAINER_PREFIX}`]);
  for (const name of stdout.split('\n').filter(Boolean)) {
    const pid = Number(/^t3-image-test-(\d+)-/.exec(name)?.[1]);
    if (pid === process.pid || (Number.isInteger(pid) && alive(pid))) continue;
    await podman(['rm', '-f', '--ignore', name]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The host PIDs whose parent is `pid`. */
export async function childPids(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) children.push(Number(entry));
  }
  return children;
}

/** A field of /proc/<pid>/status, such as "Uid" or "VmRSS". */
export async function procStatus(pid: number, field: string): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(status);
  if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return match[1] ?? '';
}
