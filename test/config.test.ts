import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ProbeError, isProbeError } from '../src/errors.js';
import {
  DEFAULT_LISTEN,
  ENV_OVERRIDES,
  buildConfig,
  loadConfigFile,
  normalizeConfig,
  parseConfig,
  type LoadOptions,
} from '../src/config/load.js';
import { parseListen } from '../src/config/listen.js';
import { findPlaceholders, formatPlaceholder, placeholderReason } from '../src/config/placeholders.js';
import { normalize } from '../src/config/schema.js';
import { formatBytes, parseByteSize } from '../src/config/size.js';
import { levenshtein, nearest } from '../src/util/suggest.js';
import type { ProbeConfig, TlsOptions } from '../src/config/types.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const WS_LEG = 'name: a, kind: ws, url: "wss://t3.example.com/ws"';
const HTTP_LEG = 'name: a, kind: http, url: "http://127.0.0.1:8080/healthz"';

/** Empty env unless a test says otherwise: the runner's own T3PROBE_* must not leak in. */
function parse(yaml: string, options: LoadOptions = {}): ProbeConfig {
  return parseConfig(yaml, { env: {}, ...options });
}

function configError(fn: () => unknown): ProbeError {
  try {
    fn();
  } catch (err) {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'), `expected PROBE_ERR_CONFIG, got ${String(err)}`);
    return err;
  }
  assert.fail('expected PROBE_ERR_CONFIG, nothing was thrown');
}

/** Where parseConfig says a problem is in the text: `2:14: `. */
const POSITION = /^\d+:\d+: /;

/**
 * The error's lines must be exactly `lines`: each problem reported once, and nothing else. A line
 * about the text must start with its `line:col: ` (exact positions have tests of their own), which
 * is checked and then set aside; a line about an environment variable has none.
 */
function assertProblems(yaml: string, lines: readonly string[], options: LoadOptions = {}): ProbeError {
  const err = configError(() => parse(yaml, options));
  const got = err.message.split('\n').map((line, i) => {
    if (lines[i]?.startsWith('T3PROBE_') === true) return line;
    assert.match(line, POSITION, `line ${i + 1} has no position`);
    return line.replace(POSITION, '');
  });
  assert.deepEqual(got, lines);
  return err;
}

/** The plain key path of a problem line: `legs[0] (a).pin: ...` is about `legs[0].pin`. */
function keyOf(line: string): string {
  return line.slice(0, line.indexOf(': ')).replace(/^(legs\[\d+\]) \([^)]*\)/, '$1');
}

