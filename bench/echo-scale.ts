/**
 * The echo server at scale: `t3-probe echo` (dist/, as shipped) in a child process holding
 * 20,000 WebSocket clients, each sending one message a second, from source addresses spread over
 * 127.0.0.2-127.0.0.9, the clients in child processes of their own (5,000 each at most). The same
 * run is repeated with 100 clients. Prints, for both, the echo's CPU (share of one core), its RSS,
 * the load clients' RTT p50/p99 and that of one observer client (10 messages a second, in this
 * process), then the added p99 (20,000 against 100) and the ratios. The load clients' own RTT
 * includes their event loops' queueing once they saturate the machine; the observer's does not.
 * Goal (issue 12 §4): fits in one core, added p99 < 5 ms. Figures only: no pass or fail.
 *
 * File descriptors: the echo needs one per client plus its own. Where prlimit may raise the hard
 * limit (root with CAP_SYS_RESOURCE) the echo is started under `prlimit --nofile`; otherwise the
 * largest count the hard limit allows is measured, and the script says so.
 *
 *   npm run bench:echo -- [--connections 20000] [--baseline 100] [--seconds 20] [--warmup 5]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { cpuSeconds, loadLine, machineLine, percentile, statusKiB } from './proc-stats.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    port: { type: 'string', default: '0' },
    count: { type: 'string', default: '0' },
    first: { type: 'string', default: '0' },
    connections: { type: 'string', default: '20000' },
    baseline: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
  },
});
const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const SELF = fileURLToPath(import.meta.url);
const SOURCE_ADDRESSES = 8; // 127.0.0.2 .. 127.0.0.9
const PER_CLIENT_PROCESS = 5_000;
/** Descriptors the echo holds besides its clients (listeners, stdio, epoll, libuv, V8 workers). */
const ECHO_OWN_FDS = 100;
/** Samples kept per client process: 20 s of 5,000 clients a second, with room. */
const MAX_SAMPLES = 400_000;

type ToClient = { cmd: 'measure' } | { cmd: 'report' };
type FromClient = { ready: true; opened: number; failed: number } | { report: true; samples: number[]; closed: number; sent: number };

// ---------------------------------------------------------------- a client process

async function client(port: number, count: number, first: number): Promise<void> {
  const url = `ws://127.0.0.1:${port}/probe/ws`;
  const sockets: WebSocket[] = [];
  let failed = 0;
  let closed = 0;
  let sent = 0;
  let measuring = false;
  let samples: number[] = [];
  const openOne = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url, { localAddress: `127.0.0.${2 + (i % SOURCE_ADDRESSES)}`, perMessageDeflate: false });
      ws.on('error', () => {});
      ws.on('message', (data: Buffer) => {
        if (measuring && samples.length < MAX_SAMPLES) samples.push(performance.now() - Number(data.toString()));
      });
      ws.once('open', () => {
        sockets.push(ws);
        resolve();
      });
      ws.once('close', () => {
        if (ws.readyState === WebSocket.CLOSED && sockets.includes(ws)) closed++;
        else failed++;
        resolve();
      });
    });
  // One message a second per client, spread evenly: every 10 ms, the clients of that slot. It
  // runs while the others still open, so the first ones beat the echo's first-message timeout.
  let tick = 0;
  const ticker = setInterval(() => {
    const slot = tick++ % 100;
    const now = String(performance.now());
    for (let i = slot; i < sockets.length; i += 100) {
      const ws = sockets[i]!;
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(now);
        sent++;
      }
    }
  }, 10);
  // The listen backlog is finite: open 200 at a time.
  for (let i = 0; i < count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => openOne(first + i + j)));
  }
  process.on('message', (m: ToClient) => {
    if (m.cmd === 'measure') {
      samples = [];
      sent = 0;
      measuring = true;
    } else {
      measuring = false;
      const reply: FromClient = { report: true, samples, closed, sent };
      process.send?.(reply);
    }
  });
  process.once('disconnect', () => {
    clearInterval(ticker);
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  });
  const ready: FromClient = { ready: true, opened: sockets.length, failed };
  process.send?.(ready);
}

