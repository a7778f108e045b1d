import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { connect as h2connect, createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } from 'node:net';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import type { DohOptions } from '../src/config/types.js';
import { startDohResponder, type DohRecords, type DohResponder } from '../src/demo/doh-responder.js';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { isProbeError, type ProbeError } from '../src/errors.js';
import { DohResolver } from '../src/net/doh.js';
import { waitFor } from './helpers/wait.js';

const ca = createCertificateAuthority();
const localCert = ca.issue(['127.0.0.1', 'localhost']);

const RECORDS: DohRecords = {
  't3.example.test': { A: ['192.0.2.10', '192.0.2.11'], AAAA: ['2001:db8::10'], ttl: 300 },
  'v6only.example.test': { AAAA: ['2001:db8::6'], ttl: 300 },
  'v4only.example.test': { A: ['192.0.2.4'], ttl: 300 },
  'empty.example.test': {},
  'short.example.test': { A: ['192.0.2.1'], ttl: 1 },
  'www.example.test': { CNAME: 'mid.example.test', ttl: 600 },
  'mid.example.test': { CNAME: 'real.example.test', ttl: 120 },
  'real.example.test': { A: ['192.0.2.99'], ttl: 900 },
};

async function responder(
  t: TestContext,
  options: { records?: DohRecords; allowHTTP1?: boolean; tls?: { certPem: string; keyPem: string } } = {},
): Promise<DohResponder> {
  const r = await startDohResponder({
    tls: options.tls ?? localCert,
    records: options.records ?? RECORDS,
    ...(options.allowHTTP1 === undefined ? {} : { allowHTTP1: options.allowHTTP1 }),
  });
  t.after(() => r.close());
  return r;
}

function dohOptions(url: string, overrides: Partial<DohOptions> = {}): DohOptions {
  return {
    url,
    method: 'GET',
    timeoutMs: 3_000,
    tls: { ca: ca.certPem, insecure: false },
    family: 4,
    minTtlS: 0,
    maxTtlS: 3_600,
    ...overrides,
  };
}

function resolver(t: TestContext, options: DohOptions, now?: () => number): DohResolver {
  const r = new DohResolver(options, now === undefined ? {} : { now });
  t.after(() => r.destroy());
  return r;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

async function probeError(promise: Promise<unknown>, code: ProbeError['code']): Promise<ProbeError> {
  const err = await rejection(promise);
  assert.ok(isProbeError(err), `expected a ProbeError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | undefined)?.code;
}

/** A port nothing listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** A scripted HTTP/2 server for answers the responder never gives (wrong type, huge body). */
async function scriptedServer(t: TestContext, handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void): Promise<string> {
  const server = createSecureServer({ cert: localCert.certPem, key: localCert.keyPem });
  server.on('request', handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.destroy();
    await closed;
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return `https://127.0.0.1:${address.port}/dns-query`;
}

test('A over GET, through HTTP/2 to an h2-only server', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url));
  const got = await doh.resolve('t3.example.test');
  assert.deepEqual(got, { address: '192.0.2.10', family: 4, ttlS: 300, fromCache: false });
  assert.deepEqual(r.queryLog, [{ name: 't3.example.test', type: 'A', method: 'GET', httpVersion: '2.0' }]);
});

test('A over POST', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url, { method: 'POST' }));
  const got = await doh.resolve('T3.Example.Test.');
  assert.equal(got.address, '192.0.2.10');
  assert.deepEqual(r.queryLog, [{ name: 't3.example.test', type: 'A', method: 'POST', httpVersion: '2.0' }]);
});

test('AAAA with family 6', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url, { family: 6 }));
  assert.deepEqual(await doh.resolve('t3.example.test'), { address: '2001:db8::10', family: 6, ttlS: 300, fromCache: false });
  assert.deepEqual(r.queryLog.map((q) => q.type), ['AAAA']);
});

test('family 0 asks for both, prefers A, falls back to AAAA', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url, { family: 0 }));
  const both = await doh.resolve('t3.example.test');
  assert.equal(both.family, 4);
  assert.equal(both.address, '192.0.2.10');
  const v6 = await doh.resolve('v6only.example.test');
  assert.deepEqual(v6, { address: '2001:db8::6', family: 6, ttlS: 300, fromCache: false });
  // Both types were asked for each name (the AAAA for the first may still be finishing).
  await waitFor('four queries', () => r.queries === 4);
  assert.deepEqual(
    r.queryLog.map((q) => `${q.name} ${q.type}`).sort(),
    ['t3.example.test A', 't3.example.test AAAA', 'v6only.example.test A', 'v6only.example.test AAAA'],
  );
});