function oneLeg(fields: string, base = WS_LEG): string {
  return `legs:\n  - { ${base}${fields === '' ? '' : `, ${fields}`} }\n`;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 't3probe-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const FULL_YAML = `
listen: "127.0.0.1:9100"
metrics:
  prefix: probe_
log:
  level: debug
dropHistory: 64
defaults:
  interval: 2s
  connectTimeout: 5s
  backoff:
    min: 250ms
    max: 10s
    factor: 1.5
doh:
  url: https://cloudflare-dns.com/dns-query
  method: POST
  bootstrap: 1.1.1.1
  timeout: 3s
  family: 4
  minTtl: 30s
  maxTtl: 10m
  tls:
    ca: ca.pem
legs:
  - name: cloudflare
    kind: ws
    url: wss://t3.example.com/probe/ws
    resolve: doh
    maxPayload: 1MiB
    headers:
      X-Token: abc
  - name: internal
    kind: ws
    url: wss://t3.example.com/probe/ws
    pin: 10.0.0.10
    interval: 500ms
    deadline: 3s
    backoff: { max: 1m }
    tls: { ca: ./ca.pem }
  - name: t3serve
    kind: http
    url: http://127.0.0.1:8080/healthz
    interval: 5s
    tls: { insecure: true }
    maxBody: 4KiB
`;

void test('a full config normalizes to the exact expected object', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), PEM);
  const config = parse(FULL_YAML, { baseDir: dir });

  const backoff = { minMs: 250, maxMs: 10_000, factor: 1.5 };
  const doh = {
    url: 'https://cloudflare-dns.com/dns-query',
    method: 'POST',
    bootstrap: '1.1.1.1',
    timeoutMs: 3_000,
    tls: { ca: PEM, insecure: false },
    family: 4,
    minTtlS: 30,
    maxTtlS: 600,
  } as const;
  const expected: ProbeConfig = {
    listen: { host: '127.0.0.1', port: 9100 },
    metrics: { prefix: 'probe_', detail: 'default' },
    log: { level: 'debug' },
    dropHistory: 64,
    legs: [
      {
        kind: 'ws',
        name: 'cloudflare',
        role: 'public',
        dnsRecheckMs: 30_000,
        url: 'wss://t3.example.com/probe/ws',
        intervalMs: 2_000,
        deadlineMs: 4_000,
        connectTimeoutMs: 5_000,
        backoff,
        resolve: { mode: 'doh', doh },
        tls: { insecure: false },
        headers: { 'X-Token': 'abc' },
        maxPayloadBytes: 1_048_576,
        closeTimeoutMs: 1_000,
      },
      {
        kind: 'ws',
        name: 'internal',
        role: 'internal',
        dnsRecheckMs: 30_000,
        url: 'wss://t3.example.com/probe/ws',
        intervalMs: 500,
        deadlineMs: 3_000,
        connectTimeoutMs: 5_000,
        backoff: { minMs: 250, maxMs: 60_000, factor: 1.5 },
        resolve: { mode: 'pin', address: '10.0.0.10' },
        tls: { ca: PEM, insecure: false },
        headers: {},
        maxPayloadBytes: 65_536,
        closeTimeoutMs: 1_000,
      },
      {
        kind: 'http',
        name: 't3serve',
        role: 'serve',
        dnsRecheckMs: 30_000,
        url: 'http://127.0.0.1:8080/healthz',
        intervalMs: 5_000,
        deadlineMs: 10_000,
        connectTimeoutMs: 5_000,
        backoff,
        resolve: { mode: 'system' },
        tls: { insecure: true },
        headers: {},
        maxBodyBytes: 4_096,
      },
    ],
  };
  assert.deepEqual(config, expected);
});

void test('a minimal config gets every default', () => {
  const config = parse(oneLeg(''));
  assert.deepEqual(config, {
    listen: { host: '0.0.0.0', port: 9464 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'info' },
    dropHistory: 256,
    legs: [
      {
        kind: 'ws',
        name: 'a',
        role: 'public',
        dnsRecheckMs: 30_000,
        url: 'wss://t3.example.com/ws',
        intervalMs: 1_000,
        deadlineMs: 2_000,
        connectTimeoutMs: 10_000,
        backoff: { minMs: 500, maxMs: 30_000, factor: 2 },
        resolve: { mode: 'system' },
        tls: { insecure: false },
        headers: {},
        maxPayloadBytes: 65_536,
        closeTimeoutMs: 1_000,
      },
    ],
  });
  assert.deepEqual(config.listen, DEFAULT_LISTEN);
  // exactOptionalPropertyTypes: an unset CA is an absent property, not `ca: undefined`.
  const tls: TlsOptions = config.legs[0]!.tls;
  assert.equal(Object.hasOwn(tls, 'ca'), false);
});

void test('an http leg defaults maxBody to 1MiB', () => {
  const [leg] = parse(oneLeg('', HTTP_LEG)).legs;
  assert.equal(leg?.kind, 'http');
  assert.equal(leg.kind === 'http' ? leg.maxBodyBytes : 0, 1_048_576);
});

void test('roles come from the role key, the production names, or the leg shape', () => {
  const legs = parse(
    [
      'legs:',
      '  - { name: cloudflare, kind: ws, url: "wss://t3.example/" }',
      '  - { name: edge-2, kind: ws, url: "wss://t3.example/", pin: 10.0.0.1 }',
      '  - { name: backend, kind: http, url: "http://10.0.0.2/" }',
      '  - { name: vip, kind: idle, url: "tcp://10.0.0.3:9000" }',
      '  - { name: custom, kind: ws, url: "wss://t3.example/", pin: 10.0.0.1, role: public }',
    ].join('\n'),
  ).legs;
  assert.deepEqual(legs.map((l) => l.role), ['public', 'internal', 'serve', 'idle', 'public']);
});

void test('an idle leg defaults to 960 s of silence, a 5 s deadline and no keepalive', () => {
  const [leg, withKeepalive] = parse(
    'defaults: { deadline: 2s }\nlegs:\n  - { name: vip, kind: idle, url: "tcp://10.0.9.9:9000" }\n  - { name: ka, kind: idle, url: "wss://t3.example/probe/ws", idle: 16m, keepalive: 60s, deadline: 3s }\n',
  ).legs;
  assert.equal(leg?.kind, 'idle');
  if (leg?.kind !== 'idle' || withKeepalive?.kind !== 'idle') return;
  assert.equal(leg.idleMs, 960_000);
  assert.equal(leg.deadlineMs, 5_000, 'defaults.deadline is for heartbeats, not the post-idle probe');
  assert.equal(leg.keepaliveMs, undefined);
  assert.equal('keepaliveMs' in leg, false);
  assert.equal(leg.url, 'tcp://10.0.9.9:9000');
  assert.equal(withKeepalive.idleMs, 960_000);
  assert.equal(withKeepalive.keepaliveMs, 60_000);
  assert.equal(withKeepalive.deadlineMs, 3_000);
});

void test('deadline defaults to 2 x the effective interval, unless defaults.deadline is set', () => {
  const yaml = `
defaults: { interval: 3s }
legs:
  - { name: own-interval, kind: ws, url: "wss://h.example/", interval: 5s }
  - { name: default-interval, kind: ws, url: "wss://h.example/" }
  - { name: own-deadline, kind: ws, url: "wss://h.example/", interval: 5s, deadline: 1s }
`;
  assert.deepEqual(
    parse(yaml).legs.map((leg) => [leg.intervalMs, leg.deadlineMs]),
    [
      [5_000, 10_000],
      [3_000, 6_000],
      [5_000, 1_000],
    ],
  );
  const withDeadline = parse(yaml.replace('interval: 3s', 'interval: 3s, deadline: 7s'));
  assert.deepEqual(
    withDeadline.legs.map((leg) => leg.deadlineMs),
    [7_000, 7_000, 1_000],
  );
});

void test('defaults apply to every leg and backoff merges key by key', () => {
  const yaml = `
defaults:
  connectTimeout: 4s
  backoff: { min: 1s, factor: 3 }
legs:
  - { name: a, kind: ws, url: "wss://h.example/", backoff: { max: 5s } }
  - { name: b, kind: http, url: "https://h.example/", connectTimeout: 2s }
`;
  const [a, b] = parse(yaml).legs;
  assert.deepEqual(a?.backoff, { minMs: 1_000, maxMs: 5_000, factor: 3 });
  assert.equal(a.connectTimeoutMs, 4_000);
  assert.deepEqual(b?.backoff, { minMs: 1_000, maxMs: 30_000, factor: 3 });
  assert.equal(b.connectTimeoutMs, 2_000);
});

void test('durations, sizes and listen addresses accept every documented form', () => {
  const leg = (fields: string) => parse(oneLeg(fields)).legs[0]!;
  assert.equal(leg('interval: 1h30m').intervalMs, 5_400_000);
  assert.equal(leg('interval: 2').intervalMs, 2_000);
  assert.equal(leg('interval: 10ms').intervalMs, 10);
  const payload = (size: string) => {
    const l = leg(`maxPayload: ${size}`);
    return l.kind === 'ws' ? l.maxPayloadBytes : -1;
  };
  assert.equal(payload('64KiB'), 65_536);
  assert.equal(payload('1MiB'), 1_048_576);
  assert.equal(payload('512B'), 512);
  assert.equal(payload('1KB'), 1_000);
  assert.equal(payload('1000'), 1_000);
  assert.equal(payload('16MiB'), 16_777_216);
  assert.deepEqual(parse(`listen: ":9000"\n${oneLeg('')}`).listen, { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parse(`listen: "[::1]:9464"\n${oneLeg('')}`).listen, { host: '::1', port: 9464 });
  assert.deepEqual(parse(`listen: "localhost:0"\n${oneLeg('')}`).listen, { host: 'localhost', port: 0 });
});

void test('an empty value means "use the default"', () => {
  const config = parse('log:\ndefaults:\n  deadline:\nlegs:\n  - name: a\n    kind: ws\n    url: wss://h.example/\n    tls:\n');
  assert.equal(config.log.level, 'info');
  assert.equal(config.legs[0]?.deadlineMs, 2_000);
  assert.deepEqual(config.legs[0]?.tls, { insecure: false });
});

void test('YAML anchors and merge keys share settings between legs', () => {
  const yaml = `
legs:
  - &base { name: a, kind: ws, url: "wss://h.example/", interval: 250ms }
  - { <<: *base, name: b }
`;
  assert.deepEqual(
    parse(yaml).legs.map((leg) => [leg.name, leg.intervalMs]),
    [
      ['a', 250],
      ['b', 250],
    ],
  );
});

void test('header names and values are kept as given, even __proto__', () => {
  const [leg] = parse(oneLeg('headers: { Authorization: "Bearer x", __proto__: y }')).legs;
  assert.deepEqual(leg?.headers, Object.fromEntries([['Authorization', 'Bearer x'], ['__proto__', 'y']]));
});

void test('normalizeConfig validates a plain object the same way', () => {
  const config = normalizeConfig(
    { legs: [{ name: 'a', kind: 'http', url: 'https://h.example/x', maxBody: 2048, interval: 0.5 }] },
    { env: {} },
  );
  const [leg] = config.legs;
  assert.equal(leg?.intervalMs, 500);
  assert.equal(leg.kind === 'http' ? leg.maxBodyBytes : 0, 2_048);
  const err = configError(() => normalizeConfig({ legs: [{ name: 'a', kind: 'ws', url: 'wss://h/', deadline: -5 }] }, { env: {} }));
  assert.equal(err.message, 'legs[0] (a).deadline: must be a duration greater than 0 (got -5)');
});

/** One bad value each: [what, yaml, the exact single error line]. */
const RULES: readonly (readonly [string, string, string])[] = [
  ['listen shape', `listen: nope\n${oneLeg('')}`, 'listen: must be "host:port" (got "nope")'],
  ['listen as a number', `listen: 9464\n${oneLeg('')}`, 'listen: must be "host:port" (got 9464)'],
  ['listen port range', `listen: "0.0.0.0:70000"\n${oneLeg('')}`, 'listen: must have a port from 0 to 65535 (got "0.0.0.0:70000")'],
  ['listen bracketed non-IPv6', `listen: "[host]:80"\n${oneLeg('')}`, 'listen: must have an IPv6 address inside [brackets] (got "[host]:80")'],
  ['listen unbracketed IPv6', `listen: "::1:80"\n${oneLeg('')}`, 'listen: must be "host:port" (got "::1:80")'],
  ['metrics.prefix', `metrics: { prefix: 1x }\n${oneLeg('')}`, 'metrics.prefix: must match ^[a-zA-Z_:][a-zA-Z0-9_:]*$ (got "1x")'],
  ['metrics not a mapping', `metrics: 5\n${oneLeg('')}`, 'metrics: must be a mapping (got 5)'],
  ['log.level', `log: { level: verbose }\n${oneLeg('')}`, 'log.level: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
  ['dropHistory too small', `dropHistory: 0\n${oneLeg('')}`, 'dropHistory: must be an integer from 1 to 10000 (got 0)'],
  ['dropHistory too big', `dropHistory: 10001\n${oneLeg('')}`, 'dropHistory: must be an integer from 1 to 10000 (got 10001)'],
  ['dropHistory fraction', `dropHistory: 1.5\n${oneLeg('')}`, 'dropHistory: must be an integer from 1 to 10000 (got 1.5)'],
  ['dropHistory string', `dropHistory: "10"\n${oneLeg('')}`, 'dropHistory: must be an integer from 1 to 10000 (got "10")'],
  ['defaults.interval below 10ms', `defaults: { interval: 5ms }\n${oneLeg('')}`, 'defaults.interval: must be a duration of at least 10ms (got "5ms")'],
  ['defaults.interval zero', `defaults: { interval: 0s }\n${oneLeg('')}`, 'defaults.interval: must be a duration greater than 0 (got "0s")'],
  ['defaults.interval over a day', `defaults: { interval: 25h }\n${oneLeg('')}`, 'defaults.interval: must be a duration of at most 24h (got "25h")'],
  ['defaults.deadline', `defaults: { deadline: -5s }\n${oneLeg('')}`, 'defaults.deadline: must be a duration greater than 0 (got "-5s")'],
  ['defaults.connectTimeout', `defaults: { connectTimeout: soon }\n${oneLeg('')}`, 'defaults.connectTimeout: must be a duration greater than 0 (got "soon")'],
  ['defaults.backoff.factor', `defaults: { backoff: { factor: 0.5 } }\n${oneLeg('')}`, 'defaults.backoff.factor: must be a number >= 1 (got 0.5)'],
  ['defaults.backoff.min zero', `defaults: { backoff: { min: 0 } }\n${oneLeg('')}`, 'defaults.backoff.min: must be a duration greater than 0 (got 0)'],
  ['defaults.backoff.max < min', `defaults: { backoff: { max: 100ms } }\n${oneLeg('')}`, 'defaults.backoff.max: must be at least backoff.min (500ms) (got "100ms")'],
  ['defaults.backoff.min > default max', `defaults: { backoff: { min: 1m } }\n${oneLeg('')}`, 'defaults.backoff.min: must be at most backoff.max (30s) (got "1m")'],
  ['legs missing', 'listen: ":9464"\n', 'legs: required (a list of at least one leg)'],
  ['legs not a list', 'legs: {}\n', 'legs: must be a list of legs (got {})'],
  ['legs empty', 'legs: []\n', 'legs: must have at least 1 leg (got [])'],
  ['leg not a mapping', 'legs: [ws]\n', 'legs[0]: must be a mapping with at least name, kind and url (got "ws")'],
  ['name missing', 'legs: [{ kind: ws, url: "wss://h.example/" }]\n', 'legs[0].name: required'],
  ['name characters', oneLeg('name: "bad name"', 'kind: ws, url: "wss://h.example/"'), 'legs[0].name: must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got "bad name")'],
  ['name length', oneLeg(`name: ${'n'.repeat(65)}`, 'kind: ws, url: "wss://h.example/"'), `legs[0].name: must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got "${'n'.repeat(65)}")`],
  ['kind missing', 'legs: [{ name: a, url: "wss://h.example/" }]\n', 'legs[0] (a).kind: required (one of ws, http, idle)'],
  ['kind unknown', 'legs: [{ name: a, kind: tcp, url: "wss://h.example/" }]\n', 'legs[0] (a).kind: must be one of ws, http, idle (got "tcp")'],
  ['role unknown', 'legs: [{ name: a, kind: ws, url: "wss://h.example/", role: edge }]\n', 'legs[0] (a).role: must be one of public, internal, serve, idle (got "edge")'],
  ['dnsRecheck without doh', 'legs: [{ name: a, kind: ws, url: "wss://h.example/", dnsRecheck: 5s }]\n', 'legs[0] (a).dnsRecheck: only used with resolve: doh'],
  ['idle leg with interval', 'legs: [{ name: a, kind: idle, url: "tcp://10.0.0.9:9000", interval: 5s }]\n', 'legs[0] (a).interval: not used by kind: idle legs (set idle instead)'],
  ['idle tcp url without port', 'legs: [{ name: a, kind: idle, url: "tcp://10.0.0.9" }]\n', 'legs[0] (a).url: must name a port, as in tcp://host:port (got "tcp://10.0.0.9")'],
  ['idle keepalive below 1s', 'legs: [{ name: a, kind: idle, url: "tcp://10.0.0.9:9000", keepalive: 500ms }]\n', 'legs[0] (a).keepalive: must be a duration of at least 1s (got "500ms")'],
  ['idle key on a ws leg', 'legs: [{ name: a, kind: ws, url: "wss://h.example/", idle: 16m }]\n', 'legs[0] (a).idle: only valid for kind: idle legs (this leg is kind: ws)'],
  ['url missing', 'legs: [{ name: a, kind: ws }]\n', 'legs[0] (a).url: required'],
  ['ws url scheme', 'legs: [{ name: a, kind: ws, url: "https://h.example/" }]\n', 'legs[0] (a).url: must be a URL starting with ws:// or wss:// (got "https://h.example/")'],
  ['http url scheme', 'legs: [{ name: a, kind: http, url: "wss://h.example/" }]\n', 'legs[0] (a).url: must be a URL starting with http:// or https:// (got "wss://h.example/")'],
  ['url unparsable', 'legs: [{ name: a, kind: ws, url: "not a url" }]\n', 'legs[0] (a).url: must be a URL starting with ws:// or wss:// (got "not a url")'],
  ['url with an invalid host', 'legs: [{ name: a, kind: ws, url: "ws://exa mple.com/x" }]\n', 'legs[0] (a).url: has an invalid host "exa mple.com" (got "ws://exa mple.com/x")'],
  ['url with a bad escape in the host', 'legs: [{ name: a, kind: http, url: "http://h%zz.example/" }]\n', 'legs[0] (a).url: has an invalid host "h%zz.example" (got "http://h%zz.example/")'],
  ['url with an invalid IPv6 host', 'legs: [{ name: a, kind: ws, url: "wss://[::1/x" }]\n', 'legs[0] (a).url: has an invalid host "[::1" (got "wss://[::1/x")'],
  ['url with a port too big', 'legs: [{ name: a, kind: ws, url: "wss://h.example:99999/x" }]\n', 'legs[0] (a).url: has an invalid port "99999" (must be from 0 to 65535) (got "wss://h.example:99999/x")'],
  ['url with a port that is not a number', 'legs: [{ name: a, kind: ws, url: "wss://[::1]:https/x" }]\n', 'legs[0] (a).url: has an invalid port "https" (must be from 0 to 65535) (got "wss://[::1]:https/x")'],
  ['url without a host', 'legs: [{ name: a, kind: ws, url: "wss://:443/x" }]\n', 'legs[0] (a).url: has no host (got "wss://:443/x")'],
  ['idle tcp url with an invalid host', 'legs: [{ name: a, kind: idle, url: "tcp://exa mple:9000" }]\n', 'legs[0] (a).url: has an invalid host "exa mple" (got "tcp://exa mple:9000")'],
  ['url with a wrong scheme and an invalid host', 'legs: [{ name: a, kind: ws, url: "https://exa mple.com/" }]\n', 'legs[0] (a).url: must be a URL starting with ws:// or wss:// (got "https://exa mple.com/")'],
  ['doh.url with an invalid host', `doh: { url: "https://dns example/q" }\n${oneLeg('')}`, 'doh.url: has an invalid host "dns example" (got "https://dns example/q")'],
  ['url fragment', 'legs: [{ name: a, kind: ws, url: "wss://h.example/ws#x" }]\n', 'legs[0] (a).url: must not have a #fragment (got "wss://h.example/ws#x")'],
  ['url userinfo, password hidden', 'legs: [{ name: a, kind: ws, url: "wss://me:secret@h.example/" }]\n', 'legs[0] (a).url: must not contain a username or password (send credentials in headers) (got "wss://me:***@h.example/")'],
  ['resolve', oneLeg('resolve: dns'), 'legs[0] (a).resolve: must be one of system, doh (got "dns")'],
  ['pin not an IP', oneLeg('pin: lb.internal'), 'legs[0] (a).pin: must be an IP address (got "lb.internal")'],
  ['leg interval', oneLeg('interval: 1ms'), 'legs[0] (a).interval: must be a duration of at least 10ms (got "1ms")'],
  ['leg deadline', oneLeg('deadline: -5s'), 'legs[0] (a).deadline: must be a duration greater than 0 (got "-5s")'],
  ['leg deadline number', oneLeg('deadline: -5'), 'legs[0] (a).deadline: must be a duration greater than 0 (got -5)'],
  ['leg connectTimeout', oneLeg('connectTimeout: 10 seconds'), 'legs[0] (a).connectTimeout: must be a duration greater than 0 (got "10 seconds")'],
  ['leg backoff.max below inherited min', oneLeg('backoff: { max: 100ms }'), 'legs[0] (a).backoff.max: must be at least backoff.min (500ms) (got "100ms")'],
  ['leg backoff not a mapping', oneLeg('backoff: fast'), 'legs[0] (a).backoff: must be a mapping (got "fast")'],
  ['tls.insecure', oneLeg('tls: { insecure: yes }'), 'legs[0] (a).tls.insecure: must be true or false (got "yes")'],
  ['tls.ca empty', oneLeg('tls: { ca: "" }'), 'legs[0] (a).tls.ca: must be a path to a PEM file (got "")'],
  ['header name', oneLeg('headers: { "X Token": a }'), 'legs[0] (a).headers.X Token: must be a valid HTTP header name (got "X Token")'],
  ['header value CR/LF', oneLeg('headers: { X-Token: "a\\r\\nX-Evil: 1" }'), 'legs[0] (a).headers.X-Token: must not contain CR, LF or NUL (got "a\\r\\nX-Evil: 1")'],
  ['header value number', oneLeg('headers: { X-Count: 0123 }'), 'legs[0] (a).headers.X-Count: must be a string (quote numbers and booleans) (got 123)'],
  ['header value empty', oneLeg('headers: { X-Token: }'), 'legs[0] (a).headers.X-Token: must be a string (got null)'],
  ['header duplicate by case', oneLeg('headers: { X-Token: a, x-token: b }'), 'legs[0] (a).headers.x-token: duplicate of header "X-Token" (header names are case-insensitive)'],
  ['headers not a mapping', oneLeg('headers: [a]'), 'legs[0] (a).headers: must be a mapping (got ["a"])'],
  ['maxPayload too big', oneLeg('maxPayload: 32MiB'), 'legs[0] (a).maxPayload: must be a size from 1B to 16MiB (got "32MiB")'],
  ['maxPayload zero', oneLeg('maxPayload: 0'), 'legs[0] (a).maxPayload: must be a size from 1B to 16MiB (got 0)'],
  ['maxPayload fractional bytes', oneLeg('maxPayload: 1.5B'), 'legs[0] (a).maxPayload: must be a size from 1B to 16MiB (got "1.5B")'],
  ['maxPayload unknown unit', oneLeg('maxPayload: 64kib'), 'legs[0] (a).maxPayload: must be a size from 1B to 16MiB (got "64kib")'],
  ['maxBody too big', oneLeg('maxBody: 65MiB', HTTP_LEG), 'legs[0] (a).maxBody: must be a size from 1B to 64MiB (got "65MiB")'],
  ['doh.url scheme', `doh: { url: "http://dns.example/dns-query" }\n${oneLeg('')}`, 'doh.url: must be a URL starting with https:// (got "http://dns.example/dns-query")'],
  ['doh.url missing', `doh: { method: GET }\n${oneLeg('')}`, 'doh.url: required (the DoH endpoint, for example https://cloudflare-dns.com/dns-query)'],
  ['doh.method', `doh: { url: "https://dns.example/q", method: get }\n${oneLeg('')}`, 'doh.method: must be one of GET, POST (got "get")'],
  ['doh.bootstrap', `doh: { url: "https://dns.example/q", bootstrap: dns.google }\n${oneLeg('')}`, 'doh.bootstrap: must be an IP address (got "dns.google")'],
  ['doh.timeout', `doh: { url: "https://dns.example/q", timeout: 0 }\n${oneLeg('')}`, 'doh.timeout: must be a duration greater than 0 (got 0)'],
  ['doh.family', `doh: { url: "https://dns.example/q", family: 5 }\n${oneLeg('')}`, 'doh.family: must be 4, 6 or any (got 5)'],
  ['doh.minTtl', `doh: { url: "https://dns.example/q", minTtl: -1s }\n${oneLeg('')}`, 'doh.minTtl: must be a duration (got "-1s")'],
  ['doh.maxTtl < minTtl', `doh: { url: "https://dns.example/q", minTtl: 10m, maxTtl: 5m }\n${oneLeg('')}`, 'doh.maxTtl: must be at least minTtl (10m) (got "5m")'],
  ['doh.minTtl > default maxTtl', `doh: { url: "https://dns.example/q", minTtl: 2h }\n${oneLeg('')}`, 'doh.minTtl: must be at most maxTtl (1h) (got "2h")'],
  ['doh.tls.insecure', `doh: { url: "https://dns.example/q", tls: { insecure: 1 } }\n${oneLeg('')}`, 'doh.tls.insecure: must be true or false (got 1)'],
  ['doh required by a leg', `legs:\n  - { ${WS_LEG} }\n  - { name: b, kind: ws, url: "wss://h.example/", resolve: doh }\n`, 'doh: required because legs[1] uses resolve: doh'],
  ['pin with resolve: doh', `doh: { url: "https://dns.example/q" }\n${oneLeg('resolve: doh, pin: 10.0.0.10')}`, 'legs[0] (a).pin: cannot be combined with resolve: doh (pin skips DNS) (got "10.0.0.10")'],
  ['duplicate name', `legs:\n  - { ${WS_LEG} }\n  - { ${HTTP_LEG} }\n`, 'legs[1] (a).name: duplicate of legs[0].name (got "a")'],
  ['ws key on an http leg', oneLeg('maxPayload: 1MiB', HTTP_LEG), 'legs[0] (a).maxPayload: only valid for kind: ws legs (this leg is kind: http)'],
  ['http key on a ws leg', oneLeg('maxBody: 1MiB'), 'legs[0] (a).maxBody: only valid for kind: http legs (this leg is kind: ws)'],
  ['unknown root key', `legz: []\n${oneLeg('')}`, 'legz: unknown key (did you mean "legs"?)'],
  ['unknown root key, far off', `colour: red\n${oneLeg('')}`, 'colour: unknown key (valid keys: listen, metrics, log, dropHistory, state, defaults, doh, legs)'],
  ['unknown nested key', `metrics: { prefx: a_ }\n${oneLeg('')}`, 'metrics.prefx: unknown key (did you mean "prefix"?)'],
  ['unknown key in defaults', `defaults: { timeout: 1s }\n${oneLeg('')}`, 'defaults.timeout: unknown key (valid keys: interval, deadline, connectTimeout, backoff)'],
  ['unknown key in doh.tls', `doh: { url: "https://dns.example/q", tls: { verify: false } }\n${oneLeg('')}`, 'doh.tls.verify: unknown key (valid keys: ca, insecure)'],
  ['unknown key in a leg', oneLeg('intervall: 1s'), 'legs[0] (a).intervall: unknown key (did you mean "interval"?)'],
  ['unknown key in a leg, 3 edits away', oneLeg('intvl: 1s'), 'legs[0] (a).intvl: unknown key (did you mean "interval"?)'],
  ['unknown key in leg backoff', oneLeg('backoff: { mn: 1s }'), 'legs[0] (a).backoff.mn: unknown key (did you mean "min"?)'],
  ['unknown key in a leg, far off', oneLeg('colour: red'), 'legs[0] (a).colour: unknown key (valid keys: name, kind, role, url, resolve, pin, dnsRecheck, interval, deadline, connectTimeout, backoff, tls, headers, maxPayload, closeTimeout)'],
];

void test('every validation rule reports its exact line', async (t) => {
  for (const [what, yaml, line] of RULES) {
    await t.test(what, () => {
      const err = assertProblems(yaml, [line]);
      assert.equal(err.key, keyOf(line));
    });
  }
});

void test('errors in a config file name the file, line and column, and the leg by name', async (t) => {
  const file = join(await tempDir(t), 'probe.yaml');
  await writeFile(
    file,
    [
      'listen: ":9464"',
      'legs:',
      '  - name: cloudflare',
      '    kind: ws',
      '    url: wss://t3.example.com/probe/ws',
      '  - name: internal',
      '    kind: ws',
      '    url: wss://t3.example.com/probe/ws',
      '    intervall: 1s',
      '    pin: x',
      '  - kind: http',
      '    url: http://10.0.0.21:8080/probe/healthz',
      '',
    ].join('\n'),
  );
  await assert.rejects(loadConfigFile(file, { env: {} }), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.deepEqual(err.message.split('\n'), [
      // An unknown key points at the key, a wrong value at the value, a missing key at its mapping.
      `${file}:9:5: legs[1] (internal).intervall: unknown key (did you mean "interval"?)`,
      `${file}:10:10: legs[1] (internal).pin: must be an IP address (got "x")`,
      `${file}:11:5: legs[2].name: required`,
    ]);
    assert.equal(err.key, 'legs[1].intervall');
    return true;
  });
});

void test('a YAML syntax error or an empty file in a config file names the file', async (t) => {
  const dir = await tempDir(t);
  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, `listen: a\nlisten: b\n${oneLeg('')}`);
  await assert.rejects(loadConfigFile(broken, { env: {} }), {
    code: 'PROBE_ERR_CONFIG',
    message: `${broken}:2:1: YAML syntax error: Map keys must be unique`,
  });
  const empty = join(dir, 'empty.yaml');
  await writeFile(empty, '# nothing yet\n');
  await assert.rejects(loadConfigFile(empty, { env: {} }), {
    code: 'PROBE_ERR_CONFIG',
    message: `${empty}: config is empty: expected a mapping with at least a "legs" list`,
  });
});

void test('config text without a file gets line:col; a plain object gets the leg name but no position', () => {
  const err = configError(() => parse('legs:\n  - { name: edge, kind: ws, url: "wss://h.example/", pin: lb.internal }\n'));
  assert.equal(err.message, '2:59: legs[0] (edge).pin: must be an IP address (got "lb.internal")');
  assert.equal(err.key, 'legs[0].pin');
  const plain = configError(() => normalizeConfig({ legs: [{ name: 'edge', kind: 'ws', url: 'wss://h.example/', pin: 'x' }] }, { env: {} }));
  assert.equal(plain.message, 'legs[0] (edge).pin: must be an IP address (got "x")');
  assert.equal(plain.key, 'legs[0].pin');
});

void test('a leg is named in errors only when its name is valid', () => {
  const err = configError(() =>
    parse(
      [
        'legs:',
        '  - { name: "bad name", kind: ws, url: "wss://h.example/", pin: x }',
        '  - { kind: ws, url: "wss://h.example/", pin: y }',
        '  - { name: 7, kind: ws, url: "wss://h.example/", pin: z }',
        '',
      ].join('\n'),
    ),
  );
  assert.deepEqual(err.message.split('\n'), [
    '2:13: legs[0].name: must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got "bad name")',
    '2:65: legs[0].pin: must be an IP address (got "x")',
    '3:5: legs[1].name: required',
    '3:47: legs[1].pin: must be an IP address (got "y")',
    '4:13: legs[2].name: must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got 7)',
    '4:56: legs[2].pin: must be an IP address (got "z")',
  ]);
});

void test('positions: nested values, merged values where they are written, dotted header names, env variables', () => {
  const yaml = [
    'defaults:',
    '  backoff:',
    '    min: 0',
    'legs:',
    '  - &base',
    '    name: a',
    '    kind: ws',
    '    url: wss://h.example/',
    '    deadline: -1s',
    '    headers:',
    '      X.Trace: 5',
    '      "X Token": t',
    '  - <<: *base',
    '    name: b',
    '  - { name: c, kind: http }',
    '',
  ].join('\n');
  const err = configError(() => parse(yaml, { env: { T3PROBE_LISTEN: 'nope' } }));
  assert.deepEqual(err.message.split('\n'), [
    'T3PROBE_LISTEN: must be "host:port" (got "nope")',
    '3:10: defaults.backoff.min: must be a duration greater than 0 (got 0)',
    '9:15: legs[0] (a).deadline: must be a duration greater than 0 (got "-1s")',
    '11:16: legs[0] (a).headers.X.Trace: must be a string (quote numbers and booleans) (got 5)',
    '12:7: legs[0] (a).headers.X Token: must be a valid HTTP header name (got "X Token")',
    // b has no deadline or headers of its own: they are merged from a, and wrong where a says them.
    '9:15: legs[1] (b).deadline: must be a duration greater than 0 (got "-1s")',
    '11:16: legs[1] (b).headers.X.Trace: must be a string (quote numbers and booleans) (got 5)',
    '12:7: legs[1] (b).headers.X Token: must be a valid HTTP header name (got "X Token")',
    '15:5: legs[2] (c).url: required',
  ]);
  assert.equal(err.key, 'T3PROBE_LISTEN');
  assert.equal(configError(() => parse('listen: ":9464"\n')).message, '1:1: legs: required (a list of at least one leg)');
});

void test('more than 10000 legs is an error', () => {
  const legs = Array.from({ length: 10_001 }, (_, i) => ({ name: `l${i}`, kind: 'http', url: 'http://h.example/' }));
  const err = configError(() => normalizeConfig({ legs }, { env: {} }));
  assert.equal(err.message, 'legs: must have at most 10000 legs (got "10001 legs")');
});

void test('all problems are reported together, one per line, key naming the first', () => {
  const yaml = `
