/**
 * The probe's own HTTP server: the status page at /, then /metrics, /healthz, /readyz, /status.
 * Bounded like anything that listens: small header limits, request timeouts, a connection cap,
 * GET/HEAD only.
 */
import http from 'node:http';
import type { ListenAddress } from '../config/types.js';
import type { Logger } from '../log.js';
import { EXPOSITION_CONTENT_TYPES, negotiateFormat, type ExpositionFormat } from '../metrics/exposition.js';
import { formatHostPort, listen as listenOn, type BoundAddress } from '../net/listen.js';
import { statusPage } from './status-page.js';

/**
 * What the server needs from a probe, declared here so the server never imports the probe: whether
 * it is ready, a JSON-ready status, its metrics text, and a logger for failed requests.
 */
export interface ProbeView {
  readonly ready: boolean;
  status(): object;
  /** The /metrics body in chunks, each written before the next is made (src/metrics/exposition.ts). */
  readonly metrics: {
    exposition(format: ExpositionFormat, signal?: AbortSignal): AsyncIterable<string | Uint8Array>;
    /** Take back a chunk once its bytes are written (the next scrape reuses it); optional. */
    recycle?(chunk: Uint8Array): void;
  };
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
      // A body already under way cannot turn into an error page: cut it, so the scraper sees a
      // failed scrape rather than a truncated one.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
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
    case '/metrics':
      await sendMetrics(probe, req, res);
      return;
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

/**
 * /metrics in the format the Accept header prefers, streamed chunk by chunk: the renderer yields
 * the event loop between chunks and waits for 'drain' when the socket is full, so neither a large
 * body nor a slow scraper holds up the heartbeats. A scraper that goes away stops the render.
 */
async function sendMetrics(probe: ProbeView, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const format = negotiateFormat(req.headers.accept);
  res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPES[format], 'cache-control': 'no-store', vary: 'Accept' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const gone = new AbortController();
  const onClose = (): void => gone.abort();
  res.once('close', onClose);
  try {
    const { metrics } = probe;
    for await (const chunk of metrics.exposition(format, gone.signal)) {
      // A Buffer chunk goes back to the renderer once the socket has taken it, never before.
      const taken = typeof chunk === 'string' || metrics.recycle === undefined ? res.write(chunk) : res.write(chunk, (err) => err == null && metrics.recycle?.(chunk));
      if (!taken) await drained(res);
      if (res.destroyed) return;
    }
    res.end();
  } catch (err) {
    if (gone.signal.aborted) return; // the scraper left: nothing to answer
    throw err;
  } finally {
    res.off('close', onClose);
  }
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
