/**
 * The far end of the soak: a ws echo on loopback that flaps every connection it accepts, on a
 * seeded schedule, and keeps its own ledger of what it injected, leg by leg and reason by reason.
 *
 * Each leg connects to /soak/<leg>. A connection answers 0-2 heartbeats, then takes one fault:
 * - `close-frame`: a WebSocket close frame 1012 ("service restart"): a graceful restart -> closed;
 * - `kill`: FIN without a close frame, as a killed process's kernel sends for a socket whose data
 *   it had read -> closed. The socket stays readable (half-closed), so a heartbeat already in
 *   flight is absorbed instead of drawing an RST that would make the count a coin toss;
 * - `reset`: an RST (socket.resetAndDestroy) on the first heartbeat, before any echo -> reset;
 * - `blackhole`: stops answering and never closes; the probe's deadline must end it -> timeout.
 * After a fault, the leg's next 0-2 reconnects are refused (an RST on the upgrade request, or a
 * 503 answer): a leg that is already down must not count them as drops, so the ledger expects
 * nothing for them. Once a leg has taken its share of faults its connections just echo.
 *
 * Faults are only injected on receipt of a heartbeat, which the probe sends only once its side of
 * the connection is open: every injected fault is a drop of a leg that was up, never a failed
 * connect, so the ledger is exact by construction.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Reason } from '../../src/reasons.js';

export const FAULTS = ['close-frame', 'kill', 'reset', 'blackhole'] as const;
export type Fault = (typeof FAULTS)[number];

export const FAULT_REASON: Readonly<Record<Fault, Reason>> = {
  'close-frame': 'closed',
  kill: 'closed',
  reset: 'reset',
  blackhole: 'timeout',
};

export const REFUSALS = ['upgrade-reset', 'upgrade-503'] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface LegLedger {
  /** Faults injected so far; the leg's expected disconnects, by fault. */
  readonly faults: Record<Fault, number>;
  /** Reconnect attempts refused while the leg was down: never drops. */
  readonly refusals: Record<Refusal, number>;
  cycles: number;
  /** Heartbeats answered by a connection opened after the leg's last fault. */
  steadyEchoes: number;
  refusePending: number;
  /** Planned faults turned into blackholes because the heartbeat that triggered them was stale. */
  staleConversions: number;
}

export interface FarEndOptions {
  readonly legs: readonly string[];
  readonly cyclesPerLeg: number;
  readonly seed: number;
  /** A heartbeat older than this (its own `t`) only ever triggers a blackhole. */
  readonly staleAfterMs: number;
}

/** The heartbeat's age from the send time it carries; same machine, same clock. */
function heartbeatAgeMs(data: Buffer): number {
  try {
    const { t } = JSON.parse(data.toString('utf8')) as { t?: unknown };
    return typeof t === 'number' ? Date.now() - t : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export interface FarEnd {
  readonly port: number;
  urlFor(leg: string): string;
  readonly ledger: ReadonlyMap<string, LegLedger>;
  /** Faults injected across all legs. */
  readonly injected: number;
  /** Every leg took its share and has since answered a heartbeat on a fresh connection. */
  settled(): boolean;
  /** Expected t3probe_disconnects_total{leg,reason}, zeros included. */
  expectedDisconnects(leg: string): Map<Reason, number>;
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function zeroed<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

export async function startFarEnd(options: FarEndOptions): Promise<FarEnd> {
  const random = seeded(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const ledger = new Map<string, LegLedger>(
    options.legs.map((leg) => [leg, { faults: zeroed(FAULTS), refusals: zeroed(REFUSALS), cycles: 0, steadyEchoes: 0, refusePending: 0, staleConversions: 0 }]),
  );
  let injected = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('upgrade', (req: http.IncomingMessage, duplex: Duplex, head: Buffer) => {
    const socket = duplex as Socket;
    socket.on('error', () => {});
    const leg = /^\/soak\/([^/?]+)$/.exec(req.url ?? '')?.[1];
    const entry = leg === undefined ? undefined : ledger.get(leg);
    if (entry === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (entry.refusePending > 0) {
      entry.refusePending--;
      const refusal = pick(REFUSALS);
      entry.refusals[refusal]++;
      if (refusal === 'upgrade-reset') socket.resetAndDestroy();
      else socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(entry, ws, socket));
  });

  function serve(entry: LegLedger, ws: WebSocket, socket: Socket): void {
    ws.on('error', () => {});
    const steady = entry.cycles >= options.cyclesPerLeg;
    const answered0to2 = Math.floor(random() * 3);
    const planned = pick(FAULTS);
    // An RST that reaches the probe behind bytes it has not read yet reads as a clean close:
    // libuv sees POLLHUP after a partial read and reports EOF without ever reading the
    // ECONNRESET (reproduced with bare ws and net, about 1 in 100 when an echo and the reset leave
    // in the same tick). So a reset goes only to a connection with nothing in flight to the probe:
    // on its first heartbeat, before any echo.
    const answerFirst = planned === 'reset' ? 0 : answered0to2;
    let answered = 0;
    let faulted = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (faulted) return;
      if (steady || answered < answerFirst) {
        ws.send(data, { binary: isBinary, compress: false });
        answered++;
        if (steady) entry.steadyEchoes++;
        return;
      }
      faulted = true;
      // A heartbeat that reached us late (this process or the probe stalled) may already have
      // timed out on the probe's side, so a close or reset now could be counted either way. A
      // blackhole is a timeout whatever the probe saw, so that is what the ledger injects.
      const fault = heartbeatAgeMs(data) > options.staleAfterMs ? 'blackhole' : planned;
      if (fault !== planned) entry.staleConversions++;
      entry.faults[fault]++;
      entry.cycles++;
      injected++;
      entry.refusePending = Math.floor(random() * 3);
      inject(fault, ws, socket);
    });
  }

  function inject(fault: Fault, ws: WebSocket, socket: Socket): void {
    switch (fault) {
      case 'close-frame':
        ws.close(1012, 'service restart');
        return;
      case 'kill':
        socket.end();
        return;
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'blackhole':
        return;
    }
  }

  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    urlFor: (leg) => `ws://127.0.0.1:${port}/soak/${leg}`,
    ledger,
    get injected() {
      return injected;
    },
    settled: () => [...ledger.values()].every((l) => l.cycles >= options.cyclesPerLeg && l.steadyEchoes > 0),
    expectedDisconnects(leg) {
      const entry = ledger.get(leg);
      if (entry === undefined) throw new Error(`unknown leg ${leg}`);
      const expected = new Map<Reason, number>();
      for (const fault of FAULTS) {
        const reason = FAULT_REASON[fault];
        expected.set(reason, (expected.get(reason) ?? 0) + entry.faults[fault]);
      }
      return expected;
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
