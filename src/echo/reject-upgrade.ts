/**
 * Refuse an HTTP upgrade on the raw socket: after the 'upgrade' event Node has handed the socket
 * over, so the response is written by hand (as ws's `abortHandshake` does), then the socket is
 * destroyed once the response is flushed. The answer is a bare status line: the status says it
 * all, and it stays smaller than the request it answers (see reply-budget.ts); a request too
 * small to pay even for that gets the connection closed without one.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EchoCounters } from './counters.js';
import { canAfford } from './reply-budget.js';

const EXTRA_HEADERS: Readonly<Record<number, string>> = { 401: 'WWW-Authenticate: Bearer\r\n' };

export function rejectUpgrade(socket: Duplex, status: number, counters: EchoCounters): void {
  socket.on('error', ignore);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const response = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${EXTRA_HEADERS[status] ?? ''}Connection: close\r\n\r\n`;
  if (!canAfford(socket, Buffer.byteLength(response))) {
    counters.unanswered++;
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(response);
}

function ignore(): void {
  // A peer that resets while being refused is not our problem.
}
