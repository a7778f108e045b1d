import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once, EventEmitter } from 'node:events';
import { StartRamp, START_BATCH } from '../src/legs/start-ramp.js';

/** A leg stand-in that records when it was started, in order. */
function legs(count: number, started: number[], done?: EventEmitter): { start(): void }[] {
  return Array.from({ length: count }, (_, i) => ({
    start(): void {
      started.push(i);
      if (started.length === count) done?.emit('all');
    },
  }));
}

/** The ramp's timer is unref'd (the probe holds the loop open); a test holds it while it waits. */
async function holdingTheLoop<T>(waiting: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000);
  try {
    return await waiting;
  } finally {
    clearInterval(hold);
  }
}

describe('StartRamp', () => {
  it('starts a handful of legs in the same tick, as a probe always has', () => {
    const started: number[] = [];
    const ramp = new StartRamp();
    ramp.start(legs(4, started));
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.equal(ramp.pending, 0);
    ramp.close();
  });

  it('starts the first batch at once and the rest batch by batch, in order', async () => {
    const started: number[] = [];
    const done = new EventEmitter();
    const ramp = new StartRamp({ batch: 3, tickMs: 1 });
    const all = once(done, 'all');
    ramp.start(legs(10, started, done));
    assert.deepEqual(started, [0, 1, 2], 'only the first batch starts synchronously');
    assert.equal(ramp.pending, 7);
    await holdingTheLoop(all);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(ramp.pending, 0);
    ramp.close();
  });

  it('queues legs added while ramping behind those already waiting', async () => {
    const order: string[] = [];
    const done = new EventEmitter();
    const ramp = new StartRamp({ batch: 2, tickMs: 1 });
    const leg = (name: string, last = false) => ({
      start(): void {
        order.push(name);
        if (last) done.emit('all');
      },
    });
    const all = once(done, 'all');
    ramp.start([leg('a'), leg('b'), leg('c'), leg('d')]);
    ramp.start([leg('e'), leg('f', true)]);
    await holdingTheLoop(all);
    assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e', 'f']);
    ramp.close();
  });

  it('close() forgets the legs still waiting and is idempotent', async () => {
    const started: number[] = [];
    const ramp = new StartRamp({ batch: 2, tickMs: 1 });
    ramp.start(legs(6, started));
    ramp.close();
    ramp.close();
    assert.equal(ramp.pending, 0);
    // Let several ticks of the same length pass (another ramp finishing), then look again.
    const clock = new EventEmitter();
    const ticks = once(clock, 'all');
    const other = new StartRamp({ batch: 1, tickMs: 1 });
    other.start(legs(6, [], clock));
    await holdingTheLoop(ticks);
    assert.deepEqual(started, [0, 1]);
  });

  it('ramps 1,000 legs a second by default', () => {
    const started: number[] = [];
    const ramp = new StartRamp();
    ramp.start(legs(START_BATCH * 3, started));
    assert.equal(started.length, START_BATCH);
    ramp.close();
  });
});
