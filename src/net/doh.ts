/**
 * DNS-over-HTTPS client (RFC 8484) for the legs' `resolve: { mode: 'doh' }`.
 *
 * One undici Client per resolver, with HTTP/2 allowed: real DoH servers (unbound) may speak h2
 * only, and one long-lived h2 session multiplexes every query. With `bootstrap`, the DoH host is
 * never looked up in system DNS: the TCP connection goes to the bootstrap IP while SNI, Host and
 * certificate verification keep the URL's hostname.
 *
 * Every failure is a ProbeError: PROBE_ERR_DOH when the DoH exchange itself failed (transport,
 * TLS, timeout, HTTP status, content-type, undecodable body), PROBE_ERR_DNS when the exchange
 * worked and the answer says the name does not resolve. The one exception is the caller's own
 * AbortSignal, whose reason is rethrown as is.
 */
import { isIP, type LookupFunction } from 'node:net';
import type { TLSSocket } from 'node:tls';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildConnector, Client } from 'undici';
import type { DohOptions } from '../config/types.js';
import { ProbeError, errorText } from '../errors.js';
import { raceSignal } from '../util/race-signal.js';
import { followChain, normalizeName, sameName, type QueryOutcome, type RecordKind } from './dns-answer.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
  /** Seconds the answer may still be used: the clamped TTL, or what is left of it when cached. 0 for an IP literal. */
  readonly ttlS: number;
  readonly fromCache: boolean;
}

/** Test seams. `now` is a monotonic clock in milliseconds (default `performance.now`). */
export interface DohResolverInternals {
  readonly now?: () => number;
}

/** RFC 8484 §6: the media type of both query and answer. */
const DNS_MESSAGE = 'application/dns-message';
/** A DNS message over DoH is at most 65535 bytes; anything bigger is not an answer. */
const MAX_BODY_BYTES = 64 * 1024;
/** Concurrent queries on one h2 connection; unbound's default http-max-streams is 100. */
const H2_MAX_STREAMS = 32;
const MAX_CACHE_ENTRIES = 256;
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'] as const;

interface CacheEntry {
  readonly address: string;
  readonly family: 4 | 6;
  readonly expiresAtMs: number;
}

interface InFlight {
  readonly promise: Promise<ResolvedAddress>;
  readonly controller: AbortController;
  /** Callers still waiting with a signal they may abort; when the last one leaves, the query stops. */
  waiters: number;
  settled: boolean;
}

function noop(): void {}

function ipLiteral(hostname: string): { address: string; family: 4 | 6 } | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(bare);
  return family === 4 || family === 6 ? { address: bare, family } : undefined;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function mediaType(value: string | undefined): string | undefined {
  return value?.split(';')[0]?.trim().toLowerCase();
}

/** errorText, led by the error's code when the text does not say it (undici's "other side closed"). */
function describe(err: unknown): string {
  const text = errorText(err);
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}

/** `connect.lookup` that always answers with the bootstrap IP, in both callback forms net uses. */
function bootstrapLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    process.nextTick(() => {
      if (options.all === true) callback(null, [{ address, family }]);
      else callback(null, address, family);
    });
  };
}

