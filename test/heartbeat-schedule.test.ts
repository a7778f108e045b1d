/**
 * The probe-wide heartbeat schedule (src/legs/heartbeat-schedule.ts): legs spread over the
 * interval's slots, each beats once per interval on a fixed schedule, and the timer exists only
 * while some leg is on it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeartbeatSchedule, SLOT_MS } from '../src/legs/heartbeat-schedule.js';
import { waitFor } from './helpers/wait.js';

test('legs spread over the slots and each beats once per interval, on schedule', async (t) => {
  const schedule = new HeartbeatSchedule();
  const intervalMs = 200;
  const beats: number[][] = Array.from({ length: 40 }, () => []);
  const handles = beats.map((times) => schedule.add(intervalMs, { beat: () => times.push(performance.now()) }));
  t.after(() => handles.forEach((h) => h.cancel()));
  await waitFor('5 beats of every leg', () => beats.every((b) => b.length >= 5), { timeoutMs: 5_000 });
  // 40 legs over 20 slots of 10 ms: the first beats spread over the whole interval, not one burst.
  const firsts = beats.map((b) => b[0] ?? 0).sort((a, b) => a - b);
  assert.ok((firsts.at(-1) ?? 0) - (firsts[0] ?? 0) >= intervalMs - 2 * SLOT_MS, `first beats spread over ${((firsts.at(-1) ?? 0) - (firsts[0] ?? 0)).toFixed(0)} ms`);
  for (const times of beats) {
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      // A timer may run late and catch up; on average each beat is one interval after the last.
      assert.ok(gap > 0 && gap < 2 * intervalMs, `gap ${gap.toFixed(1)} ms`);
    }
    const mean = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / (times.length - 1);
    assert.ok(Math.abs(mean - intervalMs) < 25, `mean gap ${mean.toFixed(1)} ms`);
  }
});

test('the timer of an interval exists only while a leg is on it; cancel is idempotent', async () => {
  const schedule = new HeartbeatSchedule();
  let beats = 0;
  const a = schedule.add(50, { beat: () => beats++ });
  const b = schedule.add(50, { beat: () => beats++ });
  const c = schedule.add(80, { beat: () => beats++ });
  assert.equal(schedule.activeIntervals, 2);
  await waitFor('some beats', () => beats >= 4);
  a.cancel();
  a.cancel();
  assert.equal(schedule.activeIntervals, 2, 'b still beats every 50 ms');
  b.cancel();
  c.cancel();
  assert.equal(schedule.activeIntervals, 0);
  const after = beats;
  const until = performance.now() + 150;
  await waitFor('150 ms', () => performance.now() >= until);
  assert.equal(beats, after, 'no leg beats after it was cancelled');
});

test('after a stall the schedule catches up with each leg once, not once per missed turn', async (t) => {
  const schedule = new HeartbeatSchedule();
  let beats = 0;
  const handle = schedule.add(50, { beat: () => beats++ });
  t.after(() => handle.cancel());
  await waitFor('a first beat', () => beats >= 1);
  const before = beats;
  const stallUntil = performance.now() + 400; // 8 intervals
  while (performance.now() < stallUntil) {
    // busy: the process does not run its timers
  }
  const caughtUp = performance.now() + 25;
  await waitFor('one turn of timers', () => performance.now() >= caughtUp);
  assert.ok(beats - before <= 2, `${beats - before} beats right after a stall of 8 intervals`);
});

test('a few legs wake the process once per leg and interval, not at every slot', async (t) => {
  const schedule = new HeartbeatSchedule();
  const intervalMs = 200;
  const beats = [0, 0, 0, 0];
  const handles = beats.map((_, i) => schedule.add(intervalMs, { beat: () => beats[i]!++ }));
  t.after(() => handles.forEach((h) => h.cancel()));
  await waitFor('5 beats of every leg', () => beats.every((b) => b >= 5), { timeoutMs: 5_000 });
  const turns = Math.max(...beats);
  t.diagnostic(`${schedule.wakeups} wake-ups for ${turns} turns of 4 legs`);
  // 4 legs in 4 of the 20 slots: about 4 wake-ups a turn (a timer that fires a hair early adds one),
  // where a timer at every slot would have run 20 a turn.
  assert.ok(schedule.wakeups <= turns * 4 * 1.5 + 4, `${schedule.wakeups} wake-ups for ${turns} turns of 4 legs (${(intervalMs / SLOT_MS) * turns} slots passed)`);
});
