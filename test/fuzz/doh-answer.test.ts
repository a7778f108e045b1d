/**
 * DoH answers: random bytes, valid DNS packets with random answers, and the same packets with
 * bytes flipped or cut off, served over the real HTTP/2 path (a node:http2 TLS server) to the
 * real DohResolver; CNAME chains and loops, zero and huge TTLs, wrong names, A against AAAA
 * through the answer reader. Every query ends in an address of the asked family or a ProbeError
 * PROBE_ERR_DOH / PROBE_ERR_DNS (reason `dns`), within the query timeout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSecureServer, type ServerHttp2Session } from 'node:http2';
import { isIP, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import dnsPacket, { type Answer } from 'dns-packet';
import fc from 'fast-check';
import { createCertificateAuthority } from '../../src/demo/pki.js';
import { isProbeError } from '../../src/errors.js';
import { followChain } from '../../src/net/dns-answer.js';
import { DohResolver } from '../../src/net/doh.js';
import { reasonOf } from '../../src/reasons.js';
import { dohOptions } from '../helpers/legs.js';
import { fuzzRuns, testTimeout } from './fuzz-options.js';

const NAME = 't3.example.test';
const NAMES = [NAME, 'a.example.test', 'b.example.test', 'c.example.test', 'T3.Example.Test.', 'other.test'];
const TTLS = [0, 1, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

const ttlArb = fc.oneof(fc.constantFrom(...TTLS), fc.nat({ max: 2 ** 32 - 1 }));
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  fc.record({ type: fc.constant('A' as const), name: fc.constantFrom(...NAMES), ttl: ttlArb, data: fc.ipV4() }),
  fc.record({ type: fc.constant('AAAA' as const), name: fc.constantFrom(...NAMES), ttl: ttlArb, data: fc.ipV6() }),
  fc.record({ type: fc.constant('CNAME' as const), name: fc.constantFrom(...NAMES), ttl: ttlArb, data: fc.constantFrom(...NAMES) }),
  fc.record({ type: fc.constant('TXT' as const), name: fc.constantFrom(...NAMES), ttl: ttlArb, data: fc.string({ maxLength: 20 }) }),
);

/** A response packet for NAME (or a wrong question), with random answers, rcode and flags. */
const packetArb = fc
  .record({
    qname: fc.constantFrom(NAME, NAME, NAME, 'other.test'),
    qtype: fc.constantFrom('A', 'AAAA'),
    rcode: fc.constantFrom(0, 0, 0, 2, 3, 5, 9),
    answers: fc.array(answerArb, { maxLength: 8 }),
  })
  .map(({ qname, qtype, rcode, answers }) =>
    dnsPacket.encode({
      type: 'response',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
      questions: [{ type: qtype, name: qname, class: 'IN' }],
      answers,
    }),
  );

/** Flip bytes, cut the packet short, or append junk. */
const mutatedPacketArb = fc
  .tuple(packetArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat()), fc.uint8Array({ maxLength: 16 }))
  .map(([packet, flips, cut, tail]) => {
    const bytes = Buffer.from(packet);
    for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
    const cutAt = cut === null ? bytes.length : cut % (bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, cutAt), tail.length % 2 === 0 ? Buffer.alloc(0) : tail]);
  });

const bodyArb = fc.oneof(
  { weight: 3, arbitrary: packetArb },
  { weight: 5, arbitrary: mutatedPacketArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)) },
  // A compression pointer that points at itself: a name that never ends.
  { weight: 1, arbitrary: fc.constant(Buffer.from('000081800001000100000000c00c0001000100000e100004c0000201', 'hex')) },
);

/** How the server answers: the body as a DNS message, or a reset stream, a 502, HTML, or 70 kB. */
type Mode = 'answer' | 'reset' | 'status' | 'type' | 'huge';
const modeArb = fc.oneof({ weight: 12, arbitrary: fc.constant<Mode>('answer') }, { weight: 1, arbitrary: fc.constantFrom<Mode>('reset', 'status', 'type', 'huge') });

