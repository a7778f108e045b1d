/**
 * The client side of a verbatim echo (idle legs, idle-check) against a real TCP echo that answers
 * with fuzzed bytes: the probe in random chunks, with extra bytes, with bytes changed, cut short,
 * or a close. The exchange resolves only when the probe's exact bytes came back; otherwise it
 * fails with the code that names what happened: PROBE_ERR_PROTOCOL for wrong bytes (as soon as
 * they arrive), PROBE_ERR_HEARTBEAT_TIMEOUT for silence, PROBE_ERR_PEER_CLOSED for a close.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { isProbeError } from '../../src/errors.js';
import { openEchoChannel } from '../../src/net/echo-channel.js';
import { reasonOf } from '../../src/reasons.js';
import { fuzzRuns, testTimeout } from './fuzz-options.js';

type Reply =
  | { kind: 'verbatim'; chunks: number[]; extra: Uint8Array }
  | { kind: 'changed'; at: number; xor: number; cutAfter: boolean }
  | { kind: 'short'; keep: number }
  | { kind: 'close' };

const replyArb: fc.Arbitrary<Reply> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('verbatim' as const), chunks: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 6 }), extra: fc.uint8Array({ maxLength: 64 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('changed' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), cutAfter: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('short' as const), keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
);

const DEADLINE_MS = 1_000;

test('echo channel (tcp): fuzzed echoes resolve only for the exact bytes, and fail with the code of what happened', { timeout: testTimeout(90_000) }, async (t) => {
  let reply: Reply = { kind: 'close' };
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (payload: Buffer) => {
      if (reply.kind === 'close') return void socket.destroy();
      if (reply.kind === 'short') return void socket.write(payload.subarray(0, reply.keep % payload.length));
      if (reply.kind === 'changed') {
        const bytes = Buffer.from(payload);
        const at = reply.at % bytes.length;
        bytes[at] = (bytes[at] ?? 0) ^ reply.xor;
        // Cut right after the changed byte: the rest never comes, yet the answer is already wrong.
        return void socket.write(reply.cutAfter ? bytes.subarray(0, at + 1) : bytes);
      }
      const whole = Buffer.concat([payload, reply.extra]);
      let offset = 0;
      for (const size of reply.chunks) {
        socket.write(whole.subarray(offset, offset + size));
        offset += size;
      }
      socket.write(whole.subarray(offset));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = new URL(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);

  await fc.assert(
    fc.asyncProperty(replyArb, fc.uint8Array({ minLength: 1, maxLength: 200 }), async (how, payloadBytes) => {
      reply = how;
      const channel = await openEchoChannel({ url, hostname: '127.0.0.1', address: '127.0.0.1', tls: { insecure: false } }, { connectTimeoutMs: 2_000 }, AbortSignal.timeout(5_000));
      const started = performance.now();
      try {
        const rtt = await channel.exchange(Buffer.from(payloadBytes), DEADLINE_MS);
        assert.equal(how.kind, 'verbatim', `resolved (${rtt} s) for a ${how.kind} reply`);
      } catch (err) {
        const expected =
          how.kind === 'changed' ? 'PROBE_ERR_PROTOCOL' : how.kind === 'short' ? 'PROBE_ERR_HEARTBEAT_TIMEOUT' : how.kind === 'close' ? undefined : 'none';
        if (expected === undefined) {
          // A close reads as FIN or a reset, depending on timing: either way the peer went away.
          assert.ok(['closed', 'reset'].includes(reasonOf(err)), `close gave ${String(err)}`);
        } else {
          assert.ok(isProbeError(err, expected as 'PROBE_ERR_PROTOCOL'), `${how.kind} reply: expected ${expected}, got ${String(err)}`);
        }
        // Wrong bytes are wrong at once: no waiting for the deadline to say so.
        if (how.kind === 'changed') assert.ok(performance.now() - started < DEADLINE_MS, `wrong bytes reported after ${Math.round(performance.now() - started)} ms`);
      } finally {
        channel.terminate();
      }
    }),
    fuzzRuns(40, { timeoutMs: 10_000, budgetMs: 60_000 }),
  );
});

test('regression (seed 20261122): a wrong first byte, then silence, is PROBE_ERR_PROTOCOL at once, not a timeout', async (t) => {
  const server = net.createServer((socket) => socket.once('data', (payload: Buffer) => socket.write(Buffer.from([(payload[0] ?? 0) ^ 1]))));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.close();
  });
  const url = new URL(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const channel = await openEchoChannel({ url, hostname: '127.0.0.1', address: '127.0.0.1', tls: { insecure: false } }, { connectTimeoutMs: 2_000 }, AbortSignal.timeout(5_000));
  t.after(() => channel.terminate());
  const started = performance.now();
  await assert.rejects(channel.exchange(Buffer.from([0, 0]), 5_000), (err: unknown) => isProbeError(err, 'PROBE_ERR_PROTOCOL'));
  assert.ok(performance.now() - started < 2_500, 'reported before the 5 s deadline');
});
