/**
 * The probe's own HTTP server: the status page at /, then /metrics, /healthz, /readyz, /status.
 * Bounded like anything that listens: small header limits, request timeouts, a connection cap,
 * GET/HEAD only.
 */
import http from 'node:http';
import type { ListenAddress } from '../config/types.js';
import type { Logger } from '../log.js';
import { formatHostPort, listen as listenOn, type BoundAddress } from '../net/listen.js';
import { statusPage } from './status-page.js';

/**
 * What the server needs from a probe, declared here so the server never imports the probe: whether
 * it is ready, a JSON-ready status, its metrics text, and a logger for failed requests.
 */
export interface ProbeView {
  readonly ready: boolean;
  status(): object;
  readonly metrics: { render(): Promise<string>; readonly contentType: string };
  readonly log: Logger;
  /** The half-width and burst gap of the verdict in status(): the page labels what it shows. */
  readonly statusWindow: { readonly windowMs: number; readonly burstMs: number };
}

export interface ProbeServer {
  readonly url: string;
  readonly address: BoundAddress;
  close(): Promise<void>;
}

const MAX_CONNECTIONS = 256;
/** A request's headers must arrive within this; Prometheus sends them in one packet. */
export const PROBE_SERVER_HEADERS_TIMEOUT_MS = 5_000;
/** A whole request (headers and body) must arrive within this. */
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * How often Node checks the two timeouts above. Its default, 30 s, let a slowloris client hold a
 * socket for up to 35 s; every second keeps the real bound within a second of the documented one.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
const CLOSE_GRACE_MS = 2_000;

/** The status page as served: its body and headers, built once per server. */
interface PageResponse {
  readonly body: string;
  readonly headers: http.OutgoingHttpHeaders;
}

export async function startProbeServer(probe: ProbeView, listen: ListenAddress, signal?: AbortSignal): Promise<ProbeServer> {
  signal?.throwIfAborted();
  // The window and burst lengths of /status's verdict, so the page's labels describe what it shows.
  const { html, csp } = await statusPage(probe.statusWindow);
  signal?.throwIfAborted();
  const page: PageResponse = {
    body: html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  };
  const server = http.createServer(
    {
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: PROBE_SERVER_HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      maxHeaderSize: 8 * 1024,
    }, (req, res) => {
    void handle(probe, page, req, res).catch((err: unknown) => {
      probe.log.error({ err }, 'probe server request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 65_000; // longer than Prometheus' scrape interval, so scrapes reuse connections
  server.on('clientError', (_err, socket) => socket.destroy());

  const address = await listenOn(server, listen, 'probe server');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${formatHostPort(address)}`,
    address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

async function handle(probe: ProbeView, page: PageResponse, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  const path = (req.url ?? '/').split('?', 1)[0];
  switch (path) {
    case '/':
      res.writeHead(200, page.headers).end(req.method === 'HEAD' ? undefined : page.body);
      return;
    case '/metrics': {
      const body = await probe.metrics.render();
      res.writeHead(200, { 'content-type': probe.metrics.contentType }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    case '/readyz': {
      const ready = probe.ready;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
      return;
    }
    case '/status':
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
        .end(req.method === 'HEAD' ? undefined : JSON.stringify(probe.status(), null, 2));
      return;
    default:
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
