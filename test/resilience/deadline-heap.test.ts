import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, type TimerHandle } from '../../src/resilience/clock.js';
import { DeadlineHeap, type DeadlineEntry, DUE_MS, HEAP_INDEX, ON_DEADLINE, SEQUENCE } from '../../src/resilience/deadline-heap.js';
import { SeededRandom } from '../../src/resilience/random.js';
import { newClock } from './helpers.js';

function entry(dueMs: number, fired: string[], name: string, then?: () => void): DeadlineEntry {
  return {
    [DUE_MS]: dueMs,
    [HEAP_INDEX]: -1,
    [SEQUENCE]: 0,
    [ON_DEADLINE]: () => {
      fired.push(name);
      then?.();
    },
  };
}

test('entries fire at their due time in due order, ties in insertion order, from one clock timer', async () => {
  const clock = newClock();
  const heap = new DeadlineHeap(clock);
  const fired: string[] = [];
  const start = clock.now();
  for (const [name, delay] of [['c', 30], ['a', 10], ['b1', 20], ['b2', 20], ['d', 40]] as const) heap.add(entry(start + delay, fired, name));
  assert.equal(clock.pendingTimers, 1);
  await clock.advance(9);
  assert.deepEqual(fired, []);
  await clock.advance(1);
  assert.deepEqual(fired, ['a']);
  await clock.advance(10);
  assert.deepEqual(fired, ['a', 'b1', 'b2']);
  await clock.advance(20);
  assert.deepEqual(fired, ['a', 'b1', 'b2', 'c', 'd']);
  assert.equal(heap.size, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('removed entries never fire, and an empty heap leaves no timer pending on a FakeClock', async () => {
  const clock = newClock();
  const heap = new DeadlineHeap(clock);
  const fired: string[] = [];
  const first = entry(clock.now() + 10, fired, 'first');
  const second = entry(clock.now() + 20, fired, 'second');
  heap.add(first);
  heap.add(second);
  heap.remove(first);
  heap.remove(first); // idempotent
  assert.equal(clock.pendingTimers, 1); // still armed for 10 ms: it re-arms for the new head when it fires
  await clock.advance(15);
  assert.deepEqual(fired, []);
  heap.remove(second);
  assert.equal(clock.pendingTimers, 0);
  await clock.advance(100);
  assert.deepEqual(fired, []);
});

test('an entry due sooner than the armed timer re-arms it, also from inside a firing callback', async () => {
  const clock = newClock();
  const heap = new DeadlineHeap(clock);
  const fired: string[] = [];
  const start = clock.now();
  heap.add(entry(start + 100, fired, 'late', () => heap.add(entry(start + 300, fired, 'added-late'))));
  heap.add(entry(start + 50, fired, 'early', () => heap.add(entry(start + 60, fired, 'added-soon'))));
  heap.add(entry(start + 200, fired, 'later'));
  await clock.advance(60);
  assert.deepEqual(fired, ['early', 'added-soon']);
  await clock.advance(300);
  assert.deepEqual(fired, ['early', 'added-soon', 'late', 'later', 'added-late']);
});

test('random adds and removes fire exactly the remaining entries in (due, insertion) order', async () => {
  const clock = newClock();
  const heap = new DeadlineHeap(clock);
  const random = new SeededRandom(7);
  const fired: string[] = [];
  const live: Array<{ name: string; dueMs: number; order: number; entry: DeadlineEntry }> = [];
  const start = clock.now();
  for (let index = 0; index < 300; index++) {
    if (live.length > 0 && random.next() < 0.4) {
      const [gone] = live.splice(Math.floor(random.next() * live.length), 1);
      heap.remove(gone!.entry);
    } else {
      const dueMs = start + Math.floor(random.next() * 50);
      const name = `e${index}`;
      const added = entry(dueMs, fired, name);
      heap.add(added);
      live.push({ name, dueMs, order: index, entry: added });
    }
  }
  assert.equal(heap.size, live.length);
  await clock.advance(100);
  const expected = [...live].sort((a, b) => a.dueMs - b.dueMs || a.order - b.order).map((item) => item.name);
  assert.deepEqual(fired, expected);
});

test('a Node-style timer is unref\'d while the heap is idle and ref\'d again when work arrives', async () => {
  // A mock timer handle stands in for Node's Timeout (ref/unref) on a FakeClock,
  // so the test can see the calls without waiting on real time.
  const fake = new FakeClock();
  const calls: string[] = [];
  const clock = {
    now: () => fake.now(),
    setTimeout: (callback: () => void, delayMs: number): TimerHandle => {
      calls.push('set');
      const id = fake.setTimeout(callback, delayMs);
      return { id, ref: () => calls.push('ref'), unref: () => calls.push('unref') };
    },
    clearTimeout: (handle: TimerHandle) => {
      calls.push('clear');
      fake.clearTimeout((handle as { id: unknown }).id);
    },
  };
  const heap = new DeadlineHeap(clock);
  const fired: string[] = [];
  const one = entry(fake.now() + 100, fired, 'one');
  heap.add(one);
  heap.remove(one);
  heap.add(entry(fake.now() + 150, fired, 'two'));
  assert.deepEqual(calls, ['set', 'unref', 'ref']);
  await fake.advance(100); // the early wake-up finds nothing due and arms for the next entry
  assert.deepEqual(fired, []);
  await fake.advance(50);
  assert.deepEqual(fired, ['two']);
  assert.deepEqual(calls, ['set', 'unref', 'ref', 'set']);
});
