/**
 * The plain HTTP side of the echo server: the health route, and the short text answers for
 * requests that are not ours to serve. Paths are matched without their query string.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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
export function serveHealth(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, 'Method Not Allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  sendText(res, 200, HEALTH_BODY, { 'cache-control': 'no-store' });
}

/** A plain GET on the WebSocket path: tell the client what the path is for. */
export function serveUpgradeRequired(res: ServerResponse): void {
  sendText(res, 426, 'Upgrade Required: this path is a WebSocket echo\n', { upgrade: 'websocket', connection: 'Upgrade' });
}

export function serveNotFound(res: ServerResponse): void {
  sendText(res, 404, 'Not Found\n');
}

function sendText(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain',
    'content-length': String(Buffer.byteLength(body)),
  });
  // Node drops the body of a HEAD response by itself; content-length still says what GET returns.
  res.end(body);
}
