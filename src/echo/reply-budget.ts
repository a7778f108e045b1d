/**
 * No amplification: on any connection, the server never sends more bytes than it has received.
 * Every fixed answer (health, 404, refusals) is built with a known size and sent only if the
 * connection has paid for it; otherwise the connection is closed without one. Real clients send
 * far larger heads than our answers (curl's smallest health request is 91 bytes, the answer 60);
 * a hand-made request of a few bytes gets nothing.
 */
import type { Duplex } from 'node:stream';

interface Counted {
  readonly bytesRead?: number;
  readonly bytesWritten?: number;
}

/** Whether `bytes` more can be written without exceeding what this connection has sent us. */
export function canAfford(socket: Duplex, bytes: number): boolean {
  const { bytesRead = 0, bytesWritten = 0 } = socket as Duplex & Counted;
  return bytesWritten + bytes <= bytesRead;
}
