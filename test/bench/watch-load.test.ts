import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainCursor } from '../../bench/lib/watch-load.js';

/** The watch rows' drain: it waits for each acknowledged put's own event, not for a count of events. */

const flags = (text: string): Uint8Array => Uint8Array.from(text, (character) => (character === '1' ? 1 : 0));

test('the cursor stops at the first acknowledged put the watcher has not seen', () => {
  // Puts 0..5: all acknowledged; the watcher saw 0, 1 and 3.
  assert.equal(drainCursor(flags('110100'), flags('111111'), 0, 6), 2);
});

test('a failed put whose event came anyway does not stand in for an acknowledged one still on its way', () => {
  // Put 4 failed ("leader changed") yet applied, so the watcher saw it; put 5 was acknowledged and not seen yet.
  // Events seen (5) = acknowledged puts (5): the old count-based drain stopped here.
  const seen = flags('111110');
  const acknowledged = flags('111101');
  assert.equal(drainCursor(seen, acknowledged, 0, 6), 5);
});

test('failed puts that never applied are skipped, and the cursor reaches the end once every acknowledged put is seen', () => {
  assert.equal(drainCursor(flags('101101'), flags('101101'), 0, 6), 6);
  // It resumes where it stopped: later calls scan only what is left.
  assert.equal(drainCursor(flags('111111'), flags('111111'), 4, 6), 6);
});
