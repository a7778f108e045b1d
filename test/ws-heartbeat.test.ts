import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeError } from '../src/errors.js';
import { HeartbeatTracker } from '../src/legs/ws-heartbeat.js';
import type { HeartbeatResult } from '../src/metrics/registry.js';
import { waitFor } from './helpers/wait.js';

function tracker(deadlineMs: number) {
  const sent: Buffer[] = [];
  const results: { result: HeartbeatResult; rtt?: number }[] = [];
  const timeouts: ProbeError[] = [];
  const hb = new HeartbeatTracker(deadlineMs, {
    send: (frame) => sent.push(frame),
    onRtt: (rtt, result) => results.push({ result, rtt }),
    onResult: (result) => results.push({ result }),
    onTimeout: (err) => timeouts.push(err),
  });
  return { hb, sent, results, timeouts };
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the probe's own event loop is stalled
  }
}

test('a heartbeat frame carries a sequence number and a send time, and its verbatim echo is ok', () => {
  const { hb, sent, results } = tracker(1_000);
  hb.beat();
  hb.beat();
  const frames = sent.map((f) => JSON.parse(f.toString()) as { seq: number; t: number });
  assert.deepEqual(frames.map((f) => f.seq), [1, 2]);
  assert.ok(frames.every((f) => Math.abs(f.t - Date.now()) < 5_000));
  hb.receive(sent[0]!, false);
  hb.receive(sent[1]!, false);
  assert.deepEqual(results.map((r) => r.result), ['ok', 'ok']);
  assert.equal(hb.outstanding, 0);
  hb.stop();
});

test('duplicates, garbage, binary copies and unknown sequence numbers are classified, never matched', () => {
  const { hb, sent, results } = tracker(1_000);
  hb.beat();
  hb.receive(sent[0]!, true); // same bytes, but binary: not our text frame
  hb.receive(sent[0]!, false);
  hb.receive(sent[0]!, false); // duplicate
  hb.receive(Buffer.from('not json'), false);
  hb.receive(Buffer.from('{"seq":42,"t":1}'), false); // never sent
  hb.receive(Buffer.alloc(10_000, 0x7b), false); // oversized: not even parsed
  assert.deepEqual(
    results.map((r) => r.result),
    ['garbled', 'ok', 'duplicate', 'garbled', 'garbled', 'garbled'],
  );
  hb.stop();
});

test('a reply that arrives after its deadline while this process was stalled counts as late, not as a timeout', () => {
  const { hb, sent, results, timeouts } = tracker(50);
  hb.beat();
  busyWait(80); // the reply is "in the socket" but the loop can't run
  hb.receive(sent[0]!, false);
  assert.equal(results[0]?.result, 'late');
  assert.ok((results[0]?.rtt ?? 0) >= 0.05);
  assert.equal(timeouts.length, 0);
  hb.stop();
});

test('an unanswered heartbeat times out once, after its deadline, and stops the tracker', async () => {
  const { hb, results, timeouts } = tracker(30);
  const started = performance.now();
  hb.beat();
  hb.beat();
  await waitFor('the deadline to pass', () => timeouts.length > 0, { everyMs: 2 });
  assert.ok(performance.now() - started >= 29);
  assert.equal(timeouts.length, 1);
  assert.equal(timeouts[0]?.code, 'PROBE_ERR_HEARTBEAT_TIMEOUT');
  assert.deepEqual(results.map((r) => r.result), ['timeout']);
  hb.beat(); // stopped: no more sends
  assert.equal(hb.outstanding, 0);
});
