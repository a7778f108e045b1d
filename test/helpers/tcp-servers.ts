/**
 * Scripted TCP far ends for idle tests: each connection's behaviour is a function of how many
 * messages it has seen, and every received chunk is timestamped so tests can prove silence.
 */
import net, { type AddressInfo } from 'node:net';

export interface TcpScript {
  /** What to do with the n-th chunk (0-based) of a connection: echo it, swallow it, reset, or FIN. */
  (n: number, socket: net.Socket): 'echo' | 'swallow' | 'reset' | 'end';
}

export interface ScriptedTcpServer {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** performance.now() of every chunk received, per connection (in accept order). */
  readonly receivedAt: number[][];
  /** End (FIN) every open connection now. */
  endAll(): void;
  close(): Promise<void>;
}

export async function startScriptedTcpServer(script: TcpScript): Promise<ScriptedTcpServer> {
  const sockets = new Set<net.Socket>();
  const receivedAt: number[][] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const times: number[] = [];
    receivedAt.push(times);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      const action = script(times.length, socket);
      times.push(performance.now());
      if (action === 'echo') socket.write(chunk);
      else if (action === 'reset') socket.resetAndDestroy();
      else if (action === 'end') socket.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    get accepted() {
      return receivedAt.length;
    },
    receivedAt,
    endAll() {
      for (const s of sockets) s.end();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