test('also works against a server that allows HTTP/1.1, and stays on one connection', async (t) => {
  const r = await responder(t, { allowHTTP1: true });
  const doh = resolver(t, dohOptions(r.url, { family: 0 }));
  assert.equal((await doh.resolve('v6only.example.test')).address, '2001:db8::6');
  assert.equal((await doh.resolve('v4only.example.test')).address, '192.0.2.4');
  await waitFor('four queries', () => r.queries === 4);
  assert.deepEqual(new Set(r.queryLog.map((q) => q.httpVersion)), new Set(['2.0']));
});

test('queries are multiplexed on one HTTP/2 connection', async (t) => {
  const r = await responder(t);
  r.setFault('hang');
  const doh = resolver(t, dohOptions(r.url, { family: 0, timeoutMs: 30_000 }));
  const controller = new AbortController();
  const pending = rejection(doh.resolve('t3.example.test', controller.signal));
  const other = rejection(doh.resolve('v4only.example.test', controller.signal));
  // Four streams in flight at once, none answered: nothing waits behind a hung query.
  await waitFor('four concurrent queries', () => r.queries === 4);
  controller.abort(new Error('done'));
  await Promise.all([pending, other]);
});

test('falls back to HTTP/1.1 when the server does not offer h2', async (t) => {
  const versions: string[] = [];
  const server = createHttpsServer({ cert: localCert.certPem, key: localCert.keyPem }, (req, res) => {
    versions.push(req.httpVersion);
    const query = dnsPacket.decode(Buffer.from(new URL(req.url ?? '/', 'https://x').searchParams.get('dns') ?? '', 'base64url'));
    const question = query.questions![0]!;
    const answers: dnsPacket.Answer[] = question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 30, data: '192.0.2.80' }] : [];
    res.writeHead(200, { 'content-type': 'application/dns-message' });
    res.end(dnsPacket.encode({ type: 'response', id: 0, questions: [question], answers }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const doh = resolver(t, dohOptions(`https://127.0.0.1:${address.port}/dns-query`, { family: 0 }));
  const results = await Promise.all([doh.resolve('a.example.test'), doh.resolve('b.example.test')]);
  assert.deepEqual(results.map((x) => x.address), ['192.0.2.80', '192.0.2.80']);
  await waitFor('four queries', () => versions.length === 4);
  assert.deepEqual(new Set(versions), new Set(['1.1']));
});

test('answers are cached for their TTL, then asked again', async (t) => {
  const r = await responder(t);
  let nowMs = 1_000;
  const doh = resolver(t, dohOptions(r.url), () => nowMs);

  assert.deepEqual(await doh.resolve('short.example.test'), { address: '192.0.2.1', family: 4, ttlS: 1, fromCache: false });
  assert.equal(r.queries, 1);
  nowMs += 999;
  assert.deepEqual(await doh.resolve('short.example.test'), { address: '192.0.2.1', family: 4, ttlS: 1, fromCache: true });
  assert.equal(r.queries, 1);
  nowMs += 1;
  assert.equal((await doh.resolve('short.example.test')).fromCache, false);
  assert.equal(r.queries, 2);

  // clearCache forgets one name or all of them.
  assert.equal((await doh.resolve('t3.example.test')).fromCache, false);
  assert.equal((await doh.resolve('t3.example.test')).fromCache, true);
  doh.clearCache('T3.example.test');
  assert.equal((await doh.resolve('t3.example.test')).fromCache, false);
  doh.clearCache();
  assert.equal((await doh.resolve('t3.example.test')).fromCache, false);
  assert.equal(r.queries, 5);
});

test('the cache lifetime is clamped to [minTtlS, maxTtlS], and a 0 lifetime is not cached', async (t) => {
  const r = await responder(t);
  const clamped = resolver(t, dohOptions(r.url, { minTtlS: 30, maxTtlS: 120 }));
  assert.equal((await clamped.resolve('short.example.test')).ttlS, 30);
  assert.equal((await clamped.resolve('t3.example.test')).ttlS, 120);

  const uncached = resolver(t, dohOptions(r.url, { minTtlS: 0, maxTtlS: 0 }));
  const before = r.queries;
  assert.equal((await uncached.resolve('t3.example.test')).fromCache, false);
  assert.equal((await uncached.resolve('t3.example.test')).fromCache, false);
  assert.equal(r.queries, before + 2);
});

test('concurrent resolves of one name share one query per type', async (t) => {
  const r = await responder(t);
  const v4 = resolver(t, dohOptions(r.url));
  const [a, b] = await Promise.all([v4.resolve('t3.example.test'), v4.resolve('t3.example.test', new AbortController().signal)]);
  assert.deepEqual(a, b);
  assert.equal(r.queries, 1);

  // family 0 with no A: both answers are needed before either caller gets one.
  const dual = resolver(t, dohOptions(r.url, { family: 0 }));
  const results = await Promise.all([1, 2, 3].map(() => dual.resolve('v6only.example.test')));
  assert.ok(results.every((x) => x.address === '2001:db8::6'));
  assert.deepEqual(r.queryLog.slice(1).map((q) => q.type).sort(), ['A', 'AAAA']);
});

test('follows a CNAME chain inside one answer; the TTL is the smallest in the chain', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url, { method: 'POST' }));
  assert.deepEqual(await doh.resolve('www.example.test'), { address: '192.0.2.99', family: 4, ttlS: 120, fromCache: false });
  assert.equal(r.queries, 1);
});

