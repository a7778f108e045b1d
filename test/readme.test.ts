/** The README is for an SRE with five minutes: keep it true to the code. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ENV_OVERRIDES } from '../src/config/env.js';
import { configKeys } from '../src/config/keys.js';
import { REASONS } from '../src/reasons.js';
import { familiesOf } from './helpers/exposition.js';
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
  metrics.forStalls(() => ({ maxSeconds: 0, p99Seconds: 0 }));
  // The text format names a counter family with its _total, as the README does.
  const names = [...(await familiesOf(metrics)).keys()];
  assert.ok(names.length >= 7);
  for (const name of names) assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
});

test('every environment override is documented', () => {
  for (const { env } of ENV_OVERRIDES) assert.ok(readme.includes(`\`${env}\``), env);
});

test('the config key table documents exactly the keys the schema accepts', () => {
  const section = /^### Keys\n([\s\S]*?)^#{1,3} /m.exec(readme)?.[1] ?? '';
  // `legs[].backoff.min` / `.max` / `.factor` is one row for three keys.
  const documented = new Set(
    [...section.matchAll(/^\| (`[^|]*`) \|/gm)].flatMap(([, cell = '']) => {
      const [first = '', ...more] = [...cell.matchAll(/`([^`]+)`/g)].map(([, key = '']) => key);
      const parent = first.slice(0, first.lastIndexOf('.'));
      return [first, ...more.map((suffix) => `${parent}${suffix}`)];
    }),
  );
  assert.ok(documented.size >= 30, `found only ${documented.size} keys under "### Keys"`);
  const keys = configKeys();
  // A mapping may be documented by a row of its own (doh, legs) or only by its keys (metrics, tls).
  for (const { path, nested } of keys) if (!nested) assert.ok(documented.has(path), `${path} is accepted but not documented`);
  const accepted = new Set(keys.map(({ path }) => path));
  for (const key of documented) assert.ok(accepted.has(key), `${key} is documented but not accepted`);
});
