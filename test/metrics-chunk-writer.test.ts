/**
 * The writer of /metrics text (src/metrics/chunk-writer.ts) writes sample values as Prometheus
 * reads them, byte for byte what String() gives, without String()'s cache.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkPool } from '../src/metrics/chunk-pool.js';
import { ChunkWriter, MAX_NUMBER_BYTES } from '../src/metrics/chunk-writer.js';

test('the writer writes every sample value as String() does, bytes and all', () => {
  const values = [0, -0, 1, 9, 10, 2_147_483_647, 2_147_483_648, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e21, -1, -1.5, 0.1 + 0.2, 1e-7, 5e-324, 1.7976931348623157e308, 1_764_000_000.123, NaN, Infinity, -Infinity];
  for (let i = 0; i < 1_000; i++) values.push(Math.random() * 10 ** ((i % 24) - 8));
  const writer = new ChunkWriter(new ChunkPool(64 * 1024, 0));
  let expected = '';
  for (const value of values) {
    writer.reserve(MAX_NUMBER_BYTES + 1);
    writer.number(value);
    writer.text(' ');
    expected += `${Number.isNaN(value) ? 'NaN' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value)} `;
  }
  assert.equal(writer.take().toString('latin1'), expected);
});
