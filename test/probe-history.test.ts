import assert from 'node:assert/strict';
import { test } from 'node:test';
import { completeSince, downSpansOf } from '../src/attribution/probe-history.js';

test('down spans: each drop lasts until its recovery; a leg down now is down since it entered that state', () => {
  const spans = downSpansOf(
    [
      { leg: 'a', at: 100, recoveredAt: 150 },
      { leg: 'a', at: 200, recoveredAt: null },
      { leg: 'b', at: 120 },
      { leg: 'c', at: 130, recoveredAt: null },
    ],
    [
      { name: 'a', state: 'down', since: 200 },
      // An older /status without recoveredAt: a leg that is up again came up at `since`.
      { name: 'b', state: 'up', since: 170 },
      { name: 'c', state: 'up', since: 180 },
      // The ring forgot d's drop, but d is down since 90.
      { name: 'd', state: 'down', since: 90 },
    ],
  );
  assert.deepEqual(spans, [
    { leg: 'a', from: 100, to: 150 },
    { leg: 'a', from: 200, to: null },
    { leg: 'a', from: 200, to: null },
    { leg: 'b', from: 120, to: 170 },
    { leg: 'c', from: 130, to: 180 },
    { leg: 'd', from: 90, to: null },
  ]);
});

test('a full drop ring has forgotten what came before its oldest drop', () => {
  const drops = [{ leg: 'a', at: 500 }, { leg: 'a', at: 600 }];
  assert.equal(completeSince(100, drops, 2), 500);
  assert.equal(completeSince(100, drops, 3), 100);
  assert.equal(completeSince(100, [], 1), 100);
});
