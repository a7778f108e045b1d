/**
 * The pool of /metrics chunks (src/metrics/chunk-pool.ts): a chunk comes back only from the pool
 * that lent it, once, and the pool keeps a bounded number of spares.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkPool } from '../src/metrics/chunk-pool.js';

test('a chunk given back is the next one taken, and nothing new is allocated for it', () => {
  const pool = new ChunkPool(1024, 4);
  const first = pool.take();
  assert.equal(first.length, 1024);
  assert.equal(pool.allocated, 1);
  pool.give(first.subarray(0, 10)); // what a writer hands out is a view of the chunk
  assert.equal(pool.spare, 1);
  const again = pool.take();
  assert.equal(again.buffer, first.buffer);
  assert.equal(again.length, 1024, 'the whole chunk, not the view given back');
  assert.equal(pool.allocated, 1);
  assert.equal(pool.spare, 0);
});

test('only chunks the pool lent come back, each once, and at most maxSpare are kept', () => {
  const pool = new ChunkPool(1024, 2);
  pool.give(Buffer.allocUnsafeSlow(1024));
  pool.give(new Uint8Array(1024));
  assert.equal(pool.spare, 0, 'memory the pool never lent is not taken');
  const a = pool.take();
  pool.give(a);
  pool.give(a);
  assert.equal(pool.spare, 1, 'a chunk given twice is kept once');
  const taken = [pool.take(), pool.take(), pool.take(), pool.take()];
  assert.equal(new Set(taken.map((c) => c.buffer)).size, 4, 'no chunk is lent twice at once');
  for (const chunk of taken) pool.give(chunk);
  assert.equal(pool.spare, 2);
});
