/**
 * The config loader on random YAML and on examples/probe.yaml with keys deleted, renamed and
 * retyped and random scalars in their place: every result is a valid config or one
 * PROBE_ERR_CONFIG whose lines each name a key (or say the YAML itself is wrong), never another
 * exception and never a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { findPlaceholders } from '../../src/config/placeholders.js';
import type { ProbeConfig } from '../../src/config/types.js';
import { isProbeError } from '../../src/errors.js';
import { fuzzRuns, testTimeout, withinMs } from './fuzz-options.js';
import { mutationArb, mutateJson } from './json-mutation.js';

const EXAMPLE_TEXT = readFileSync(new URL('../../examples/probe.yaml', import.meta.url), 'utf8');
const EXAMPLE = parseYaml(EXAMPLE_TEXT) as unknown;
/** A config that sets every key once, so mutations reach all of them. */
const FULL = {
  listen: '127.0.0.1:9464',
  metrics: { prefix: 't3probe_', detail: 'default' },
  log: { level: 'info' },
  dropHistory: 100,
  defaults: { interval: '1s', deadline: '2s', connectTimeout: '5s', backoff: { min: '1s', max: '30s', factor: 2 } },
  doh: { url: 'https://dns.example.net/dns-query', method: 'POST', bootstrap: '192.0.2.53', timeout: '2s', family: 'any', minTtl: '0s', maxTtl: '1h', tls: { insecure: false } },
  legs: [
    { name: 'a', kind: 'ws', role: 'public', url: 'wss://t3.example.com/probe/ws', resolve: 'doh', dnsRecheck: '30s', maxPayload: '64KiB', headers: { Host: 't3.example.com', 'X-Probe': 'yes' }, tls: { insecure: true } },
    { name: 'b', kind: 'http', url: 'http://192.0.2.21:8080/healthz', pin: '192.0.2.21', interval: '500ms', deadline: '1s', maxBody: '1MiB', backoff: { factor: 1.5 } },
    { name: 'c', kind: 'idle', url: 'ws://192.0.2.30:9000/echo', idle: '16m', keepalive: '60s', controlInterval: '5s', connectTimeout: '3s' },
  ],
};

/** A line of a config error: where (optional), then a key path and why, or what is wrong with the YAML. */
const DOCUMENT_LINE = /^(?:\d+:\d+: )?(?:YAML (?:syntax )?error: |config is empty|config must be a mapping)/;

function loadOrConfigError(text: string): ProbeConfig | undefined {
  try {
    const config = withinMs(5_000, 'parseConfig', () => parseConfig(text, { env: {}, baseDir: '/nonexistent' }));
    assert.ok(config.legs.length >= 1 && config.legs.length <= 10_000);
    // What `run --check` does next with a valid config.
    findPlaceholders(config);
    return config;
  } catch (err) {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'), `not PROBE_ERR_CONFIG: ${(err as Error)?.stack ?? String(err)}`);
    const lines = err.message.split('\n');
    assert.ok(lines.length >= 1);
    if (err.key === undefined) {
      assert.match(err.message, DOCUMENT_LINE, 'an error without a key is about the document as a whole');
    } else {
      assert.ok(err.key.length > 0);
      for (const line of lines) {
        if (/^\.\.\. and \d+ more problems$/.test(line) || DOCUMENT_LINE.test(line)) continue;
        // `legs[1] (internal).pin: must be ...`: a key, then a reason.
        assert.match(line, /^(?:\d+:\d+: )?\S.*?: \S/, `a line that names no key: ${JSON.stringify(line)}`);
      }
    }
    return undefined;
  }
}

const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('1s', '-5s', '0', '0s', '1e999', '99999999999999999999h', 'NaN', '64KiB', '1.001KB', '::1', '[::1]:0', 'wss://', 'tcp://x', 'https://u:p@h/', '\u0000', '~'),
);

test('config: examples/probe.yaml and a full config, keys deleted, renamed and retyped: a config or PROBE_ERR_CONFIG naming a key', { timeout: testTimeout(60_000) }, () => {
  fc.assert(
    fc.property(fc.constantFrom(EXAMPLE, FULL), fc.array(mutationArb, { minLength: 1, maxLength: 5 }), fc.array(scalar, { maxLength: 3 }), (base, mutations, scalars) => {
      // Random scalars go where a mutation puts its value half of the time.
      // At most a few hundred copies: the YAML text of thousands of legs is a parser benchmark, not a fuzz case.
      const withScalars = mutations.map((m, i) => ({ ...m, count: m.count % 300, ...(scalars[i] === undefined ? {} : { value: scalars[i] }) }));
      loadOrConfigError(stringify(mutateJson(base, withScalars), { aliasDuplicateObjects: false }));
    }),
    fuzzRuns(120, { budgetMs: 40_000 }),
  );
});

test('config: random YAML text and mangled example text: a config or PROBE_ERR_CONFIG, never another exception', { timeout: testTimeout(60_000) }, () => {
  const yamlish = fc.stringMatching(/^[\w\s:\-[\]{},&*!|>'"%@`#?.]{0,200}$/);
  const mangled = fc
    .array(fc.record({ at: fc.nat(), cut: fc.nat({ max: 40 }), insert: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('\n', '  ', '- ', ': ', '&a ', '*a', '!!binary ', '<<: *a\n', '\t', '{', '[')) }), { maxLength: 6 })
    .map((edits) => edits.reduce((text, e) => { const i = e.at % (text.length + 1); return text.slice(0, i) + e.insert + text.slice(i + e.cut); }, EXAMPLE_TEXT));
  fc.assert(
    fc.property(fc.oneof(yamlish, mangled, fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 })), (text) => {
      loadOrConfigError(text);
    }),
    fuzzRuns(600, { budgetMs: 40_000 }),
  );
});

test('config: a billion-laughs alias bomb is refused quickly', () => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array.from({ length: 10 }, () => `*${String.fromCharCode(96 + i)}`).join(',')}]`);
  assert.equal(loadOrConfigError(lines.join('\n')), undefined);
});

test('regression (seed 20261122, counterexample "?"): an empty key at the root is named as "", not as the whole document', () => {
  assert.throws(
    () => parseConfig('?\nlegs: []\n', { env: {} }),
    (err: unknown) => {
      assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
      assert.equal(err.key, '""');
      assert.match(err.message, /^1:1: "": unknown key/m);
      return true;
    },
  );
});
