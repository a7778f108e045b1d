/**
 * Scripted TCP far ends for idle tests: each connection's behaviour is a function of how many
 * messages it has seen, and every received chunk is timestamped so tests can prove silence.
 *
 * An idle leg (and `idle-check`) keeps a control connection to the same far end next to each idle
 * one. Control heartbeats start with `t3probe control `, so every connection is classified by its
 * first bytes, and tests can look at the idle connections alone.
 */
import net, { type AddressInfo } from 'node:net';

export type ConnectionKind = 'idle' | 'control';

export interface TcpScript {
  /** What to do with the n-th chunk (0-based) of a connection: echo it, swallow it, reset, or FIN. */
  (n: number, socket: net.Socket, kind: ConnectionKind): 'echo' | 'swallow' | 'reset' | 'end';
}

export interface ConnectionLog {
  /** Connections accepted so far (of this kind, once their first bytes said which). */
  readonly accepted: number;
  /** performance.now() of every chunk received, per connection (in accept order). */
  readonly receivedAt: number[][];
}

export interface ScriptedTcpServer extends ConnectionLog {
  readonly port: number;
  readonly url: string;
  /** Only the idle connections (the ones carrying `t3probe idle` probes). */
  readonly idle: ConnectionLog;
  /** Only the control connections (the ones carrying `t3probe control` heartbeats). */
  readonly control: ConnectionLog;
  /** Connections open right now. */
  readonly open: number;
  /** End (FIN) every open connection now. */
  endAll(): void;
  /** Destroy every connection and stop listening: the far end's process is gone. */
  close(): Promise<void>;
}

const CONTROL_PREFIX = Buffer.from('t3probe control ');

export async function startScriptedTcpServer(script: TcpScript): Promise<ScriptedTcpServer> {
  const sockets = new Set<net.Socket>();
  const receivedAt: number[][] = [];
  const byKind: Record<ConnectionKind, number[][]> = { idle: [], control: [] };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const times: number[] = [];
    receivedAt.push(times);
    let kind: ConnectionKind | undefined;
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (kind === undefined) {
        kind = chunk.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX) ? 'control' : 'idle';
        byKind[kind].push(times);
      }
      const action = script(times.length, socket, kind);
      times.push(performance.now());
      if (action === 'echo') socket.write(chunk);
      else if (action === 'reset') socket.resetAndDestroy();
      else if (action === 'end') socket.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  const log = (kind: ConnectionKind): ConnectionLog => ({
    get accepted() {
      return byKind[kind].length;
    },
    receivedAt: byKind[kind],
  });
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    get accepted() {
      return receivedAt.length;
    },
    receivedAt,
    idle: log('idle'),
    control: log('control'),
    get open() {
      return sockets.size;
    },
    endAll() {
      for (const s of sockets) s.end();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A user-space stand-in for a middlebox with an idle timeout (IPVS, a cloud LB, a NAT), in front
 * of a TCP echo: a connection silent for longer than `timeoutMs` is forgotten for good.
 * - `swallow`: its later bytes vanish (IPVS with the connection forgotten: the client hangs);
 * - `reset`: its next bytes are answered with RST (the same-node case of moby#37466);
 * - `end`: it is closed with a FIN as soon as the timeout passes (an LB that closes idle ones).
 * A connection that talks more often than `timeoutMs` (a heartbeating control) is never forgotten.
 */
export async function startForgetfulTcpServer(timeoutMs: number, forget: 'swallow' | 'reset' | 'end'): Promise<ScriptedTcpServer> {
  const last = new WeakMap<net.Socket, number>();
  const forgotten = new WeakSet<net.Socket>();
  const timers = new WeakMap<net.Socket, NodeJS.Timeout>();
  return startScriptedTcpServer((_n, socket) => {
    const now = performance.now();
    const previous = last.get(socket);
    last.set(socket, now);
    if (forget === 'end') {
      const armed = timers.get(socket);
      if (armed === undefined) socket.once('close', () => clearTimeout(timers.get(socket)));
      else clearTimeout(armed);
      const timer = setTimeout(() => socket.end(), timeoutMs);
      timer.unref();
      timers.set(socket, timer);
      return 'echo';
    }
    if (forgotten.has(socket) || (previous !== undefined && now - previous > timeoutMs)) {
      forgotten.add(socket);
      return forget;
    }
    return 'echo';
  });
}
