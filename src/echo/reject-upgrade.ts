/**
 * Refuse an HTTP upgrade on the raw socket: after the 'upgrade' event Node has handed the socket
 * over, so the response is written by hand (as ws's `abortHandshake` does), then the socket is
 * destroyed once the response is flushed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export function rejectUpgrade(socket: Duplex, status: number): void {
  socket.on('error', ignore);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = `${reason}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

function ignore(): void {
  // A peer that resets while being refused is not our problem.
}
