/** The README is for an SRE with five minutes: keep it true to the code. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ENV_OVERRIDES } from '../src/config/env.js';
import { REASONS } from '../src/reasons.js';
import { HEARTBEAT_RESULTS, ProbeMetrics } from '../src/metrics/registry.js';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const ciRun = await readFile(new URL('../.ci/run', import.meta.url), 'utf8');

test('the README opens with exactly the two commands, and .ci/run runs the test one', () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = firstBlock.split('\n').filter(Boolean).map((l) => l.split('#')[0]?.trim());
  assert.deepEqual(commands, ['npm ci && npm start', 'npm ci && npm test']);
  assert.match(ciRun, /^npm ci && npm test$/m);
});

test('every reason and heartbeat result is documented', () => {
  for (const reason of REASONS) assert.match(readme, new RegExp(`^\\| \`${reason}\` \\|`, 'm'), reason);
  for (const result of HEARTBEAT_RESULTS) assert.ok(readme.includes(`\`${result}\``), result);
});

test('every probe metric is in the metrics table', async () => {
  const metrics = new ProbeMetrics({ processMetrics: false });
  metrics.forLeg('x');
  metrics.forIdleLeg('x');
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length >= 7);
  for (const name of names) assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
});

test('every environment override is documented', () => {
  for (const { env } of ENV_OVERRIDES) assert.ok(readme.includes(`\`${env}\``), env);
});
