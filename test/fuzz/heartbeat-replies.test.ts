/**
 * Heartbeat replies from a real ws server to a real ws leg: echoes mixed with duplicates,
 * replays of old heartbeats, garbage, binary frames, frames bigger than any heartbeat, wrong
 * sequence numbers and reordering. Each stray reply is counted under its label (`duplicate`,
 * `garbled`), every echoed heartbeat is `ok` (or `late`), and none of it drops the leg.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import fc from 'fast-check';
import { startLeg, wsLegOptions } from '../helpers/legs.js';
import { startScriptedWsServer } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';
import { fuzzRuns, testTimeout } from './fuzz-options.js';

type Action =
  | { kind: 'echo' }
  | { kind: 'echoTwice' }
  | { kind: 'replayOld'; back: number }
  | { kind: 'hold' }
  | { kind: 'garbage'; text: string }
  | { kind: 'binary' }
  | { kind: 'huge'; size: number }
  | { kind: 'wrongSeq'; seq: unknown };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'echo' as const }) },
  fc.constant({ kind: 'echoTwice' as const }),
  fc.record({ kind: fc.constant('replayOld' as const), back: fc.integer({ min: 1, max: 5 }) }),
  fc.constant({ kind: 'hold' as const }),
  // "~" first: never JSON, so never mistaken for a heartbeat.
  fc.record({ kind: fc.constant('garbage' as const), text: fc.string({ maxLength: 40 }).map((s) => `~${s}`) }),
  fc.constant({ kind: 'binary' as const }),
  fc.record({ kind: fc.constant('huge' as const), size: fc.integer({ min: 257, max: 60_000 }) }),
  fc.record({ kind: fc.constant('wrongSeq' as const), seq: fc.constantFrom(0, -1, 1.5, '1', null, 1e9, 2 ** 53) }),
);

interface Expected {
  echoes: number;
  duplicate: number;
  garbled: number;
}

/** Play `script` against the heartbeats of one connection; after it, plain echo. */
function play(ws: WebSocket, script: readonly Action[]): void {
  const received: Buffer[] = [];
  let held: Buffer | undefined;
  let index = 0;
  ws.on('message', (data: Buffer) => {
    const action = script[index++] ?? { kind: 'echo' };
    const text = (d: Buffer | string): void => ws.send(d, { binary: false });
    switch (action.kind) {
      case 'echo':
        text(data);
        break;
      case 'echoTwice':
        text(data);
        text(data);
        break;
      case 'replayOld': {
        text(data);
        const old = received[received.length - action.back];
        if (old !== undefined) text(old);
        break;
      }
      case 'hold':
        held = data;
        break;
      case 'garbage':
        text(data);
        text(action.text);
        break;
      case 'binary':
        text(data);
        ws.send(data, { binary: true });
        break;
      case 'huge':
        text(data);
        text(Buffer.alloc(action.size, 0x7b));
        break;
      case 'wrongSeq':
        text(data);
        text(JSON.stringify({ seq: action.seq, t: 1 }));
        break;
    }
    // A held heartbeat comes back after the next one: out of order, still answered.
    if (held !== undefined && action.kind !== 'hold') {
      text(held);
      held = undefined;
    }
    received.push(data);
  });
}

function expectationOf(script: readonly Action[]): Expected {
  const expected: Expected = { echoes: 0, duplicate: 0, garbled: 0 };
  script.forEach((action, i) => {
    expected.echoes++;
    if (action.kind === 'echoTwice') expected.duplicate++;
    if (action.kind === 'replayOld' && i - action.back >= 0) expected.duplicate++;
    if (action.kind === 'garbage' || action.kind === 'binary' || action.kind === 'huge' || action.kind === 'wrongSeq') expected.garbled++;
  });
  return expected;
}

test('ws leg: fuzzed heartbeat replies are counted under the right label and never drop the leg', { timeout: testTimeout(90_000) }, async (t) => {
  let script: readonly Action[] = [];
  const server = await startScriptedWsServer((ws) => play(ws, script));
  t.after(() => server.close());
  await fc.assert(
    fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 10 }), async (actions) => {
      script = actions;
      const expected = expectationOf(actions);
      // A deadline far above any loaded machine's echo time: this is about labels, not timing.
      const probe = startLeg(wsLegOptions({ url: server.url, intervalMs: 20, deadlineMs: 3_000 }));
      try {
        await probe.up();
        const answered = async (): Promise<number> => (await probe.heartbeats('ok')) + (await probe.heartbeats('late'));
        // Two plain echoes after the script: every stray reply sent before them has been read.
        await waitFor(`${expected.echoes + 2} answered heartbeats`, async () => (await answered()) >= expected.echoes + 2, { timeoutMs: 10_000 });
        assert.equal(await probe.heartbeats('duplicate'), expected.duplicate, 'duplicate');
        assert.equal(await probe.heartbeats('garbled'), expected.garbled, 'garbled');
        assert.equal(await probe.heartbeats('timeout'), 0, 'timeout');
        assert.equal(await probe.disconnects(), 0, 'no drop');
        assert.equal(probe.drops.length, 0);
      } finally {
        await probe.close();
      }
    }),
    fuzzRuns(25, { timeoutMs: 20_000, budgetMs: 60_000 }),
  );
});

test('ws leg: a reply bigger than maxPayload drops the leg once, with a stable reason, and it reconnects', { timeout: testTimeout(30_000) }, async (t) => {
  let first = true;
  const server = await startScriptedWsServer((ws) => {
    const oversize = first;
    first = false;
    ws.on('message', (data: Buffer) => ws.send(oversize ? Buffer.alloc(70_000, 0x7b) : data, { binary: false }));
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url, intervalMs: 50, deadlineMs: 3_000, maxPayloadBytes: 65_536 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  await waitFor('the leg back up and answered', async () => (await probe.heartbeats('ok')) >= 1, { timeoutMs: 10_000 });
  assert.equal(probe.drops.length, 1);
  // ws refuses the frame (close 1009 on its side): a protocol violation by the peer is `error`.
  assert.equal(drop.reason, 'error');
  assert.equal(await probe.disconnects('error'), 1);
  assert.equal(await probe.heartbeats('timeout'), 0);
});

test('ws leg: a mangled echo of a heartbeat still awaiting its reply is garbled, not a duplicate (the tracker\'s documented rule)', async (t) => {
  const server = await startScriptedWsServer((ws) => {
    ws.on('message', (data: Buffer) => {
      const { seq } = JSON.parse(data.toString()) as { seq: number };
      ws.send(JSON.stringify({ seq, t: 0 }), { binary: false });
      ws.send(data, { binary: false });
    });
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url, intervalMs: 50, deadlineMs: 3_000 }));
  t.after(() => probe.close());
  await waitFor('3 answered heartbeats', async () => (await probe.heartbeats('ok')) >= 3);
  assert.equal(await probe.heartbeats('duplicate'), 0, 'nothing was ever answered twice');
  assert.ok((await probe.heartbeats('garbled')) >= 3);
});
