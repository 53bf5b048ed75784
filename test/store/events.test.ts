import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventBatch } from '../../src/store/index.js';
import { Harness, plain, text } from './helpers.js';

function describeBatch(batch: EventBatch): string[] {
  return batch.events.map((event) => {
    const previous = event.prevKv === undefined ? '' : ` (was ${text(event.prevKv.value)}@${event.prevKv.modRevision})`;
    return `${batch.revision}:${event.type}:${text(event.kv.key)}=${text(event.kv.value)}@${event.kv.modRevision}${previous}`;
  });
}

test('a batch read long after its apply holds the events as they were then', () => {
  const store = new Harness();
  const kept: EventBatch[] = [];
  const heardAtOnce: string[][] = [];
  store.machine.subscribe((batch) => kept.push(batch));
  store.machine.subscribe((batch) => heardAtOnce.push(describeBatch(batch)));
  store.put('a', '1');
  store.put('a', '2');
  store.put('b', '3');
  store.del('a');
  store.ok({ type: 'compact', request: { revision: 4 } });
  store.put('a', '4');
  // Only now are the first listener's batches read, after later writes, a delete and a compaction.
  assert.deepEqual(kept.map(describeBatch), heardAtOnce);
  assert.deepEqual(heardAtOnce.slice(0, 2), [['2:PUT:a=1@2'], ['3:PUT:a=2@3 (was 1@2)']]);
  assert.deepEqual(heardAtOnce[3], ['5:DELETE:a=@5 (was 2@3)']);
});

test("a batch's events are built once: every read, by every listener, gets the same objects", () => {
  const store = new Harness();
  const batches: EventBatch[] = [];
  store.machine.subscribe((batch) => batches.push(batch));
  store.machine.subscribe((batch) => batches.push(batch));
  store.put('k', 'v');
  assert.equal(batches.length, 2);
  assert.equal(batches[0], batches[1]);
  const events = batches[0]!.events;
  assert.equal(batches[1]!.events, events);
  assert.deepEqual(plain(events[0]!.kv), { key: 'k', value: 'v', create: 2, mod: 2, version: 1, lease: 0n });
});
