/**
 * resolveWithin: the leg's connect budget bounds a lookup, and the budget's timer is released the
 * moment the lookup settles. (The soak found one 5 s timer left behind per reconnect.)
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { test } from 'node:test';
import { ProbeError } from '../src/errors.js';
import { createResolver, resolveWithin, type AddressResolver } from '../src/net/resolver.js';
import { waitFor } from './helpers/wait.js';

function noDoh(): never {
  throw new Error('no DoH in this test');
}

test('resolveWithin releases its budget timer as soon as the lookup settles', async (t) => {
  const created = new Set<number>();
  let tracking = false;
  const hook = createHook({
    init(asyncId, type) {
      if (tracking && type === 'Timeout') created.add(asyncId);
    },
    destroy(asyncId) {
      created.delete(asyncId);
    },
  }).enable();
  t.after(() => hook.disable());

  const resolver = createResolver({ mode: 'pin', address: '127.0.0.1' }, noDoh);
  tracking = true;
  const lookups = [1, 2, 3].map(() => resolveWithin(resolver, 'far.example.test', 60_000, new AbortController().signal));
  tracking = false;
  for (const target of await Promise.all(lookups)) assert.equal(target.address, '127.0.0.1');
  assert.ok(created.size > 0, 'the lookups armed no budget timer at all');
  await waitFor('every budget timer to be released', () => created.size === 0, { timeoutMs: 2_000 });
});

test('resolveWithin still fails a lookup that outlives the budget with PROBE_ERR_DNS', async () => {
  const hanging: AddressResolver = {
    mode: 'system',
    close: () => Promise.resolve(),
    resolve: (_hostname, signal) =>
      new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
    recheck: () => Promise.reject(new Error('unused')),
  };
  // The budget timer is unref'd, as in a probe whose server keeps the process alive.
  const keepAlive = setInterval(() => {}, 1_000);
  const started = performance.now();
  const err = await resolveWithin(hanging, 'far.example.test', 50, new AbortController().signal).then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  clearInterval(keepAlive);
  assert.ok(err instanceof ProbeError);
  assert.equal(err.code, 'PROBE_ERR_DNS');
  assert.match(err.message, /far\.example\.test took longer than 50 ms/);
  assert.ok(performance.now() - started >= 45);
});
