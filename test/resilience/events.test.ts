import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMIT, EventSource } from '../../src/resilience/events.js';

type Event = { type: 'a'; n: number } | { type: 'b'; s: string };

test('on() narrows by type, onAny() sees everything, dispose() unsubscribes once', () => {
  const source = new EventSource<Event>();
  const seenA: number[] = [];
  const seenAll: string[] = [];
  const subscription = source.on('a', (event) => seenA.push(event.n));
  source.onAny((event) => seenAll.push(event.type));
  assert.equal(source.active, true);
  source[EMIT]({ type: 'a', n: 1 });
  source[EMIT]({ type: 'b', s: 'x' });
  subscription.dispose();
  subscription.dispose();
  source[EMIT]({ type: 'a', n: 2 });
  assert.deepEqual(seenA, [1]);
  assert.deepEqual(seenAll, ['a', 'b', 'a']);
});

test('a throwing listener does not stop the others; its error is rethrown on a later microtask', () => {
  const source = new EventSource<Event>();
  const seen: number[] = [];
  source.on('a', () => {
    throw new Error('listener bug');
  });
  source.on('a', (event) => seen.push(event.n));
  const queued: Array<() => void> = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (callback) => queued.push(callback);
  try {
    source[EMIT]({ type: 'a', n: 5 });
  } finally {
    globalThis.queueMicrotask = original;
  }
  assert.deepEqual(seen, [5]);
  assert.equal(queued.length, 1);
  assert.throws(() => queued[0]!(), /listener bug/);
});
