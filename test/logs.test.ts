/**
 * Logs an operator can read: real legs failing for real (a refused port, an untrusted
 * certificate), their pino output captured line by line. An expected drop carries reason, code
 * chain and message, never a stack at info or warn; no message says the same thing twice; and a
 * refused connect reads PROBE_ERR_CONNECT/ECONNREFUSED whatever the leg kind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import type { HttpLegOptions, IdleLegOptions, LogLevel, WsLegOptions } from '../src/config/types.js';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { createLeg } from '../src/legs/create-leg.js';
import type { DropEvent, LegStatus } from '../src/legs/leg.js';
import { createResolver } from '../src/net/resolver.js';
import { createLogger } from '../src/log.js';
import { ProbeMetrics } from '../src/metrics/registry.js';
import { httpLegOptions, idleLegOptions, wsLegOptions } from './helpers/legs.js';
import { freePort } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

type LogLine = Record<string, unknown> & { level: string; msg: string };

interface LoggedRun {
  readonly lines: readonly LogLine[];
  readonly drop: DropEvent;
  /** The leg's status after at least one failed retry. */
  readonly status: LegStatus;
}

/** Run one real leg with a real pino logger at `level` until it has dropped and retried once. */
async function runLogged(t: TestContext, options: WsLegOptions | HttpLegOptions | IdleLegOptions, level: LogLevel): Promise<LoggedRun> {
  const lines: LogLine[] = [];
  const log = createLogger(level, {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
    },
  });
  const metrics = new ProbeMetrics({ processMetrics: false });
  const leg = createLeg(options, {
    metrics: metrics.forLeg(options.name),
    log: log.child({ leg: options.name }),
    resolver: createResolver(options.resolve, () => {
      throw new Error('these legs resolve IP literals, never DoH');
    }),
    idleMetrics: () => metrics.forIdleLeg(options.name),
  });
  const dropped = once(leg, 'drop') as Promise<[DropEvent]>;
  leg.start();
  t.after(() => leg.close());
  const [drop] = await dropped;
  const status = await waitFor('a failed retry after the drop', () => {
    const s = leg.snapshot();
    return s.reconnectAttempts >= 2 && s;
  });
  return { lines: [...lines], drop, status };
}

/** Every key anywhere in a log line, and every string value, for "no stack anywhere". */
function walk(value: unknown, onKey: (key: string, value: unknown) => void): void {
  if (typeof value !== 'object' || value === null) return;
  for (const [key, inner] of Object.entries(value)) {
    onKey(key, inner);
    walk(inner, onKey);
  }
}

function stacksIn(line: LogLine): string[] {
  const found: string[] = [];
  walk(line, (key, value) => {
    if (key === 'stack') found.push(`${key}`);
    else if (typeof value === 'string' && /\n\s+at /.test(value)) found.push(`${key} holds a stack`);
  });
  return found;
}

/** Every message text a line carries: msg, message, err.message, at any depth. */
function messagesIn(line: LogLine): string[] {
  const found: string[] = [];
  walk(line, (key, value) => {
    if ((key === 'msg' || key === 'message') && typeof value === 'string') found.push(value);
  });
  return found;
}

function assertSaysItOnce(text: string, where: string, errnoText?: string): void {
  const segments = text.split(': ');
  assert.equal(new Set(segments).size, segments.length, `${where} repeats itself: ${JSON.stringify(text)}`);
  if (errnoText !== undefined) {
    assert.ok(text.split(errnoText).length <= 2, `${where} says ${errnoText} more than once: ${JSON.stringify(text)}`);
  }
}

interface Case {
  readonly name: string;
  readonly options: () => Promise<WsLegOptions | HttpLegOptions | IdleLegOptions>;
  readonly code: string;
  readonly reason: string;
  /** Text the platform error puts in its message, which must appear exactly once. */
  readonly errnoText: string;
}

const ca = createCertificateAuthority('logs test CA (never trusted)');
let untrustedPort: number | undefined;

/** An HTTPS server whose leaf the legs do not trust: the TLS handshake fails on our side. */
async function untrustedTlsPort(t: TestContext): Promise<number> {
  if (untrustedPort !== undefined) return untrustedPort;
  const leaf = ca.issue(['127.0.0.1']);
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    untrustedPort = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  untrustedPort = (server.address() as AddressInfo).port;
  return untrustedPort;
}

