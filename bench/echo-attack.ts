/**
 * The echo server under attack. Runs `t3-probe echo` (dist/, as shipped) in a child process and,
 * from a second child, all at once:
 *   - 10,000 WebSocket connections held open (each says one word, then stays silent), spread
 *     over source addresses 127.0.0.2-127.0.0.250 so the per-IP cap is not what stops them;
 *   - 200 connections sending garbage (half not HTTP at all, half invalid frames after a real
 *     upgrade), each reconnecting as soon as it is thrown out;
 *   - 500 slowloris connections dribbling an upgrade head a byte a second, reconnecting when cut;
 *   - one client flooding messages as fast as its socket takes them, reconnecting when cut.
 * Meanwhile this process, one good client, sends one message every 100 ms and measures its RTT.
 * Prints the good client's p50/p99/max, the server's peak RSS (VmHWM) and CPU, and its counters,
 * for a baseline run without attack and for the attack run. Figures only: no pass or fail.
 *
 *   npm run build && node --import tsx bench/echo-attack.ts [--seconds 30] [--connections 10000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    port: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '10000' },
    garbage: { type: 'string', default: '200' },
    slowloris: { type: 'string', default: '500' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const GARBAGE = Number(values.garbage);
const SLOWLORIS = Number(values.slowloris);
const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const SELF = fileURLToPath(import.meta.url);

/** 127.0.0.2 .. 127.0.0.250, round robin. */
function sourceAddress(i: number): string {
  return `127.0.0.${2 + (i % 249)}`;
}

function upgradeHead(port: number): string {
  return `GET /probe/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i & 3]!));
  return Buffer.concat([header, mask, masked]);
}

// ---------------------------------------------------------------- the attacker (a child process)

async function attack(port: number): Promise<void> {
  let stopping = false;
  process.on('disconnect', () => {
    stopping = true;
    process.exit(0);
  });
  const url = `ws://127.0.0.1:${port}/probe/ws`;
  let opened = 0;
  let failed = 0;
  const held: WebSocket[] = [];

  const holdOne = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url, { localAddress: sourceAddress(i), perMessageDeflate: false });
      ws.on('error', () => {});
      ws.once('open', () => {
        opened++;
        // One word, so the first-message timeout leaves it alone: an attacker that knows the rules.
        ws.send('hi');
        held.push(ws);
        resolve();
      });
      ws.once('close', () => {
        if (!stopping && ws.readyState !== WebSocket.OPEN) failed++;
        resolve();
      });
    });

  const garbageOne = (i: number): void => {
    if (stopping) return;
    const socket = connect({ port, host: '127.0.0.1', localAddress: sourceAddress(i + 7) });
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => setTimeout(() => garbageOne(i), 10));
    socket.once('connect', () => {
      if (i % 2 === 0) {
        socket.write(randomBytes(256));
      } else {
        socket.write(upgradeHead(port));
        socket.once('data', () => socket.write(Buffer.concat([maskedFrame(0x3, Buffer.from('bad opcode')), randomBytes(64)])));
      }
    });
  };

  const slowlorisOne = (i: number): void => {
    if (stopping) return;
    const socket = connect({ port, host: '127.0.0.1', localAddress: sourceAddress(i + 13) });
    const head = upgradeHead(port);
    let sent = 0;
    const ticker = setInterval(() => {
      if (sent < head.length - 1) socket.write(head[sent++]!);
    }, 1_000);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearInterval(ticker);
      setTimeout(() => slowlorisOne(i), 10);
    });
  };

  let floodSent = 0;
  let floodCut = 0;
  const floodOne = (): void => {
    if (stopping) return;
    const ws = new WebSocket(url, { localAddress: '127.0.0.251', perMessageDeflate: false });
    ws.on('error', () => {});
    const payload = Buffer.alloc(64, 0x61);
    const pump = (): void => {
      while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) {
        ws.send(payload);
        floodSent++;
      }
      if (ws.readyState === WebSocket.OPEN) setImmediate(pump);
    };
    ws.once('open', pump);
    ws.once('close', () => {
      floodCut++;
      setTimeout(floodOne, 10);
    });
  };

  // Hold the 10,000 first, 200 opening at a time (the listen backlog is finite).
  for (let i = 0; i < CONNECTIONS; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, CONNECTIONS - i) }, (_, j) => holdOne(i + j)));
  }
  for (let i = 0; i < GARBAGE; i++) garbageOne(i);
  for (let i = 0; i < SLOWLORIS; i++) slowlorisOne(i);
  floodOne();
  process.send?.({ ready: true, opened, failed });
  setInterval(() => process.send?.({ opened, failed, stillOpen: held.filter((ws) => ws.readyState === WebSocket.OPEN).length, floodSent, floodCut }), 1_000).unref();
}

