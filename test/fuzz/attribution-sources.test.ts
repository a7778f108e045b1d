/**
 * What `attribute` reads is untrusted network input: a probe's /status and Prometheus' HTTP API.
 * Served from a real local HTTP server, random and mutated JSON (wrong types, missing fields,
 * "NaN" strings, huge arrays, deep nesting) must end in a verdict or in PROBE_ERR_SOURCE, never
 * another exception, and never a hang; the CLI then exits 0 or 2.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { readProbeSource } from '../../src/attribution/probe-source.js';
import { readPrometheusSource } from '../../src/attribution/prometheus-source.js';
import { formatVerdict } from '../../src/attribution/report.js';
import { attribute, type AttributionInput } from '../../src/attribution/verdict.js';
import { isProbeError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { fuzzRuns, testTimeout } from './fuzz-options.js';
import { jsonBodyArb } from './json-mutation.js';

const NOW = Date.now();
const WINDOW_MS = 60_000;
const BURST_MS = 3_000;
const S = NOW / 1000;

const STATUS = {
  startedAt: new Date(NOW - 3_600_000).toISOString(),
  dropHistory: 4,
  legs: [
    { name: 'cloudflare', role: 'public', state: 'up', since: new Date(NOW - 5_000).toISOString() },
    { name: 'internal', role: 'internal', state: 'down', since: new Date(NOW - 9_000).toISOString() },
    { name: 't3serve', role: 'serve', state: 'up', since: new Date(NOW - 60_000).toISOString() },
  ],
  recentDrops: [
    { leg: 'cloudflare', reason: 'timeout', at: NOW - 10_000, lastRttSeconds: 0.012, recoveredAt: NOW - 5_000 },
    { leg: 'internal', reason: 'closed', at: NOW - 9_000, lastRttSeconds: null, closeCode: 1006, recoveredAt: null },
    { leg: 't3serve', reason: 'http_status', at: NOW - 8_000, lastRttSeconds: 0.2, status: 502, recoveredAt: NOW - 7_000 },
  ],
};

const VECTOR = {
  status: 'success',
  data: {
    resultType: 'vector',
    result: [
      { metric: { job: 't3-probe', leg: 'cloudflare', role: 'public', reason: 'timeout' }, value: [S, String(S - 10)] },
      { metric: { job: 't3-probe', leg: 'internal', role: 'internal', reason: 'closed' }, value: [S, '0.25'] },
    ],
  },
};

const MATRIX = {
  status: 'success',
  data: {
    resultType: 'matrix',
    result: [
      { metric: { job: 't3-probe', leg: 'cloudflare', reason: 'timeout' }, values: [[S - 30, '0'], [S - 15, String(S - 20)], [S, String(S - 10)]] },
      { metric: { job: 't3-probe', leg: 'internal', reason: 'closed' }, values: [[S - 30, '1'], [S - 15, '2']] },
    ],
  },
};

interface Bodies {
  status: string;
  vector: string;
  matrix: string;
}

/** One HTTP server for every run; each run sets the bodies it answers with. */
async function startJsonServer(t: TestContext): Promise<{ base: string; bodies: Bodies }> {
  const bodies: Bodies = { status: '{}', vector: '{}', matrix: '{}' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = url.pathname === '/status' ? bodies.status : url.pathname.endsWith('query_range') ? bodies.matrix : bodies.vector;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

/** A source either gives input the verdict can use, or fails with PROBE_ERR_SOURCE. */
async function verdictOrSourceError(read: () => Promise<Omit<AttributionInput, 'at' | 'windowMs' | 'burstMs' | 'now'>>): Promise<void> {
  let input;
  try {
    input = await read();
  } catch (err) {
    assert.ok(isProbeError(err, 'PROBE_ERR_SOURCE'), `not PROBE_ERR_SOURCE: ${(err as Error)?.stack ?? String(err)}`);
    assert.match(err.message, /--(probe|prometheus) http:\/\/127\.0\.0\.1:\d+/, 'the error names the source');
    return;
  }
  const verdict = attribute({ ...input, at: NOW, windowMs: WINDOW_MS, burstMs: BURST_MS, now: NOW });
  assert.equal(typeof formatVerdict(verdict, 'fuzz', []), 'string');
}

test('/status: random and mutated documents give a verdict or PROBE_ERR_SOURCE', { timeout: testTimeout(60_000) }, async (t) => {
  const { base, bodies } = await startJsonServer(t);
  await fc.assert(
    fc.asyncProperty(jsonBodyArb(STATUS), async (body) => {
      bodies.status = body;
      await verdictOrSourceError(async () => (await readProbeSource(new URL(base), NOW, WINDOW_MS, NOW, AbortSignal.timeout(5_000))).input);
    }),
    fuzzRuns(80, { timeoutMs: 10_000, budgetMs: 40_000 }),
  );
});

test('Prometheus API: random and mutated answers give a verdict or PROBE_ERR_SOURCE', { timeout: testTimeout(60_000) }, async (t) => {
  const { base, bodies } = await startJsonServer(t);
  await fc.assert(
    fc.asyncProperty(jsonBodyArb(VECTOR), jsonBodyArb(MATRIX), async (vector, matrix) => {
      bodies.vector = vector;
      bodies.matrix = matrix;
      await verdictOrSourceError(() =>
        readPrometheusSource({ url: new URL(base), job: 't3-probe', prefix: 't3probe_' }, NOW, WINDOW_MS, NOW, AbortSignal.timeout(5_000)),
      );
    }),
    fuzzRuns(60, { timeoutMs: 10_000, budgetMs: 40_000 }),
  );
});

const CRASHERS = [
  { what: 'a null leg', source: 'probe', body: { ...STATUS, legs: [null] } },
  { what: 'a null drop', source: 'probe', body: { ...STATUS, recentDrops: [null] } },
  { what: 'a sample without metric', source: 'prometheus', body: { status: 'success', data: { result: [{ value: [S, '1'] }] } } },
  { what: 'a null sample', source: 'prometheus', body: { status: 'success', data: { result: [null] } } },
  { what: 'values that are not pairs', source: 'prometheus', body: { status: 'success', data: { result: [{ metric: { leg: 'a' }, value: 7, values: [1, 'x', null] }] } } },
] as const;

for (const { what, source, body } of CRASHERS) {
  test(`regression: ${what} in ${source === 'probe' ? '/status' : 'a Prometheus answer'} is PROBE_ERR_SOURCE or ignored, not a TypeError`, async (t) => {
    const { base, bodies } = await startJsonServer(t);
    const text = JSON.stringify(body);
    bodies.status = text;
    bodies.vector = text;
    bodies.matrix = text;
    await verdictOrSourceError(async () =>
      source === 'probe'
        ? (await readProbeSource(new URL(base), NOW, WINDOW_MS, NOW, AbortSignal.timeout(5_000))).input
        : readPrometheusSource({ url: new URL(base), job: 't3-probe', prefix: 't3probe_' }, NOW, WINDOW_MS, NOW, AbortSignal.timeout(5_000)),
    );
  });
}

test('t3-probe attribute: a /status with a null leg exits 2 naming the source, not 1 with a TypeError', async (t) => {
  const { base, bodies } = await startJsonServer(t);
  bodies.status = JSON.stringify({ ...STATUS, legs: [null] });
  const run = await runCli(t, ['attribute', '--probe', base, '--at', 'now']);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /^t3-probe attribute: cannot read --probe http:\/\/127\.0\.0\.1:\d+\/status: not a t3-probe \/status document \(a leg that is not an object\)/);
  assert.doesNotMatch(run.stderr, /TypeError/);
});
