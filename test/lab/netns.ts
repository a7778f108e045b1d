/**
 * A network-namespace lab built by the test itself: namespaces, veth pairs, nftables rules and
 * processes inside them, all torn down afterwards, even when a test fails or the run is
 * interrupted. Names carry the run's PID, so two runs never collide, and namespaces left behind
 * by a run that was killed outright are removed by the next run.
 *
 * Only addresses inside namespaces this lab created are used; nothing touches the host's own
 * network namespace except creating and deleting these namespaces.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PREFIX = 't3l';

/** Whether the lab can run here; outside CI a loud skip, on CI (CI=true) a failure. */
export function requireLab(t: TestContext): boolean {
  const missing: string[] = [];
  // T3PROBE_LAB_AS_USER=1 makes the check behave as for an unprivileged user, so the skip/fail
  // policy itself is testable without depending on file permissions of the checkout.
  if (process.getuid?.() !== 0 || process.env.T3PROBE_LAB_AS_USER === '1') missing.push('root');
  for (const [file, pkg] of [
    ['/usr/sbin/ip', 'iproute2'],
    ['/usr/sbin/nft', 'nftables'],
    ['/usr/sbin/conntrack', 'conntrack'],
  ] as const) {
    if (!existsSync(file)) missing.push(`${file} (Debian package ${pkg})`);
  }
  if (missing.length === 0) return true;
  const reason = `network-namespace lab needs ${missing.join(', ')}; npm test installs the packages when run as root`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPED: ${t.name}: ${reason}\n`);
  t.skip(reason);
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

function deleteNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // namespace already gone
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Namespaces and temporary directories of earlier runs whose process no longer exists. */
function sweepStale(): void {
  const stale = (name: string): boolean => {
    const match = new RegExp(`^${PREFIX}(\\d+)x`).exec(name);
    return match !== null && !alive(Number(match[1]));
  };
  for (const ns of listNamespaces()) {
    if (stale(ns)) deleteNamespaceSync(ns);
  }
  for (const entry of readdirSync(os.tmpdir())) {
    if (stale(entry)) rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
}

const live = new Set<Lab>();
let hooked = false;
function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanAll = (): void => {
    for (const lab of live) lab.destroySync();
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanAll();
      process.kill(process.pid, signal);
    });
  }
}

export class Lab {
  readonly id: string;
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #dirs: string[] = [];
  #destroyed = false;

  private constructor() {
    this.id = `${PREFIX}${process.pid}x${randomBytes(2).toString('hex')}`;
  }

  static create(t: Pick<TestContext, 'after'>): Lab {
    hookProcessExit();
    sweepStale();
    const lab = new Lab();
    live.add(lab);
    t.after(() => lab.destroy());
    return lab;
  }

  /** Whether the lab has been torn down (its namespaces and processes are gone). */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Add a namespace (with lo up); returns its full name. */
  async namespace(role: string): Promise<string> {
    const ns = `${this.id}${role}`;
    await run('ip', ['netns', 'add', ns]);
    this.#namespaces.push(ns);
    await this.ip(ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair between two namespaces, with an address (CIDR) on each end. */
  async link(a: { ns: string; address: string }, b: { ns: string; address: string }): Promise<{ a: string; b: string }> {
    const tag = randomBytes(3).toString('hex');
    const ifA = `t3${tag}a`;
    const ifB = `t3${tag}b`;
    await run('ip', ['link', 'add', ifA, 'netns', a.ns, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.ns]);
    for (const [end, dev] of [
      [a, ifA],
      [b, ifB],
    ] as const) {
      await this.ip(end.ns, 'addr', 'add', end.address, 'dev', dev);
      await this.ip(end.ns, 'link', 'set', dev, 'up');
    }
    return { a: ifA, b: ifB };
  }

  /** A bridge (the lab's switch) inside a namespace, up; returns its device name. */
  async bridge(ns: string, dev = 'br0'): Promise<string> {
    await this.ip(ns, 'link', 'add', dev, 'type', 'bridge');
    await this.ip(ns, 'link', 'set', dev, 'up');
    return dev;
  }

  /**
   * Plug a host into a bridge: a veth pair whose one end is a port of `bridge` and whose other end,
   * in `host.ns`, carries `host.address` (CIDR). Returns the host-side device name.
   */
  async plug(bridge: { ns: string; dev: string }, host: { ns: string; address: string }): Promise<string> {
    const tag = randomBytes(3).toString('hex');
    const port = `t3${tag}p`;
    const dev = `t3${tag}h`;
    await run('ip', ['link', 'add', dev, 'netns', host.ns, 'type', 'veth', 'peer', 'name', port, 'netns', bridge.ns]);
    await this.ip(bridge.ns, 'link', 'set', port, 'master', bridge.dev, 'up');
    await this.ip(host.ns, 'addr', 'add', host.address, 'dev', dev);
    await this.ip(host.ns, 'link', 'set', dev, 'up');
    return dev;
  }

  /** A temporary directory owned by the lab: removed on teardown, also when the run is interrupted. */
  tempDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${this.id}-`));
    this.#dirs.push(dir);
    return dir;
  }

  async ip(ns: string, ...args: string[]): Promise<void> {
    await run('ip', ['-n', ns, ...args]);
  }

  async exec(ns: string, command: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', ns, command, ...args], { encoding: 'utf8' });
  }

  async sysctl(ns: string, ...settings: string[]): Promise<void> {
    await this.exec(ns, 'sysctl', '-q', '-w', ...settings);
  }

  /** Load an nftables ruleset into a namespace. */
  async nft(ns: string, ruleset: string): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.end(ruleset);
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`nft failed in ${ns} (${code}): ${stderr}\n${ruleset}`);
  }

  /**
   * Start a long-running process inside a namespace; it is killed when the lab is torn down.
   * `ip netns exec` execs the command in place, so the child's PID is the command's own and
   * signals (SIGSTOP, SIGKILL) reach it directly. `stdin: 'pipe'` keeps a writable stdin.
   */
  spawn(ns: string, command: string, args: readonly string[], options: { stdin?: 'ignore' | 'pipe' } = {}): LabProcess {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
    this.#children.add(child);
    const proc = new LabProcess(child);
    void proc.exited.then(() => this.#children.delete(child));
    return proc;
  }

  async destroy(): Promise<void> {
    this.destroySync();
    await Promise.resolve();
  }

  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    for (const child of this.#children) child.kill('SIGKILL');
    for (const ns of this.#namespaces.reverse()) deleteNamespaceSync(ns);
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }
}

export class LabProcess {
  readonly exited: Promise<number | null>;
  #stdout = '';
  #stderr = '';

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (this.#stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.#stderr += c));
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** JSON log lines (pino) printed so far. */
  logLines(): Record<string, unknown>[] {
    return this.#stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}
