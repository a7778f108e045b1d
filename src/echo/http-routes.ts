/**
 * The plain HTTP side of the echo server: the health route, and the short answers for requests
 * that are not ours to serve. Paths are matched without their query string.
 *
 * Every answer is as small as HTTP allows: no Date, no Server, bodies only where they are the
 * point. That keeps each one below the size of any real client's request (see reply-budget.ts).
 * Refusals close the connection, leaving a stranger nothing to hold open. A health answer keeps
 * the connection open when the client asked for that (HTTP/1.1 without `Connection: close`):
 * an http leg that reuses its connection is what notices a path forgetting established
 * connections (a conntrack flush), and the reply budget is per connection, so reuse amplifies
 * nothing. The server bounds how long a kept connection may wait for its next request.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { EchoCounters } from './counters.js';
import { canAfford } from './reply-budget.js';

const HEALTH_BODY = 'ok\n';

/** The path of a request target, without query or fragment. Absolute-form targets are parsed. */
export function requestPath(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (!url.startsWith('/')) {
    try {
      return new URL(url).pathname;
    } catch {
      return url;
    }
  }
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** `GET|HEAD /probe/healthz` → 200 `ok\n`; anything else on that path → 405. */
export function serveHealth(req: IncomingMessage, res: ServerResponse, counters: EchoCounters): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    answer(req, res, counters, 405, { Allow: 'GET, HEAD' });
    return;
  }
  // res.shouldKeepAlive is false when the request asked to close (or was HTTP/1.0 without keep-alive).
  answer(req, res, counters, 200, { Connection: res.shouldKeepAlive ? 'keep-alive' : 'close', 'Content-Length': String(HEALTH_BODY.length) }, HEALTH_BODY);
}

/** A plain GET on the WebSocket path: 426 names the protocol the path wants. */
export function serveUpgradeRequired(req: IncomingMessage, res: ServerResponse, counters: EchoCounters): void {
  answer(req, res, counters, 426, { Upgrade: 'websocket', Connection: 'Upgrade, close' });
}

export function serveNotFound(req: IncomingMessage, res: ServerResponse, counters: EchoCounters): void {
  answer(req, res, counters, 404);
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  counters: EchoCounters,
  status: number,
  headers: Record<string, string> = {},
  body = '',
): void {
  const all: Record<string, string> = { Connection: 'close', ...headers };
  // Node drops the body of a HEAD response by itself; Content-Length still says what GET returns.
  const sentBody = req.method === 'HEAD' ? '' : body;
  const size =
    Buffer.byteLength(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n\r\n`) +
    Object.entries(all).reduce((sum, [name, value]) => sum + Buffer.byteLength(`${name}: ${value}\r\n`), 0) +
    Buffer.byteLength(sentBody);
  if (!canAfford(req.socket, size)) {
    counters.unanswered++;
    req.socket.destroy();
    return;
  }
  res.sendDate = false;
  // Without a length the body ends with the connection, which closes anyway; saves a header.
  if (all['Content-Length'] === undefined) {
    res.removeHeader('Content-Length');
    res.removeHeader('Transfer-Encoding');
  }
  res.writeHead(status, all);
  res.end(sentBody);
}