test('DoH over real HTTP/2: any answer body ends in an address of the asked family or PROBE_ERR_DOH/DNS, in time', { timeout: testTimeout(60_000) }, async (t) => {
  const ca = createCertificateAuthority('fuzz DoH CA');
  const cert = ca.issue(['doh.example.test']);
  let body: Buffer = Buffer.alloc(0);
  let mode: Mode = 'answer';
  const server = createSecureServer({ cert: cert.certPem, key: cert.keyPem, allowHTTP1: false }, (req, res) => {
    req.resume();
    if (mode === 'reset') return res.stream.close(2);
    if (mode === 'huge') return res.writeHead(200, { 'content-type': 'application/dns-message' }).end(Buffer.concat([body, Buffer.alloc(70_000)]));
    res.writeHead(mode === 'status' ? 502 : 200, { 'content-type': mode === 'type' ? 'text/html' : 'application/dns-message' }).end(body);
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const resolvers = ([0, 4, 6] as const).map(
    (family) =>
      new DohResolver(
        dohOptions({ url: `https://doh.example.test:${port}/dns-query`, bootstrap: '127.0.0.1', family, method: family === 6 ? 'POST' : 'GET', timeoutMs: 2_000, minTtlS: 5, maxTtlS: 600, tls: { ca: ca.certPem, insecure: false } }),
      ),
  );
  // The resolvers first: an h2 server's close() waits for every session to end.
  t.after(async () => {
    await Promise.all(resolvers.map((r) => r.destroy()));
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  await fc.assert(
    fc.asyncProperty(bodyArb, fc.constantFrom(0, 1, 2), modeArb, async (bytes, which, how) => {
      body = bytes;
      mode = how;
      const resolver = resolvers[which] as DohResolver;
      resolver.clearCache();
      const started = performance.now();
      try {
        const got = await resolver.resolve(NAME, AbortSignal.timeout(5_000));
        assert.equal(isIP(got.address), got.family, `${got.address} is not IPv${got.family}`);
        if (which !== 0) assert.equal(got.family, which === 1 ? 4 : 6);
        assert.ok(got.ttlS >= 5 && got.ttlS <= 600, `ttl ${got.ttlS} outside the clamp`);
      } catch (err) {
        assert.ok(isProbeError(err, 'PROBE_ERR_DOH') || isProbeError(err, 'PROBE_ERR_DNS'), `not PROBE_ERR_DOH/DNS: ${(err as Error)?.stack ?? String(err)}`);
        assert.equal(reasonOf(err), 'dns');
      }
      assert.ok(performance.now() - started < 4_000, 'a query took longer than its timeout');
    }),
    fuzzRuns(150, { timeoutMs: 8_000, budgetMs: 45_000 }),
  );
});

test('followChain: any answer list ends in addresses of the asked type for the name, or NOERROR without any, and never loops', { timeout: testTimeout(30_000) }, () => {
  const chainArb = fc.array(answerArb, { maxLength: 40 });
  fc.assert(
    fc.property(chainArb, fc.constantFrom<'A' | 'AAAA'>('A', 'AAAA'), (answers, type) => {
      const outcome = followChain(answers, NAME, type);
      if (!outcome.ok) {
        assert.equal(outcome.rcode, 'NOERROR');
        return;
      }
      assert.ok(outcome.addresses.length > 0);
      for (const a of outcome.addresses) assert.equal(isIP(a), type === 'A' ? 4 : 6);
      assert.ok(Number.isInteger(outcome.ttlS) && outcome.ttlS >= 0 && outcome.ttlS <= 2 ** 31 - 1, `ttl ${outcome.ttlS}`);
    }),
    fuzzRuns(3_000, { budgetMs: 20_000 }),
  );
});

test('followChain: CNAME loops and over-long chains end without an address', () => {
  const loop: Answer[] = [
    { type: 'CNAME', name: NAME, ttl: 60, data: 'a.example.test' },
    { type: 'CNAME', name: 'a.example.test', ttl: 60, data: NAME },
  ];
  assert.deepEqual(followChain(loop, NAME, 'A'), { ok: false, rcode: 'NOERROR' });
  const long: Answer[] = Array.from({ length: 40 }, (_, i) => ({ type: 'CNAME', name: i === 0 ? NAME : `h${i}.test`, ttl: 60, data: `h${i + 1}.test` }));
  long.push({ type: 'A', name: 'h40.test', ttl: 60, data: '192.0.2.1' });
  assert.deepEqual(followChain(long, NAME, 'A'), { ok: false, rcode: 'NOERROR' });
});

test('regression: a TTL with its top bit set counts as 0 (RFC 2181 §8), not as 136 years', () => {
  for (const ttl of [2 ** 31, 2 ** 32 - 1]) {
    const outcome = followChain([{ type: 'A', name: NAME, ttl, data: '192.0.2.1' }], NAME, 'A');
    assert.deepEqual(outcome, { ok: true, addresses: ['192.0.2.1'], ttlS: 0 });
  }
  assert.deepEqual(followChain([{ type: 'A', name: NAME, ttl: 2 ** 31 - 1, data: '192.0.2.1' }], NAME, 'A'), { ok: true, addresses: ['192.0.2.1'], ttlS: 2 ** 31 - 1 });
  // In a chain the CNAME's TTL bounds the answer's too.
  const chain: Answer[] = [
    { type: 'CNAME', name: NAME, ttl: 2 ** 32 - 1, data: 'a.example.test' },
    { type: 'A', name: 'a.example.test', ttl: 300, data: '192.0.2.1' },
  ];
  assert.deepEqual(followChain(chain, NAME, 'A'), { ok: true, addresses: ['192.0.2.1'], ttlS: 0 });
});