export class DohResolver {
  readonly #options: DohOptions;
  readonly #url: URL;
  readonly #client: Client;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, InFlight>();
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  /**
   * @param options.url RFC 8484 endpoint; must be https.
   * @param options.method GET (`?dns=`, cache friendly) or POST.
   * @param options.bootstrap IP to connect to instead of resolving the DoH hostname.
   * @param options.timeoutMs bound for each query, connect included.
   * @param options.tls `ca` (extra trust) and `insecure` (skip verification).
   * @param options.family 4, 6, or 0 (both in parallel, A preferred).
   * @param options.minTtlS / options.maxTtlS clamp for the cache lifetime of an answer.
   */
  constructor(options: DohOptions, internals: DohResolverInternals = {}) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (err) {
      throw new ProbeError('PROBE_ERR_CONFIG', `doh.url: must be an https URL (got ${JSON.stringify(options.url)})`, { key: 'doh.url', cause: err });
    }
    if (url.protocol !== 'https:') {
      throw new ProbeError('PROBE_ERR_CONFIG', `doh.url: must be an https URL (got ${JSON.stringify(options.url)})`, { key: 'doh.url' });
    }
    const bootstrap = options.bootstrap === undefined ? undefined : ipLiteral(options.bootstrap);
    if (options.bootstrap !== undefined && bootstrap === undefined) {
      throw new ProbeError('PROBE_ERR_CONFIG', `doh.bootstrap: must be an IP address (got ${JSON.stringify(options.bootstrap)})`, { key: 'doh.bootstrap' });
    }
    this.#options = options;
    this.#url = url;
    this.#now = internals.now ?? (() => performance.now());

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const tlsConnect = buildConnector({
      allowH2: true,
      timeout: options.timeoutMs,
      rejectUnauthorized: !options.tls.insecure,
      // SNI must be a DNS name; for an IP URL, tls verifies against the IP itself.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
      ...(bootstrap === undefined ? {} : { lookup: bootstrapLookup(bootstrap.address, bootstrap.family) }),
    });
    const client = new Client(url.origin, {
      allowH2: true,
      keepAliveTimeout: 30_000,
      // undici 7 keeps a Client at one request at a time even on h2 (nodejs/undici#4143) unless
      // pipelining is raised. Raise it only once h2 is negotiated: HTTP/1.1 pipelining is unsafe.
      connect: (connectOptions, callback) => {
        tlsConnect(connectOptions, (...args) => {
          // On failure undici passes (err) alone, whatever its types say.
          const socket = args[1] as TLSSocket | null | undefined;
          if (socket) client.pipelining = socket.alpnProtocol === 'h2' ? H2_MAX_STREAMS : 1;
          callback(...args);
        });
      },
    });
    this.#client = client;
  }

  /**
   * Resolve hostname to one address. A and AAAA per options.family (0 = query both in parallel,
   * prefer A, fall back to AAAA; 4 = A only; 6 = AAAA only). Cached per hostname by TTL (min TTL
   * of the answer RRset used, CNAMEs included, clamped to [minTtlS, maxTtlS]). An IP literal
   * hostname returns itself without a query. Concurrent calls for the same uncached name share
   * one in-flight query, which stops early only when every caller waiting on it has aborted.
   */
  async resolve(hostname: string, signal?: AbortSignal): Promise<ResolvedAddress> {
    signal?.throwIfAborted();
    if (this.#closing !== undefined || this.#destroying !== undefined) {
      throw new ProbeError('PROBE_ERR_CLOSED', `DoH resolver for ${this.#url.href} is closed`);
    }
    const literal = ipLiteral(hostname);
    if (literal !== undefined) return { ...literal, ttlS: 0, fromCache: false };

    const name = normalizeName(hostname);
    if (name === undefined) {
      throw new ProbeError('PROBE_ERR_DNS', `DNS lookup of ${JSON.stringify(hostname)}: not a valid hostname`);
    }
    const cached = this.#cache.get(name);
    if (cached !== undefined) {
      const leftMs = cached.expiresAtMs - this.#now();
      if (leftMs > 0) return { address: cached.address, family: cached.family, ttlS: Math.ceil(leftMs / 1000), fromCache: true };
      this.#cache.delete(name);
    }
    return this.#wait(this.#inFlight.get(name) ?? this.#start(name), signal);
  }

  /** Drop cached answers (all, or one name). */
  clearCache(hostname?: string): void {
    if (hostname === undefined) {
      this.#cache.clear();
      return;
    }
    const name = normalizeName(hostname);
    if (name !== undefined) this.#cache.delete(name);
  }

  /** Graceful and idempotent: lets queries in flight finish, then closes the connection. */
  close(): Promise<void> {
    this.#closing ??= this.#destroying ?? this.#client.close().catch(noop);
    return this.#closing;
  }

  /** Immediate: aborts queries in flight and drops the connection. */
  destroy(): Promise<void> {
    if (this.#destroying === undefined) {
      const reason = new ProbeError('PROBE_ERR_CLOSED', `DoH resolver for ${this.#url.href} was destroyed`);
      for (const flight of this.#inFlight.values()) flight.controller.abort(reason);
      this.#inFlight.clear();
      this.#destroying = this.#client.destroy(reason).catch(noop);
    }
    return this.#destroying;
  }

  #start(name: string): InFlight {
    const controller = new AbortController();
    const flight: InFlight = {
      controller,
      waiters: 0,
      settled: false,
      promise: this.#lookup(name, controller.signal).then((resolved) => {
        this.#remember(name, resolved);
        return resolved;
      }),
    };
    // A flight abandoned by every caller still settles; nobody may be listening.
    flight.promise
      .catch(noop)
      .finally(() => {
        flight.settled = true;
        if (this.#inFlight.get(name) === flight) this.#inFlight.delete(name);
      })
      .catch(noop);
    this.#inFlight.set(name, flight);
    return flight;
  }

  #wait(flight: InFlight, signal: AbortSignal | undefined): Promise<ResolvedAddress> {
    if (signal === undefined) {
      // A caller that cannot abort keeps the flight alive for good.
      flight.waiters = Number.POSITIVE_INFINITY;
      return flight.promise;
    }
    flight.waiters++;
    return raceSignal(flight.promise, signal, () => {
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) {
        // Nobody wants this answer any more: stop it, and let the next caller start afresh.
        for (const [name, f] of this.#inFlight) if (f === flight) this.#inFlight.delete(name);
        flight.controller.abort(signal.reason);
      }
    });
  }

  #remember(name: string, resolved: ResolvedAddress): void {
    if (resolved.ttlS <= 0) return;
    const now = this.#now();
    if (this.#cache.size >= MAX_CACHE_ENTRIES) {
      for (const [key, entry] of this.#cache) if (entry.expiresAtMs <= now) this.#cache.delete(key);
      // Still full: forget the oldest insertion.
      const oldest = this.#cache.size >= MAX_CACHE_ENTRIES ? this.#cache.keys().next() : undefined;
      if (oldest?.done === false) this.#cache.delete(oldest.value);
    }
    this.#cache.set(name, { address: resolved.address, family: resolved.family, expiresAtMs: now + resolved.ttlS * 1000 });
  }

  async #lookup(name: string, signal: AbortSignal): Promise<ResolvedAddress> {
    const { family } = this.#options;
    if (family !== 0) {
      const type: RecordKind = family === 4 ? 'A' : 'AAAA';
      const outcome = await this.#query(name, type, signal);
      if (outcome.ok) return this.#answer(outcome, family);
      throw this.#dnsError(name, type, outcome.rcode);
    }

    // Both in parallel; A wins when it has addresses, even if AAAA is still on its way.
    const a = this.#query(name, 'A', signal);
    const aaaa = this.#query(name, 'AAAA', signal);
    aaaa.catch(noop);
    const aResult = await a.catch((err: unknown) => err as ProbeError);
    if (!(aResult instanceof ProbeError) && aResult.ok) return this.#answer(aResult, 4);
    const aaaaResult = await aaaa.catch((err: unknown) => err as ProbeError);
    if (!(aaaaResult instanceof ProbeError) && aaaaResult.ok) return this.#answer(aaaaResult, 6);

    // Neither has an address. A failed exchange says more than an empty answer.
    if (aResult instanceof ProbeError) throw aResult;
    if (aaaaResult instanceof ProbeError) throw aaaaResult;
    throw this.#dnsError(name, 'A/AAAA', aResult.rcode === 'NOERROR' ? aaaaResult.rcode : aResult.rcode);
  }

  #answer(outcome: { addresses: readonly string[]; ttlS: number }, family: 4 | 6): ResolvedAddress {
    const ttlS = Math.min(Math.max(outcome.ttlS, this.#options.minTtlS), this.#options.maxTtlS);
    // #query only reports ok with at least one address.
    return { address: outcome.addresses[0] ?? '', family, ttlS, fromCache: false };
  }

  #dnsError(name: string, type: string, rcode: string): ProbeError {
    const detail = rcode === 'NOERROR' ? `NOERROR but no ${type.replace('/', ' or ')} records` : rcode;
    return new ProbeError('PROBE_ERR_DNS', `DNS lookup of ${name} ${type} via ${this.#url.href}: ${detail}`);
  }

  /** One DoH exchange, bounded by timeoutMs. Throws PROBE_ERR_DOH (or PROBE_ERR_CLOSED) only. */
  async #query(name: string, type: RecordKind, signal: AbortSignal): Promise<QueryOutcome> {
    const what = `DoH query for ${name} ${type} to ${this.#url.href}`;
    const { timeoutMs } = this.#options;
    const timer = new AbortController();
    const timeout = setTimeout(() => {
      timer.abort(new DOMException(`${what} timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    timeout.unref();
    try {
      signal.throwIfAborted();
      return await this.#exchange(name, type, what, AbortSignal.any([signal, timer.signal]));
    } catch (err) {
      if (err instanceof ProbeError) throw err;
      if (this.#destroying !== undefined) {
        throw new ProbeError('PROBE_ERR_CLOSED', `${what}: resolver destroyed`, { cause: err });
      }
      if (timer.signal.aborted && !signal.aborted) {
        throw new ProbeError('PROBE_ERR_DOH', `${what}: timed out after ${timeoutMs} ms`, { cause: timer.signal.reason });
      }
      throw new ProbeError('PROBE_ERR_DOH', `${what}: ${describe(err)}`, { cause: err });
    } finally {
      clearTimeout(timeout);
    }
  }

  async #exchange(name: string, type: RecordKind, what: string, signal: AbortSignal): Promise<QueryOutcome> {
    // RFC 8484 §4.1: id 0, so GET answers are cacheable by HTTP caches.
    const wire = dnsPacket.encode({
      type: 'query',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' }],
    });
    const path = this.#url.pathname + this.#url.search;
    const get = this.#options.method === 'GET';
    const response = await this.#client.request({
      method: this.#options.method,
      path: get ? `${path}${this.#url.search === '' ? '?' : '&'}dns=${wire.toString('base64url')}` : path,
      headers: get ? { accept: DNS_MESSAGE } : { accept: DNS_MESSAGE, 'content-type': DNS_MESSAGE },
      ...(get ? {} : { body: wire }),
      signal,
    });
    const { statusCode, headers, body } = response;
    body.on('error', noop);
    if (statusCode < 200 || statusCode > 299) {
      body.destroy();
      throw new ProbeError('PROBE_ERR_DOH', `${what}: HTTP ${statusCode}`, { status: statusCode });
    }
    const contentType = headerValue(headers['content-type']);
    if (mediaType(contentType) !== DNS_MESSAGE) {
      body.destroy();
      throw new ProbeError('PROBE_ERR_DOH', `${what}: content-type is ${JSON.stringify(contentType ?? '(none)')}, not ${DNS_MESSAGE}`, { status: statusCode });
    }
    const declared = Number(headerValue(headers['content-length']));
    if (declared > MAX_BODY_BYTES) {
      body.destroy();
      throw new ProbeError('PROBE_ERR_DOH', `${what}: answer of ${declared} bytes is over the ${MAX_BODY_BYTES} byte limit`, { status: statusCode });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY_BYTES) {
        body.destroy();
        throw new ProbeError('PROBE_ERR_DOH', `${what}: answer is over the ${MAX_BODY_BYTES} byte limit`, { status: statusCode });
      }
      chunks.push(buf);
    }
    const bytes = Buffer.concat(chunks, size);

    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(bytes);
    } catch (err) {
      throw new ProbeError('PROBE_ERR_DOH', `${what}: body is not a DNS message (${size} bytes)`, { status: statusCode, cause: err });
    }
    if (packet.type !== 'response') {
      throw new ProbeError('PROBE_ERR_DOH', `${what}: body is a DNS query, not a response`, { status: statusCode });
    }
    const question = packet.questions?.[0];
    if (question !== undefined && (!sameName(question.name, name) || question.type !== type)) {
      throw new ProbeError('PROBE_ERR_DOH', `${what}: answer is for ${question.name} ${question.type}`, { status: statusCode });
    }

    const rcodeNumber = (packet.flags ?? 0) & 0xf;
    const rcode = RCODES[rcodeNumber] ?? `RCODE_${rcodeNumber}`;
    if (rcode !== 'NOERROR') return { ok: false, rcode };
    return followChain(packet.answers ?? [], name, type);
  }
}
