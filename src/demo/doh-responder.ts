/**
 * A real, minimal DNS-over-HTTPS server (RFC 8484) for the demo and the tests. Like unbound it
 * speaks HTTP/2 over TLS only unless `allowHTTP1` is set, answers GET `?dns=` and POST
 * `application/dns-message` at /dns-query from a static record table, and can be told to
 * misbehave (`setFault`) so the client's failure paths can be exercised against real sockets.
 */
import { once } from 'node:events';
import {
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { Socket } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type RecordType } from 'dns-packet';
import { Ring } from '../util/ring.js';
import { closeOnAbort } from '../util/close-on-abort.js';

export interface DohRecords {
  [hostname: string]: { A?: string[]; AAAA?: string[]; CNAME?: string; ttl?: number };
}

export type DohFault = 'none' | 'nxdomain' | 'servfail' | 'http500' | 'garbage' | 'hang';

export interface DohQueryLogEntry {
  readonly name: string;
  readonly type: string;
  readonly method: 'GET' | 'POST';
  readonly httpVersion: string;
}

export interface DohResponder {
  /** https://HOST:PORT/dns-query */
  readonly url: string;
  readonly port: number;
  /** Well-formed DNS queries received, faulted ones included. */
  readonly queries: number;
  /** The last 100 queries, oldest first. */
  readonly queryLog: ReadonlyArray<DohQueryLogEntry>;
  /** Replace the whole record table. */
  setRecords(records: DohRecords): void;
  setFault(fault: DohFault): void;
  /** Idempotent; ends every connection, hung streams included. */
  close(): Promise<void>;
}

export interface DohResponderOptions {
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  readonly records: DohRecords;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Also serve HTTP/1.1. Default false, like unbound. */
  readonly allowHTTP1?: boolean;
  /** Aborting closes the responder. */
  readonly signal?: AbortSignal;
}

const PATH = '/dns-query';
const DNS_MESSAGE = 'application/dns-message';
const MAX_QUERY_BYTES = 4096;
const LOG_SIZE = 100;
const DEFAULT_TTL_S = 60;
const MAX_CNAME_HOPS = 8;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function noop(): void {}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function normalizeRecords(records: DohRecords): DohRecords {
  const out: DohRecords = {};
  for (const [name, entry] of Object.entries(records)) out[normalize(name)] = entry;
  return out;
}