// ---------------------------------------------------------------- the bench (this process)

interface Echo {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
}

function hardFdLimit(): Promise<number> {
  return new Promise((resolve) => {
    const sh = spawn('sh', ['-c', 'ulimit -Hn'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    sh.stdout.on('data', (c: Buffer) => (out += c.toString()));
    sh.once('exit', () => resolve(out.trim() === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(out)));
  });
}

/** Whether prlimit may set this descriptor limit (root with CAP_SYS_RESOURCE; not in every container). */
function canSetFdLimit(fds: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = spawn('prlimit', [`--nofile=${fds}:${fds}`, '--', 'true'], { stdio: 'ignore' });
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
}

async function startEcho(connections: number, usePrlimit: boolean): Promise<Echo> {
  const cli = path.join(ROOT, 'dist', 'cli.js');
  const args = [cli, 'echo', '--listen', '127.0.0.1:0', '--max-connections', String(connections + 100), '--max-connections-per-ip', String(Math.ceil(connections / SOURCE_ADDRESSES) + 100)];
  const fds = connections + ECHO_OWN_FDS;
  // prlimit (root) may raise the hard limit; otherwise raise the soft one to the hard one. Both
  // exec in place, so the child's pid is the echo's own and /proc/<pid> describes it.
  const child = usePrlimit
    ? spawn('prlimit', [`--nofile=${fds}:${fds}`, '--', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec "${process.execPath}" ${args.map((a) => `"${a}"`).join(' ')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const match = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
    if (match) return { child, pid: child.pid!, port: Number(match[1]) };
    if (Date.now() > deadline) throw new Error(`echo did not start: ${output}`);
    await delay(50);
  }
}

/**
 * One observer client in this process, from 127.0.0.1, a message every 100 ms: its RTT is not
 * queued behind thousands of other sockets in a saturated client event loop, so it shows what the
 * echo adds (plus CPU contention: on 2 cores the load clients and the echo share the machine).
 */
async function observe(port: number, seconds: number): Promise<number[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/probe/ws`, { localAddress: '127.0.0.1', perMessageDeflate: false });
  await once(ws, 'open');
  const rtts: number[] = [];
  ws.on('message', (data: Buffer) => rtts.push(performance.now() - Number(data.toString())));
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    ws.send(String(performance.now()));
    await delay(100);
  }
  await delay(500);
  ws.terminate();
  return rtts.sort((a, b) => a - b);
}

interface Result {
  readonly connections: number;
  readonly opened: number;
  readonly failed: number;
  readonly closed: number;
  readonly cpuCores: number;
  readonly rssMiB: number;
  readonly hwmMiB: number;
  readonly sent: number;
  readonly echoes: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly observerP50: number;
  readonly observerP99: number;
  readonly observerSamples: number;
}

async function measure(connections: number, seconds: number, warmupS: number, usePrlimit: boolean): Promise<Result> {
  const echo = await startEcho(connections, usePrlimit);
  const clients: ChildProcess[] = [];
  try {
    const processes = Math.max(2, Math.ceil(connections / PER_CLIENT_PROCESS));
    const per = Math.ceil(connections / processes);
    const readies: Promise<{ opened: number; failed: number }>[] = [];
    for (let p = 0; p < processes; p++) {
      const count = Math.min(per, connections - p * per);
      const child = fork(SELF, ['--role', 'client', '--port', String(echo.port), '--count', String(count), '--first', String(p * per)], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      clients.push(child);
      readies.push(once(child, 'message').then(([m]) => m as { opened: number; failed: number }));
    }
    const ready = await Promise.all(readies);
    await delay(warmupS * 1000);
    const cpu0 = cpuSeconds(echo.pid);
    const wall0 = performance.now();
    for (const c of clients) c.send({ cmd: 'measure' } satisfies ToClient);
    const observed = await observe(echo.port, seconds);
    const reports = await Promise.all(
      clients.map((c) => {
        const reply = once(c, 'message').then(([m]) => m as Extract<FromClient, { report: true }>);
        c.send({ cmd: 'report' } satisfies ToClient);
        return reply;
      }),
    );
    const cpu = cpuSeconds(echo.pid) - cpu0;
    const wall = (performance.now() - wall0) / 1000;
    const rtts = reports.flatMap((r) => r.samples).sort((a, b) => a - b);
    return {
      connections,
      opened: ready.reduce((n, r) => n + r.opened, 0),
      failed: ready.reduce((n, r) => n + r.failed, 0),
      closed: reports.reduce((n, r) => n + r.closed, 0),
      cpuCores: cpu / wall,
      rssMiB: statusKiB(echo.pid, 'VmRSS') / 1024,
      hwmMiB: statusKiB(echo.pid, 'VmHWM') / 1024,
      sent: reports.reduce((n, r) => n + r.sent, 0),
      echoes: rtts.length,
      p50: percentile(rtts, 50),
      p99: percentile(rtts, 99),
      max: rtts.at(-1) ?? NaN,
      observerP50: percentile(observed, 50),
      observerP99: percentile(observed, 99),
      observerSamples: observed.length,
    };
  } finally {
    for (const c of clients) if (c.connected) c.disconnect();
    echo.child.kill('SIGTERM');
    await once(echo.child, 'exit');
  }
}

function line(label: string, r: Result): string {
  return (
    `${label}: ${r.opened}/${r.connections} open (${r.failed} failed, ${r.closed} closed while measured), ` +
    `echo CPU ${(r.cpuCores * 100).toFixed(1)}% of one core, RSS ${r.rssMiB.toFixed(0)} MiB (peak ${r.hwmMiB.toFixed(0)}), ` +
    `${r.echoes}/${r.sent} echoes, load clients' RTT p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms max ${r.max.toFixed(1)} ms, ` +
    `observer RTT p50 ${r.observerP50.toFixed(2)} ms p99 ${r.observerP99.toFixed(2)} ms (${r.observerSamples} echoes)`
  );
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const warmupS = Number(values.warmup);
  let connections = Number(values.connections);
  const hard = await hardFdLimit();
  const usePrlimit = connections + ECHO_OWN_FDS > hard && (await canSetFdLimit(connections + ECHO_OWN_FDS));
  if (!usePrlimit && connections + ECHO_OWN_FDS > hard) {
    const fits = hard - ECHO_OWN_FDS;
    console.log(`# the fd hard limit (${hard}) cannot be raised here (prlimit: not permitted) and fits ${fits} clients, not ${connections}: measuring ${fits}`);
    connections = fits;
  }
  console.log(machineLine());
  console.log(`# echo-scale: ${connections} vs ${values.baseline} clients, 1 message/s each from 127.0.0.2-9, ${seconds} s measured after ${warmupS} s`);
  const base = await measure(Number(values.baseline), seconds, warmupS, false);
  console.log(line('baseline', base));
  const big = await measure(connections, seconds, warmupS, usePrlimit);
  console.log(line('at scale', big));
  console.log(
    `added p99 ${(big.observerP99 - base.observerP99).toFixed(2)} ms at the observer, ${(big.p99 - base.p99).toFixed(2)} ms at the load clients (goal < 5 ms); echo CPU ${(big.cpuCores * 100).toFixed(1)}% of one core (goal < 100%); ` +
      `ratios at scale/baseline: CPU ${(big.cpuCores / base.cpuCores).toFixed(1)}x, RSS ${(big.rssMiB / base.rssMiB).toFixed(1)}x, observer p99 ${(big.observerP99 / base.observerP99).toFixed(2)}x; ` +
      `RSS per client ${(((big.rssMiB - base.rssMiB) * 1024) / (big.connections - base.connections)).toFixed(1)} KiB`,
  );
  console.log(loadLine());
}

if (values.role === 'client') await client(Number(values.port), Number(values.count), Number(values.first));
else await main();
