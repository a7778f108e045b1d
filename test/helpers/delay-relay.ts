/**
 * A TCP relay that adds a fixed one-way delay to every chunk in both directions, keeping order:
 * a WAN round trip on loopback (this machine has no netem). A leg through it always has a
 * heartbeat or request in flight, which is what a probe stall has to be judged against.
 */
import net, { type AddressInfo } from 'node:net';

export interface DelayRelay {
  readonly port: number;
  close(): Promise<void>;
}

function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, timers: Set<NodeJS.Timeout>): void {
  from.on('data', (chunk: Buffer) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!to.destroyed) to.write(chunk);
    }, delayMs);
    timers.add(timer);
  });
  from.on('end', () => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      to.end();
    }, delayMs);
    timers.add(timer);
  });
}

export async function startDelayRelay(target: { host: string; port: number }, oneWayDelayMs: number): Promise<DelayRelay> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    delayedPipe(client, upstream, oneWayDelayMs, timers);
    delayedPipe(upstream, client, oneWayDelayMs, timers);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