function reply(res: Http2ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** The answer section for one question: CNAMEs from the table, then the final RRset. */
function answersFor(records: DohRecords, name: string, type: RecordType): { rcode: number; answers: Answer[] } {
  const answers: Answer[] = [];
  let current = normalize(name);
  let entry = records[current];
  if (entry === undefined) return { rcode: RCODE.NXDOMAIN, answers };
  for (let hop = 0; entry.CNAME !== undefined && type !== 'CNAME' && hop < MAX_CNAME_HOPS; hop++) {
    const target = normalize(entry.CNAME);
    answers.push({ type: 'CNAME', name: current, ttl: entry.ttl ?? DEFAULT_TTL_S, class: 'IN', data: target });
    const next = records[target];
    if (next === undefined) return { rcode: RCODE.NOERROR, answers };
    current = target;
    entry = next;
  }
  const ttl = entry.ttl ?? DEFAULT_TTL_S;
  const data = type === 'A' ? entry.A : type === 'AAAA' ? entry.AAAA : type === 'CNAME' && entry.CNAME !== undefined ? [entry.CNAME] : undefined;
  for (const value of data ?? []) answers.push({ type: type as 'A' | 'AAAA' | 'CNAME', name: current, ttl, class: 'IN', data: value });
  return { rcode: RCODE.NOERROR, answers };
}

export async function startDohResponder(options: DohResponderOptions): Promise<DohResponder> {
  options.signal?.throwIfAborted();
  const host = options.host ?? '127.0.0.1';
  let records = normalizeRecords(options.records);
  let fault: DohFault = 'none';
  let queries = 0;
  const log = new Ring<DohQueryLogEntry>(LOG_SIZE);
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();

  const server = createSecureServer({
    cert: options.tls.certPem,
    key: options.tls.keyPem,
    allowHTTP1: options.allowHTTP1 ?? false,
  });
  // Misbehaving clients must never take the responder (or the test process) down.
  server.on('sessionError', noop);
  server.on('tlsClientError', noop);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', noop);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('error', noop);
    session.once('close', () => sessions.delete(session));
  });

  function answer(req: Http2ServerRequest, res: Http2ServerResponse, method: 'GET' | 'POST', wire: Buffer): void {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(wire);
    } catch {
      reply(res, 400, 'not a DNS message');
      return;
    }
    const question = query.questions?.[0];
    if (query.type !== 'query' || question === undefined) {
      reply(res, 400, 'not a DNS query with a question');
      return;
    }
    queries++;
    log.push({ name: question.name, type: question.type, method, httpVersion: req.httpVersion });

    switch (fault) {
      case 'hang':
        return; // never answer; close() ends the stream with its connection
      case 'http500':
        reply(res, 500, 'injected fault');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': DNS_MESSAGE });
        res.end(Buffer.from('garbage')); // shorter than a DNS header: undecodable
        return;
      default:
        break;
    }
    const { rcode, answers } =
      fault === 'nxdomain'
        ? { rcode: RCODE.NXDOMAIN, answers: [] }
        : fault === 'servfail'
          ? { rcode: RCODE.SERVFAIL, answers: [] }
          : answersFor(records, question.name, question.type);
    const body = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | rcode,
      questions: [question],
      answers,
    });
    const minTtl = Math.min(...answers.map((rr) => ('ttl' in rr ? (rr.ttl ?? 0) : 0)), DEFAULT_TTL_S);
    res.writeHead(200, {
      'content-type': DNS_MESSAGE,
      'content-length': body.length,
      'cache-control': `max-age=${minTtl}`,
    });
    res.end(body);
  }

  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    req.on('error', noop);
    res.on('error', noop);
    let url: URL;
    try {
      url = new URL(req.url, 'https://responder.invalid');
    } catch {
      reply(res, 400, 'bad request target');
      return;
    }
    if (url.pathname !== PATH) {
      reply(res, 404, 'not found');
      return;
    }
    if (req.method === 'GET') {
      const param = url.searchParams.get('dns');
      // base64url without padding; 4 chars carry 3 bytes.
      if (param === null || param.length === 0 || !/^[A-Za-z0-9_-]+$/.test(param)) {
        reply(res, 400, 'missing or malformed dns parameter');
        return;
      }
      if (param.length > Math.ceil((MAX_QUERY_BYTES * 4) / 3)) {
        reply(res, 413, 'query too large');
        return;
      }
      answer(req, res, 'GET', Buffer.from(param, 'base64url'));
      return;
    }
    if (req.method === 'POST') {
      if ((req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() !== DNS_MESSAGE) {
        reply(res, 415, `content-type must be ${DNS_MESSAGE}`);
        return;
      }
      if (Number(req.headers['content-length']) > MAX_QUERY_BYTES) {
        reply(res, 413, 'query too large');
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let rejected = false;
      req.on('data', (chunk: Buffer) => {
        if (rejected) return;
        size += chunk.length;
        if (size > MAX_QUERY_BYTES) {
          rejected = true;
          reply(res, 413, 'query too large');
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (!rejected) answer(req, res, 'POST', Buffer.concat(chunks, size));
      });
      return;
    }
    res.setHeader('allow', 'GET, POST');
    reply(res, 405, 'method not allowed');
  });

  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}${PATH}`;

  let closing: Promise<void> | undefined;
  let untieSignal = (): void => {};
  function close(): Promise<void> {
    if (closing === undefined) {
      untieSignal();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      closing = closed;
    }
    return closing;
  }
  untieSignal = await closeOnAbort(options.signal, close);

  return {
    url,
    port,
    get queries() {
      return queries;
    },
    get queryLog() {
      return log.toArray();
    },
    setRecords(next) {
      records = normalizeRecords(next);
    },
    setFault(next) {
      fault = next;
    },
    close,
  };
}
