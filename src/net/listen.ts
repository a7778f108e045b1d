/**
 * Start a server listening and report the address it got (port 0 picks a free one). A failure
 * (EADDRINUSE, EACCES, EADDRNOTAVAIL) becomes PROBE_ERR_LISTEN naming the address and the errno,
 * with the platform error on `cause`. Shared by the probe's server and the echo servers.
 */
import type { Server } from 'node:net';
import type { ListenAddress } from '../config/types.js';
import { ProbeError } from '../errors.js';

export interface BoundAddress {
  host: string;
  port: number;
}

export async function listen(server: Server, address: ListenAddress, what: string): Promise<BoundAddress> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      const code = err.code ?? 'EUNKNOWN';
      reject(new ProbeError('PROBE_ERR_LISTEN', `${what}: cannot listen on ${formatHostPort(address)}: ${code} (${err.message})`, { cause: err }));
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address.host, port: address.port });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error(`${what}: listening, but not on a TCP address`);
  return { host: bound.address, port: bound.port };
}

/** `host:port`, with IPv6 literals bracketed. */
export function formatHostPort({ host, port }: { host: string; port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Close a server's listener; resolves once every connection it accepted has closed too. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // ERR_SERVER_NOT_RUNNING just means it was never listening or is already closed.
    server.close(() => resolve());
  });
}
