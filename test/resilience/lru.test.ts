import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BoundedLru } from '../../src/resilience/lru.js';

test('a hit on the newest key keeps the order; a hit on an older key makes it newest', () => {
  const lru = new BoundedLru<number>(3, () => false, true);
  for (const key of ['a', 'b', 'c']) lru.get(key, () => 0);
  lru.get('c', () => 1);
  lru.get('a', () => 1);
  lru.get('d', () => 0);
  assert.deepEqual([...lru.keys()], ['c', 'a', 'd']);
  lru.delete('d');
  lru.get('c', () => 1);
  assert.deepEqual([...lru.keys()], ['a', 'c']);
});

test('the recency order matches a plain move-to-end reference under any sequence of hits, inserts and deletes', () => {
  const operation = fc.record({ kind: fc.constantFrom('get', 'get', 'delete'), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') });
  fc.assert(fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
    const lru = new BoundedLru<number>(3, () => false, true);
    const reference: string[] = [];
    for (const { kind, key } of operations) {
      const at = reference.indexOf(key);
      if (at !== -1) reference.splice(at, 1);
      if (kind === 'delete') {
        lru.delete(key);
        continue;
      }
      if (at === -1 && reference.length >= 3) reference.shift();
      reference.push(key);
      lru.get(key, () => 0);
    }
    assert.deepEqual([...lru.keys()], reference);
  }));
});