function cases(t: TestContext): Case[] {
  const refused = { code: 'PROBE_ERR_CONNECT/ECONNREFUSED', reason: 'refused', errnoText: 'ECONNREFUSED' } as const;
  const untrusted = {
    code: 'PROBE_ERR_CONNECT/UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    reason: 'tls',
    errnoText: 'unable to verify the first certificate',
  } as const;
  return [
    { name: 'ws leg, refused', ...refused, options: async () => wsLegOptions({ url: `ws://127.0.0.1:${await freePort()}/probe/ws` }) },
    { name: 'http leg, refused', ...refused, options: async () => httpLegOptions({ url: `http://127.0.0.1:${await freePort()}/healthz` }) },
    { name: 'idle leg, refused', ...refused, options: async () => idleLegOptions({ url: `tcp://127.0.0.1:${await freePort()}` }) },
    { name: 'ws leg, untrusted certificate', ...untrusted, options: async () => wsLegOptions({ url: `wss://127.0.0.1:${await untrustedTlsPort(t)}/probe/ws` }) },
    { name: 'http leg, untrusted certificate', ...untrusted, options: async () => httpLegOptions({ url: `https://127.0.0.1:${await untrustedTlsPort(t)}/healthz` }) },
    { name: 'idle leg, untrusted certificate', ...untrusted, options: async () => idleLegOptions({ url: `wss://127.0.0.1:${await untrustedTlsPort(t)}/probe/ws` }) },
  ];
}

test('at info and warn, a drop logs reason, code chain and message, and no line carries a stack', async (t) => {
  for (const c of cases(t)) {
    for (const level of ['info', 'warn'] as const) {
      const { lines } = await runLogged(t, await c.options(), level);
      for (const l of lines) assert.deepEqual(stacksIn(l), [], `${c.name} at ${level}: ${l.msg}`);
      const dropped = lines.filter((l) => l.msg === 'leg dropped');
      assert.equal(dropped.length, 1, `${c.name} at ${level}: one 'leg dropped' line`);
      const [line] = dropped;
      assert.equal(line?.level, 'warn');
      assert.equal(line?.reason, c.reason, c.name);
      assert.equal(line?.code, c.code, c.name);
      assert.equal(typeof line?.message, 'string', `${c.name}: the drop line says what happened`);
    }
  }
});

test('at debug, the stack is logged, on debug lines only', async (t) => {
  for (const c of cases(t)) {
    const { lines } = await runLogged(t, await c.options(), 'debug');
    const withStack = lines.filter((l) => stacksIn(l).length > 0);
    assert.ok(withStack.length > 0, `${c.name}: a stack at debug`);
    for (const l of withStack) assert.equal(l.level, 'debug', `${c.name}: '${l.msg}' at ${l.level} carries a stack`);
    assert.ok(
      withStack.some((l) => JSON.stringify(l).includes(c.errnoText)),
      `${c.name}: the debug detail includes the platform error`,
    );
  }
});

test('no logged or reported message repeats itself', async (t) => {
  for (const c of cases(t)) {
    const { lines, drop, status } = await runLogged(t, await c.options(), 'debug');
    for (const l of lines) for (const text of messagesIn(l)) assertSaysItOnce(text, `${c.name}: log '${l.msg}'`, c.errnoText);
    assertSaysItOnce(drop.message, `${c.name}: DropEvent.message`, c.errnoText);
    assert.ok(drop.message.includes(c.errnoText), `${c.name}: DropEvent.message ${JSON.stringify(drop.message)}`);
    assert.ok(status.currentError !== null);
    assertSaysItOnce(status.currentError.message, `${c.name}: currentError.message`, c.errnoText);
  }
});

test('the code chain has one form on every leg kind: PROBE_ERR_CONNECT/<errno>, reason unchanged', async (t) => {
  for (const c of cases(t)) {
    const { lines, drop, status } = await runLogged(t, await c.options(), 'info');
    assert.equal(drop.code, c.code, `${c.name}: DropEvent.code`);
    assert.equal(drop.reason, c.reason, `${c.name}: DropEvent.reason`);
    assert.equal(status.currentError?.code, c.code, `${c.name}: currentError.code`);
    assert.equal(status.currentError?.reason, c.reason, `${c.name}: currentError.reason`);
    assert.equal(lines.find((l) => l.msg === 'leg dropped')?.code, c.code, `${c.name}: logged code`);
  }
});
