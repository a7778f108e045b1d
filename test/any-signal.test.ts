/**
 * anySignal: AbortSignal.any() with an explicit end. Combining a long-lived signal once per
 * reconnect must not grow the heap (AbortSignal.any() does on Node 20: a WeakRef per call stays in
 * the long-lived signal's set of dependants; the soak found ~60 bytes per cycle).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createResolver, resolveWithin } from '../src/net/resolver.js';
import { anySignal } from '../src/util/any-signal.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    // FinalizationRegistry and WeakRef clean-up run between turns of the loop.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

test('the combined signal aborts with the reason of whichever source aborts first, also when one already had', () => {
  const a = new AbortController();
  const b = new AbortController();
  const both = anySignal([a.signal, b.signal]);
  assert.equal(both.signal.aborted, false);
  b.abort(new Error('b went first'));
  assert.equal(both.signal.aborted, true);
  assert.equal((both.signal.reason as Error).message, 'b went first');
  a.abort(new Error('a too late'));
  assert.equal((both.signal.reason as Error).message, 'b went first');

  const done = new AbortController();
  done.abort(new Error('before'));
  const late = anySignal([new AbortController().signal, done.signal]);
  assert.equal((late.signal.reason as Error).message, 'before');
  late.dispose();
});

test('dispose() unties the combined signal: a source aborting later no longer reaches it', () => {
  const long = new AbortController();
  const both = anySignal([long.signal, new AbortController().signal]);
  both.dispose();
  both.dispose();
  long.abort(new Error('leg closed'));
  assert.equal(both.signal.aborted, false);
});

test('resolveWithin on one long-lived signal, 50,000 times: the heap does not grow with the calls', async (t) => {
  const resolver = createResolver({ mode: 'pin', address: '127.0.0.1' }, () => {
    throw new Error('no DoH in this test');
  });
  const leg = new AbortController();
  const lookups = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await resolveWithin(resolver, 'far.example.test', 60_000, leg.signal);
  };
  // Warm up until V8 has compiled the path: its code is a one-off that would read as growth.
  await lookups(10_000);
  const before = await heapAfterGc();
  await lookups(50_000);
  const grown = (await heapAfterGc()) - before;
  t.diagnostic(`heap growth over 50,000 lookups: ${grown} bytes`);
  // AbortSignal.any() left 51-74 bytes per call here (2.5 MB or more); without it, what remains is
  // a few hundred kB at most of one-off code and allocation noise.
  assert.ok(grown < 1_000_000, `the heap grew ${grown} bytes over 50,000 lookups (${(grown / 50_000).toFixed(1)} per lookup)`);
});