listen: nope
logg: { level: info }
legs:
  - { name: a, kind: ws, url: "wss://h.example/", intervall: 1s }
  - { name: b, kind: ws, url: "wss://h.example/" }
  - { name: c, kind: ws, url: "wss://h.example/", deadline: -5s }
`;
  const err = configError(() => parse(yaml));
  assert.deepEqual(err.message.split('\n'), [
    '3:1: logg: unknown key (did you mean "log"?)',
    '2:9: listen: must be "host:port" (got "nope")',
    '5:51: legs[0] (a).intervall: unknown key (did you mean "interval"?)',
    '7:61: legs[2] (c).deadline: must be a duration greater than 0 (got "-5s")',
  ]);
  assert.equal(err.code, 'PROBE_ERR_CONFIG');
  assert.equal(err.key, 'logg');
  assert.ok(err instanceof ProbeError);
});

void test('a flood of identical mistakes is capped at 100 lines', () => {
  const legs = Array.from({ length: 150 }, (_, i) => ({ name: `l${i}`, kind: 'ws', url: 'wss://h.example/', deadline: '-5s' }));
  const lines = configError(() => normalizeConfig({ legs }, { env: {} })).message.split('\n');
  assert.equal(lines.length, 101);
  assert.equal(lines[99], 'legs[99] (l99).deadline: must be a duration greater than 0 (got "-5s")');
  assert.equal(lines[100], '... and 50 more problems');
});

void test('tls.ca is read relative to baseDir, and its PEM text is what the config holds', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), PEM);
  const [leg] = parse(oneLeg('tls: { ca: ca.pem }'), { baseDir: dir }).legs;
  assert.deepEqual(leg?.tls, { ca: PEM, insecure: false });
  const absolute = parse(oneLeg(`tls: { ca: "${join(dir, 'ca.pem')}" }`), { baseDir: '/nonexistent' }).legs[0];
  assert.equal(absolute?.tls.ca, PEM);
});

void test('an unreadable or non-PEM tls.ca names the key and the path', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'not.pem'), 'hello');
  const missing = join(dir, 'missing.pem');
  assertProblems(oneLeg('tls: { ca: missing.pem }'), [`legs[0] (a).tls.ca: cannot read ${missing} (ENOENT) (got "missing.pem")`], {
    baseDir: dir,
  });
  assertProblems(`doh: { url: "https://dns.example/q", tls: { ca: ./not.pem } }\n${oneLeg('')}`, [
    `doh.tls.ca: ${join(dir, 'not.pem')} has no PEM certificate in it (got "./not.pem")`,
  ], { baseDir: dir });
  assertProblems(oneLeg('tls: { ca: . }'), [`legs[0] (a).tls.ca: cannot read ${dir} (EISDIR) (got ".")`], { baseDir: dir });
});

void test('a CA file problem in a config file names the file, line and column, and the leg', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'not.pem'), 'hello');
  const file = join(dir, 'probe.yaml');
  await writeFile(
    file,
    [
      'doh:',
      '  url: https://dns.example/q',
      '  tls: { ca: ./not.pem }',
      'legs:',
      '  - name: cloudflare',
      '    kind: ws',
      '    url: wss://t3.example.com/probe/ws',
      '    tls:',
      '      ca: missing.pem',
      '',
    ].join('\n'),
  );
  await assert.rejects(loadConfigFile(file, { env: {} }), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.deepEqual(err.message.split('\n'), [
      `${file}:3:14: doh.tls.ca: ${join(dir, 'not.pem')} has no PEM certificate in it (got "./not.pem")`,
      `${file}:9:11: legs[0] (cloudflare).tls.ca: cannot read ${join(dir, 'missing.pem')} (ENOENT) (got "missing.pem")`,
    ]);
    assert.equal(err.key, 'doh.tls.ca');
    return true;
  });
});

void test('a CA file problem is reported together with every other problem', async (t) => {
  const dir = await tempDir(t);
  const err = assertProblems(oneLeg('tls: { ca: missing.pem }, pin: x'), [
    'legs[0] (a).pin: must be an IP address (got "x")',
    `legs[0] (a).tls.ca: cannot read ${join(dir, 'missing.pem')} (ENOENT) (got "missing.pem")`,
  ], { baseDir: dir });
  assert.equal(err.key, 'legs[0].pin');
});

void test('validation names the CA files without reading them; the legs of a doh section share its CA', () => {
  const { config, caFiles, issues } = normalize(
    {
      doh: { url: 'https://dns.example/q', tls: { ca: 'ca.pem' } },
      legs: [
        { name: 'a', kind: 'ws', url: 'wss://h.example/', resolve: 'doh', tls: { ca: '/elsewhere/leg.pem', insecure: true } },
        { name: 'b', kind: 'ws', url: 'wss://h.example/', resolve: 'doh' },
      ],
    },
    { env: {}, baseDir: '/nonexistent' },
  );
  assert.equal(issues.count, 0);
  assert.deepEqual(caFiles, [
    { owner: 'doh', key: 'doh.tls.ca', value: 'ca.pem', path: '/nonexistent/ca.pem' },
    { owner: 0, key: 'legs[0].tls.ca', value: '/elsewhere/leg.pem', path: '/elsewhere/leg.pem' },
  ]);
  assert.deepEqual(config.legs[0]?.tls, { insecure: true });

  // The same config, read: each file once however many keys name it, each PEM where its key is.
  const LEG_PEM = PEM.replace('fake', 'leg');
  const reads: string[] = [];
  const [a, b] = buildConfig(
    {
      doh: { url: 'https://dns.example/q', tls: { ca: 'ca.pem' } },
      legs: [
        { name: 'a', kind: 'ws', url: 'wss://h.example/', resolve: 'doh', tls: { ca: 'leg.pem', insecure: true } },
        { name: 'b', kind: 'ws', url: 'wss://h.example/', resolve: 'doh', tls: { ca: './ca.pem' } },
      ],
    },
    { env: {}, baseDir: '/ca' },
    (path) => {
      reads.push(path);
      return path === '/ca/leg.pem' ? LEG_PEM : PEM;
    },
  ).legs;
  assert.deepEqual(reads, ['/ca/ca.pem', '/ca/leg.pem']);
  assert.deepEqual(a?.tls, { ca: LEG_PEM, insecure: true });
  assert.deepEqual(b?.tls, { ca: PEM, insecure: false });
  assert.ok(a?.resolve.mode === 'doh' && b?.resolve.mode === 'doh');
  assert.deepEqual(a.resolve.doh.tls, { ca: PEM, insecure: false });
  assert.equal(a.resolve.doh, b.resolve.doh, 'the legs share one doh object, as the parsed config does');
});

void test('loadConfigFile resolves relative paths against the file, not the cwd', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), PEM);
  await writeFile(join(dir, 'probe.yaml'), oneLeg('tls: { ca: ./ca.pem }'));
  const config = await loadConfigFile(join(dir, 'probe.yaml'), { env: {} });
  assert.equal(config.legs[0]?.tls.ca, PEM);
});

void test('loadConfigFile on an unreadable file is PROBE_ERR_CONFIG naming the path', async (t) => {
  const path = join(await tempDir(t), 'nope.yaml');
  await assert.rejects(loadConfigFile(path, { env: {} }), (err: unknown) => {
    assert.ok(isProbeError(err, 'PROBE_ERR_CONFIG'));
    assert.equal(err.message, `cannot read config file ${path} (ENOENT)`);
    return true;
  });
});

void test('environment overrides apply on top of the file', () => {
  const yaml = `