test('NXDOMAIN is PROBE_ERR_DNS naming the host and the rcode', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url));
  const err = await probeError(doh.resolve('nope.example.test'), 'PROBE_ERR_DNS');
  assert.match(err.message, /nope\.example\.test/);
  assert.match(err.message, /NXDOMAIN/);

  r.setFault('nxdomain');
  assert.match((await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DNS')).message, /t3\.example\.test A .*NXDOMAIN/);
  // Failures are not cached: once the fault clears, the name resolves.
  r.setFault('none');
  assert.equal((await doh.resolve('t3.example.test')).fromCache, false);
});

test('SERVFAIL is PROBE_ERR_DNS', async (t) => {
  const r = await responder(t);
  r.setFault('servfail');
  const doh = resolver(t, dohOptions(r.url, { family: 0 }));
  assert.match((await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DNS')).message, /SERVFAIL/);
});

test('NOERROR without addresses is PROBE_ERR_DNS', async (t) => {
  const r = await responder(t);
  const v4 = resolver(t, dohOptions(r.url));
  assert.match((await probeError(v4.resolve('v6only.example.test'), 'PROBE_ERR_DNS')).message, /v6only\.example\.test A .*NOERROR but no A records/);
  const dual = resolver(t, dohOptions(r.url, { family: 0 }));
  assert.match((await probeError(dual.resolve('empty.example.test'), 'PROBE_ERR_DNS')).message, /NOERROR but no A or AAAA records/);
  // A CNAME to a name the answer has nothing for.
  r.setRecords({ 'dangling.example.test': { CNAME: 'gone.example.test' } });
  await probeError(v4.resolve('dangling.example.test'), 'PROBE_ERR_DNS');
});

test('HTTP 500 is PROBE_ERR_DOH with the status', async (t) => {
  const r = await responder(t);
  r.setFault('http500');
  const doh = resolver(t, dohOptions(r.url));
  const err = await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH');
  assert.equal(err.status, 500);
  assert.ok(err.message.includes(`DoH query for t3.example.test A to ${r.url}: HTTP 500`), err.message);
});

test('an undecodable body is PROBE_ERR_DOH with the decoder error as cause', async (t) => {
  const r = await responder(t);
  r.setFault('garbage');
  const doh = resolver(t, dohOptions(r.url, { method: 'POST' }));
  const err = await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH');
  assert.match(err.message, /not a DNS message/);
  assert.ok(err.cause instanceof Error);
});

test('a wrong content-type or an oversized body is PROBE_ERR_DOH', async (t) => {
  let mode: 'html' | 'huge' = 'html';
  const url = await scriptedServer(t, (_req, res) => {
    if (mode === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>captive portal</html>');
    } else {
      res.writeHead(200, { 'content-type': 'application/dns-message' });
      res.end(Buffer.alloc(100 * 1024));
    }
  });
  const doh = resolver(t, dohOptions(url));
  assert.match((await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH')).message, /content-type is "text\/html"/);
  mode = 'huge';
  assert.match((await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH')).message, /over the 65536 byte limit/);
});

test('a server that never answers is PROBE_ERR_DOH after timeoutMs', async (t) => {
  const r = await responder(t);
  r.setFault('hang');
  const doh = resolver(t, dohOptions(r.url, { timeoutMs: 300 }));
  const started = performance.now();
  const err = await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH');
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 2_000, `took ${elapsed} ms`);
  assert.match(err.message, /timed out after 300 ms/);
  assert.equal((err.cause as Error).name, 'TimeoutError');
  // The connection survives a timed-out stream: the next query on it works.
  r.setFault('none');
  assert.equal((await doh.resolve('t3.example.test')).address, '192.0.2.10');
});

test('a closed port is PROBE_ERR_DOH caused by ECONNREFUSED', async (t) => {
  const port = await closedPort();
  const doh = resolver(t, dohOptions(`https://127.0.0.1:${port}/dns-query`));
  const err = await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_DOH');
  assert.equal(codeOf(err.cause), 'ECONNREFUSED');
  assert.match(err.message, /ECONNREFUSED/);
});

test('TLS failures are PROBE_ERR_DOH with the TLS error as cause; insecure skips verification', async (t) => {
  const r = await responder(t, { tls: ca.issue(['other.example.test']) });
  const wrongName = resolver(t, dohOptions(r.url));
  assert.equal(codeOf((await probeError(wrongName.resolve('t3.example.test'), 'PROBE_ERR_DOH')).cause), 'ERR_TLS_CERT_ALTNAME_INVALID');

  const untrusted = resolver(t, dohOptions(r.url, { tls: { insecure: false } }));
  assert.equal(codeOf((await probeError(untrusted.resolve('t3.example.test'), 'PROBE_ERR_DOH')).cause), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

  const insecure = resolver(t, dohOptions(r.url, { tls: { insecure: true } }));
  assert.equal((await insecure.resolve('t3.example.test')).address, '192.0.2.10');
  assert.equal(r.queries, 1);
});

test('bootstrap connects to an IP while SNI and verification use a hostname system DNS cannot resolve', async (t) => {
  const r = await responder(t, { tls: ca.issue(['doh.invalid']) });
  const url = `https://doh.invalid:${r.port}/dns-query`;

  // Control: without bootstrap the DoH host does not resolve.
  const plain = resolver(t, dohOptions(url));
  await probeError(plain.resolve('t3.example.test'), 'PROBE_ERR_DOH');
  assert.equal(r.queries, 0);

  // net calls lookup with { all: true } under happy-eyeballs and without it otherwise: try both.
  const saved = getDefaultAutoSelectFamily();
  t.after(() => setDefaultAutoSelectFamily(saved));
  for (const autoSelectFamily of [true, false]) {
    setDefaultAutoSelectFamily(autoSelectFamily);
    const doh = resolver(t, dohOptions(url, { bootstrap: '127.0.0.1' }));
    assert.equal((await doh.resolve('t3.example.test')).address, '192.0.2.10', `autoSelectFamily ${autoSelectFamily}`);
    await doh.close();
  }
  assert.equal(r.queries, 2);
});

test('the caller aborting rejects promptly with its reason, and stops the abandoned query', async (t) => {
  const r = await responder(t);
  r.setFault('hang');
  const doh = resolver(t, dohOptions(r.url, { timeoutMs: 30_000 }));

  const before = new AbortController();
  before.abort(new Error('not even started'));
  assert.equal((await rejection(doh.resolve('t3.example.test', before.signal)) as Error).message, 'not even started');
  assert.equal(r.queries, 0);

  const controller = new AbortController();
  const pending = rejection(doh.resolve('t3.example.test', controller.signal));
  await waitFor('the query to reach the server', () => r.queries === 1);
  const reason = new Error('caller gave up');
  const started = performance.now();
  controller.abort(reason);
  assert.equal(await pending, reason);
  assert.ok(performance.now() - started < 1_000);

  // The next caller starts a fresh query rather than joining the abandoned one.
  r.setFault('none');
  assert.equal((await doh.resolve('t3.example.test')).address, '192.0.2.10');
  assert.equal(r.queries, 2);
});

test('one caller aborting does not fail others sharing the query', async (t) => {
  const r = await responder(t);
  r.setFault('hang');
  const doh = resolver(t, dohOptions(r.url, { timeoutMs: 300 }));
  const quitter = new AbortController();
  const first = rejection(doh.resolve('t3.example.test', quitter.signal));
  const second = doh.resolve('t3.example.test', new AbortController().signal);
  await waitFor('the query to reach the server', () => r.queries === 1);
  quitter.abort(new Error('quit'));
  assert.equal(((await first) as Error).message, 'quit');
  // The shared query still runs for the second caller, bounded by timeoutMs.
  assert.match((await probeError(second, 'PROBE_ERR_DOH')).message, /timed out/);
  assert.equal(r.queries, 1);
});

test('an IP literal is returned without a query', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url));
  assert.deepEqual(await doh.resolve('192.0.2.55'), { address: '192.0.2.55', family: 4, ttlS: 0, fromCache: false });
  assert.deepEqual(await doh.resolve('[2001:db8::5]'), { address: '2001:db8::5', family: 6, ttlS: 0, fromCache: false });
  assert.deepEqual(await doh.resolve('2001:db8::5'), { address: '2001:db8::5', family: 6, ttlS: 0, fromCache: false });
  assert.equal(r.queries, 0);
});

test('invalid hostnames and bad config are ProbeErrors, not crashes', async (t) => {
  const r = await responder(t);
  const doh = resolver(t, dohOptions(r.url));
  for (const bad of ['', 'a..b', `${'x'.repeat(64)}.test`, `${'abcdefghi.'.repeat(26)}test`]) {
    await probeError(doh.resolve(bad), 'PROBE_ERR_DNS');
  }
  assert.equal(r.queries, 0);
  assert.throws(() => new DohResolver(dohOptions('http://127.0.0.1/dns-query')), (e) => isProbeError(e, 'PROBE_ERR_CONFIG'));
  assert.throws(() => new DohResolver(dohOptions('not a url')), (e) => isProbeError(e, 'PROBE_ERR_CONFIG'));
  assert.throws(() => new DohResolver(dohOptions(r.url, { bootstrap: 'dns.google' })), (e) => isProbeError(e, 'PROBE_ERR_CONFIG'));
});

test('close() is idempotent and later resolves are PROBE_ERR_CLOSED; destroy() aborts queries in flight', async (t) => {
  const r = await responder(t);
  const doh = new DohResolver(dohOptions(r.url));
  await doh.resolve('t3.example.test');
  const first = doh.close();
  assert.equal(doh.close(), first);
  await Promise.all([first, doh.close(), doh.destroy()]);
  await probeError(doh.resolve('t3.example.test'), 'PROBE_ERR_CLOSED');

  r.setFault('hang');
  const doomed = new DohResolver(dohOptions(r.url, { timeoutMs: 30_000 }));
  const pending = probeError(doomed.resolve('t3.example.test'), 'PROBE_ERR_CLOSED');
  await waitFor('the query to reach the server', () => r.queries === 2);
  const started = performance.now();
  await doomed.destroy();
  await pending;
  assert.ok(performance.now() - started < 1_000);
  await doomed.destroy();
});

test('the responder rejects malformed requests', async (t) => {
  const r = await responder(t);
  const session = h2connect(`https://127.0.0.1:${r.port}`, { ca: ca.certPem });
  session.on('error', () => {});
  t.after(() => session.destroy());
  async function status(headers: Record<string, string>, body?: Buffer): Promise<number> {
    const stream = session.request(headers);
    stream.on('error', () => {});
    stream.resume();
    stream.end(body);
    const [response] = (await once(stream, 'response')) as [Record<string, unknown>];
    return Number(response[':status']);
  }
  const query = dnsPacket.encode({ type: 'query', id: 0, questions: [{ type: 'A', name: 't3.example.test' }] });
  assert.equal(await status({ ':path': `/dns-query?dns=${query.toString('base64url')}` }), 200);
  assert.equal(await status({ ':path': '/dns-query?dns=%%%' }), 400);
  assert.equal(await status({ ':path': '/dns-query?dns=AAAA' }), 400);
  assert.equal(await status({ ':path': '/dns-query' }), 400);
  assert.equal(await status({ ':path': '/elsewhere' }), 404);
  const post = { ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message' };
  assert.equal(await status(post, Buffer.alloc(5_000)), 413);
  assert.equal(await status({ ...post, 'content-type': 'text/plain' }, query), 415);
  assert.equal(await status({ ':method': 'DELETE', ':path': '/dns-query' }), 405);
  assert.equal(r.queries, 1);
});

test('the process exits on its own after close()', async () => {
  const script = `
    import { startDohResponder } from './src/demo/doh-responder.ts';
    import { createCertificateAuthority } from './src/demo/pki.ts';
    import { DohResolver } from './src/net/doh.ts';
    const ca = createCertificateAuthority();
    const r = await startDohResponder({ tls: ca.issue(['127.0.0.1']), records: { 'a.test': { A: ['192.0.2.1'] } } });
    const doh = new DohResolver({ url: r.url, method: 'GET', timeoutMs: 5000, tls: { ca: ca.certPem, insecure: false }, family: 0, minTtlS: 0, maxTtlS: 60 });
    console.log((await doh.resolve('a.test')).address);
    r.setFault('hang');
    doh.clearCache();
    const hung = doh.resolve('a.test').catch((e) => e.code);
    while (r.queries < 4) await new Promise((resolve) => setImmediate(resolve));
    await r.close();
    console.log(await hung);
    await doh.close();
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    timeout: 20_000,
  });
  assert.deepEqual(stdout.trim().split('\n'), ['192.0.2.1', 'PROBE_ERR_DOH']);
});