// ---------------------------------------------------------------- the bench (this process)

interface EchoChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly output: () => string;
}

async function startEcho(): Promise<EchoChild> {
  const cli = path.join(ROOT, 'dist', 'cli.js');
  const flags = [
    '--listen 127.0.0.1:0',
    `--max-connections ${CONNECTIONS + 2_000}`,
    '--max-connections-per-ip 200',
  ].join(' ');
  // 10,000 clients need more descriptors than a default soft limit: raise it to the hard one.
  // exec keeps the pid, so /proc/<pid> is the echo server itself.
  const child = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec "${process.execPath}" "${cli}" echo ${flags}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const match = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
    if (match) return { child, pid: child.pid!, port: Number(match[1]), output: () => output };
    if (Date.now() > deadline) throw new Error(`echo did not start: ${output}`);
    await delay(50);
  }
}

function procStatus(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? NaN);
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function goodClient(port: number, seconds: number): Promise<{ samples: number; p50: number; p99: number; max: number; lost: number }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/probe/ws`, { localAddress: '127.0.0.1', perMessageDeflate: false });
  await once(ws, 'open');
  const rtts: number[] = [];
  const sentAt = new Map<number, number>();
  ws.on('message', (data: Buffer) => {
    const seq = Number(data.toString());
    const t0 = sentAt.get(seq);
    if (t0 !== undefined) {
      rtts.push(performance.now() - t0);
      sentAt.delete(seq);
    }
  });
  let closedEarly = false;
  ws.once('close', () => (closedEarly = true));
  const count = Math.round((seconds * 1000) / 100);
  for (let seq = 0; seq < count && !closedEarly; seq++) {
    sentAt.set(seq, performance.now());
    ws.send(String(seq));
    await delay(100);
  }
  await delay(1_000);
  ws.terminate();
  rtts.sort((a, b) => a - b);
  return { samples: rtts.length, p50: percentile(rtts, 50), p99: percentile(rtts, 99), max: rtts.at(-1) ?? NaN, lost: count - rtts.length };
}

async function run(underAttack: boolean): Promise<void> {
  const echo = await startEcho();
  let attacker: ChildProcess | undefined;
  let last: Record<string, number> = {};
  try {
    if (underAttack) {
      const startedAt = performance.now();
      attacker = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec "${process.execPath}" --import tsx "${SELF}" --role attack --port ${echo.port} --connections ${CONNECTIONS} --garbage ${GARBAGE} --slowloris ${SLOWLORIS}`], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      attacker.on('message', (m: Record<string, number>) => (last = m));
      await new Promise<void>((resolve) => attacker!.on('message', (m: { ready?: boolean }) => m.ready === true && resolve()));
      console.log(`  attack ramped up in ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ${last.opened} held open, ${last.failed} failed`);
      // Let the slowloris and garbage churn reach steady state.
      await delay(6_000);
    }
    const cpuBefore = cpuSeconds(echo.pid);
    const wallBefore = performance.now();
    const good = await goodClient(echo.port, SECONDS);
    const cpu = cpuSeconds(echo.pid) - cpuBefore;
    const wall = (performance.now() - wallBefore) / 1000;
    const hwmMiB = procStatus(echo.pid, 'VmHWM') / 1024;
    const rssMiB = procStatus(echo.pid, 'VmRSS') / 1024;
    console.log(
      `  good client: ${good.samples} echoes, p50 ${good.p50.toFixed(2)} ms, p99 ${good.p99.toFixed(2)} ms, max ${good.max.toFixed(2)} ms, lost ${good.lost}`,
    );
    console.log(`  server: peak RSS (VmHWM) ${hwmMiB.toFixed(0)} MiB, RSS now ${rssMiB.toFixed(0)} MiB, CPU ${((cpu / wall) * 100).toFixed(0)}% of one core over ${wall.toFixed(0)} s`);
    if (underAttack) console.log(`  attacker: ${last.stillOpen} of ${last.opened} held connections still open, flood messages sent ${last.floodSent}, flooder cut ${last.floodCut} times`);
  } finally {
    attacker?.kill('SIGKILL');
    echo.child.kill('SIGTERM');
    await once(echo.child, 'exit');
    const counters = /"counters":(\{[^}]*\})/.exec(echo.output())?.[1];
    console.log(`  server counters: ${counters ?? '(none logged)'}`);
  }
}

if (values.role === 'attack') {
  await attack(Number(values.port));
} else {
  console.log(`echo-attack: node ${process.version}, ${SECONDS} s of good-client echoes (1 every 100 ms)`);
  console.log('baseline (no attack):');
  await run(false);
  console.log(`under attack (${CONNECTIONS} held + ${GARBAGE} garbage + ${SLOWLORIS} slowloris + 1 flooder):`);
  await run(true);
}