listen: "127.0.0.1:1"
log: { level: warn }
legs:
  - { name: a, kind: ws, url: "wss://h.example/", resolve: doh }
  - { name: b, kind: ws, url: "wss://h.example/", interval: 5s }
`;
  const config = parse(yaml, {
    env: {
      T3PROBE_LISTEN: ':8080',
      T3PROBE_LOG_LEVEL: 'debug',
      T3PROBE_METRICS_PREFIX: 'edge_',
      T3PROBE_DOH_URL: 'https://dns.example/dns-query',
      T3PROBE_DOH_BOOTSTRAP: '9.9.9.9',
      T3PROBE_INTERVAL: '250ms',
    },
  });
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
  assert.equal(config.log.level, 'debug');
  assert.equal(config.metrics.prefix, 'edge_');
  const [a, b] = config.legs;
  assert.deepEqual(a?.resolve, {
    mode: 'doh',
    doh: {
      url: 'https://dns.example/dns-query',
      method: 'GET',
      bootstrap: '9.9.9.9',
      timeoutMs: 5_000,
      tls: { insecure: false },
      family: 0,
      minTtlS: 0,
      maxTtlS: 3_600,
    },
  });
  // T3PROBE_INTERVAL replaces defaults.interval only: a leg's own interval still wins.
  assert.deepEqual([a.intervalMs, a.deadlineMs], [250, 500]);
  assert.equal(b?.intervalMs, 5_000);
});

void test('empty environment variables are ignored', () => {
  const config = parse(`listen: "127.0.0.1:1"\n${oneLeg('')}`, { env: { T3PROBE_LISTEN: '', T3PROBE_LOG_LEVEL: '' } });
  assert.deepEqual(config.listen, { host: '127.0.0.1', port: 1 });
  assert.equal(config.log.level, 'info');
});

void test('invalid environment values are errors naming the variable', async (t) => {
  const cases: readonly (readonly [string, string, string])[] = [
    ['T3PROBE_LISTEN', 'nope', 'T3PROBE_LISTEN: must be "host:port" (got "nope")'],
    ['T3PROBE_LOG_LEVEL', 'loud', 'T3PROBE_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    ['T3PROBE_METRICS_PREFIX', '9x', 'T3PROBE_METRICS_PREFIX: must match ^[a-zA-Z_:][a-zA-Z0-9_:]*$ (got "9x")'],
    ['T3PROBE_DOH_URL', 'http://dns.example/', 'T3PROBE_DOH_URL: must be a URL starting with https:// (got "http://dns.example/")'],
    ['T3PROBE_DOH_BOOTSTRAP', 'dns.google', 'T3PROBE_DOH_BOOTSTRAP: must be an IP address (got "dns.google")'],
    ['T3PROBE_INTERVAL', '1ms', 'T3PROBE_INTERVAL: must be a duration of at least 10ms (got "1ms")'],
  ];
  for (const [name, value, line] of cases) {
    await t.test(name, () => {
      const err = assertProblems(oneLeg(''), [line], { env: { [name]: value } });
      assert.equal(err.key, name);
    });
  }
});

void test('ENV_OVERRIDES lists every variable with the key it replaces', () => {
  assert.deepEqual(
    ENV_OVERRIDES.map(({ env, key }) => [env, key]),
    [
      ['T3PROBE_LISTEN', 'listen'],
      ['T3PROBE_LOG_LEVEL', 'log.level'],
      ['T3PROBE_METRICS_PREFIX', 'metrics.prefix'],
      ['T3PROBE_METRICS_DETAIL', 'metrics.detail'],
      ['T3PROBE_DOH_URL', 'doh.url'],
      ['T3PROBE_DOH_BOOTSTRAP', 'doh.bootstrap'],
      ['T3PROBE_INTERVAL', 'defaults.interval'],
    ],
  );
  for (const { description } of ENV_OVERRIDES) assert.ok(description.length > 0);
});

void test('a YAML syntax error names the line and column', () => {
  const err = configError(() => parse('listen: ":9464"\nlegs: [\n  { name: a }\n'));
  assert.match(err.message, /^\d+:\d+: YAML syntax error: /);
  assert.equal(err.key, undefined);
  const dup = configError(() => parse(`listen: a\nlisten: b\n${oneLeg('')}`));
  assert.equal(dup.message, '2:1: YAML syntax error: Map keys must be unique');
});

void test('exponentially nested aliases (billion laughs) are refused, not expanded', () => {
  let yaml = 'a: &a [x, x, x, x, x, x, x, x, x, x]\n';
  for (const [previous, name] of [...'abcdefgh'].map((c, i) => [c, 'bcdefghi'[i]] as const)) {
    yaml += `${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]\n`;
  }
  const err = configError(() => parse(yaml));
  assert.equal(err.message, 'YAML error: Excessive alias count indicates a resource exhaustion attack');
});

void test('an empty file or a non-mapping root is a clear error', () => {
  for (const text of ['', '# only a comment\n', '---\n']) {
    const err = configError(() => parse(text));
    assert.equal(err.message, 'config is empty: expected a mapping with at least a "legs" list');
    assert.equal(err.key, undefined);
  }
  assert.equal(
    configError(() => parse('- a\n- b\n')).message,
    'config must be a mapping of keys such as listen and legs (got ["a","b"])',
  );
  assert.equal(configError(() => parse('just text')).message, 'config must be a mapping of keys such as listen and legs (got "just text")');
});

void test('helpers: levenshtein, nearest, sizes, listen', () => {
  assert.equal(levenshtein('kitten', 'sitting'), 3);
  assert.equal(levenshtein('', 'abc'), 3);
  assert.equal(nearest('intervall', ['interval', 'deadline']), 'interval');
  assert.equal(nearest('zzzzzz', ['interval', 'deadline']), undefined);
  assert.equal(nearest('abcde', ['abcdefgh']), 'abcdefgh');
  assert.equal(nearest('abcd', ['abcdefgh']), 'abcdefgh'); // a prefix of 4+ characters is a near miss
  assert.equal(nearest('abc', ['abcdefgh']), undefined);
  assert.equal(nearest('maxPayload', ['maxConnections', 'maxPayloadBytes']), 'maxPayloadBytes');
  assert.equal(parseByteSize('64 KiB'), 65_536);
  assert.equal(parseByteSize('1.5KiB'), 1_536);
  assert.equal(parseByteSize(-1), undefined);
  assert.equal(parseByteSize('1 TB'), undefined);
  assert.equal(formatBytes(16_777_216), '16MiB');
  assert.equal(formatBytes(1_000), '1000B');
  assert.deepEqual(parseListen('[::]:80'), { host: '::', port: 80 });
  assert.equal(parseListen('host:'), 'must be "host:port"');
});

void test('documentation placeholders are found by key, with the reserved name or block they fall in', () => {
  const config = parse(
    [
      'doh: { url: "https://doh.example.net/dns-query", bootstrap: 203.0.113.53 }',
      'legs:',
      '  - { name: cloudflare, kind: ws, url: "wss://T3.Example.COM./probe/ws", resolve: doh }',
      '  - { name: internal, kind: ws, url: "wss://t3.example.com/probe/ws", pin: 192.0.2.10, headers: { Host: "t3.example.org:8443" } }',
      '  - { name: t3serve, kind: http, url: "http://198.51.100.21:8080/probe/healthz" }',
      '  - { name: v6, kind: http, url: "http://[2001:db8::21]:8080/probe/healthz" }',
      '  - { name: mapped, kind: ws, url: "ws://echo.svc.test/probe/ws", pin: "::ffff:192.0.2.7" }',
      '  - { name: swarm-vip, kind: idle, url: "tcp://echo.invalid:9000" }',
      '  - { name: tld, kind: idle, url: "tcp://echo-vip.example:9000" }',
    ].join('\n'),
  );
  assert.deepEqual(
    findPlaceholders(config).map(({ key, value, reserved }) => [key, value, reserved]),
    [
      ['legs[0] (cloudflare).url', 't3.example.com.', 'example.com, RFC 2606'],
      ['legs[1] (internal).url', 't3.example.com', 'example.com, RFC 2606'],
      ['legs[1] (internal).pin', '192.0.2.10', '192.0.2.0/24, RFC 5737'],
      ['legs[1] (internal).headers.Host', 't3.example.org', 'example.org, RFC 2606'],
      ['legs[2] (t3serve).url', '198.51.100.21', '198.51.100.0/24, RFC 5737'],
      ['legs[3] (v6).url', '[2001:db8::21]', '2001:db8::/32, RFC 3849'],
      ['legs[4] (mapped).url', 'echo.svc.test', '.test, RFC 2606'],
      ['legs[4] (mapped).pin', '::ffff:192.0.2.7', '192.0.2.0/24, RFC 5737'],
      ['legs[5] (swarm-vip).url', 'echo.invalid', '.invalid, RFC 2606'],
      ['legs[6] (tld).url', 'echo-vip.example', '.example, RFC 2606'],
      ['doh.url', 'doh.example.net', 'example.net, RFC 2606'],
      ['doh.bootstrap', '203.0.113.53', '203.0.113.0/24, RFC 5737'],
    ],
  );
  assert.equal(
    formatPlaceholder(findPlaceholders(config)[2]!),
    'legs[1] (internal).pin: a documentation placeholder (192.0.2.0/24, RFC 5737): replace it with your own (got "192.0.2.10")',
  );
});

void test('real hosts and addresses next to the reserved ones are not placeholders', () => {
  // Neighbours of each block and name: only the reserved ones themselves are placeholders.
  for (const host of [
    '192.0.3.1', '192.0.1.255', '198.51.101.1', '203.0.112.255', '10.0.0.10', '1.1.1.1', '2001:db9::1', '[2001:db9::1]', '::ffff:10.0.0.1',
    'example.co', 'myexample.com', 'example.com.evil.net', 'test', 'example', 't3.testing', 'contest', 'invalid-host.net', 'cloudflare-dns.com',
  ]) {
    assert.equal(placeholderReason(host), undefined, host);
  }
  const config = parse(
    [
      'doh: { url: "https://cloudflare-dns.com/dns-query", bootstrap: 1.1.1.1 }',
      'legs:',
      '  - { name: cloudflare, kind: ws, url: "wss://t3.acme.io/probe/ws", resolve: doh }',
      '  - { name: internal, kind: ws, url: "wss://t3.acme.io/probe/ws", pin: 10.0.0.10, headers: { Host: "t3.acme.io" } }',
      '  - { name: t3serve, kind: http, url: "http://[2001:db9::21]:8080/probe/healthz" }',
    ].join('\n'),
  );
  assert.deepEqual(findPlaceholders(config), []);
});

test('headers: ${NAME} in a value comes from the environment, so a secret such as the echo token stays out of the file', () => {
  const yaml = oneLeg('headers: { Authorization: "Bearer ${ECHO_TOKEN}", X-Both: "${A}-${B}" }');
  const config = parse(yaml, { env: { ECHO_TOKEN: 's3cret-s3cret-s3cret', A: 'a', B: 'b' } });
  assert.deepEqual(config.legs[0]?.headers, { Authorization: 'Bearer s3cret-s3cret-s3cret', 'X-Both': 'a-b' });
  // Unset and empty both name the variable and the key; the message never carries a value.
  const err = assertProblems(yaml, [
    'legs[0] (a).headers.Authorization: references ${ECHO_TOKEN}, not set in the environment (got "Bearer ${ECHO_TOKEN}")',
    'legs[0] (a).headers.X-Both: references ${B}, not set in the environment (got "${A}-${B}")',
  ], { env: { A: 'a', B: '' } });
  assert.equal(err.message.includes('s3cret'), false);
  assertProblems(oneLeg('headers: { X-T: "${T}" }'), ['legs[0] (a).headers.X-T: expands to a value with CR, LF or NUL (from the environment) (got "${T}")'], {
    env: { T: 'a\r\nInjected: 1' },
  });
});
