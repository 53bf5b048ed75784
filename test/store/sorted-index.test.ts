import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ByteString } from '../../src/store/bytes.js';
import { SortedIndex } from '../../src/store/sorted-index.js';
import { INDEX_CHUNK_ENTRIES_MAX } from '../../src/store/limits.js';

const key = fc.string({ unit: fc.constantFrom('\0', 'a', 'b', '\xff'), maxLength: 5 }).map((text) => text as ByteString);
const action = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), key }),
  fc.record({ kind: fc.constant('remove' as const), key }),
  fc.record({ kind: fc.constant('scan' as const), start: key, end: fc.option(key, { nil: null }), stopAfter: fc.nat(20) }),
);

test('SortedIndex behaves as a sorted array under inserts, removes and bounded scans', () => {
  fc.assert(
    fc.property(fc.array(action, { maxLength: 2000 }), fc.boolean(), (actions, bulk) => {
      const reference = new Set<ByteString>();
      let index = new SortedIndex<{ key: ByteString }>();
      for (const step of actions) {
        if (step.kind === 'insert') {
          if (reference.has(step.key)) continue;
          reference.add(step.key);
          index.insert({ key: step.key });
        } else if (step.kind === 'remove') {
          assert.equal(index.remove(step.key), reference.delete(step.key));
        } else {
          const seen: ByteString[] = [];
          index.scan(step.start, step.end, (item) => seen.push(item.key) < step.stopAfter);
          const expected = [...reference].sort().filter((k) => k >= step.start && (step.end === null || k < step.end));
          assert.deepEqual(seen, expected.slice(0, Math.max(1, step.stopAfter)).slice(0, expected.length));
        }
        assert.equal(index.size, reference.size);
      }
      if (bulk) index = SortedIndex.fromSorted([...reference].sort().map((k) => ({ key: k })));
      const all: ByteString[] = [];
      index.scan('' as ByteString, null, (item) => all.push(item.key) > 0);
      assert.deepEqual(all, [...reference].sort());
    }),
    { numRuns: 100 },
  );
});

test('keys arriving at a chunk end fill chunks whole instead of leaving each half full', () => {
  const index = new SortedIndex<{ key: ByteString }>();
  const keys = Array.from({ length: 5_000 }, (_, i) => `k/${String(i).padStart(6, '0')}` as ByteString);
  for (const key of keys) index.insert({ key });
  assert.equal(index.chunks().length, Math.ceil(keys.length / INDEX_CHUNK_ENTRIES_MAX), 'every chunk but the last full');
  const seen: ByteString[] = [];
  index.scan('' as ByteString, null, (item) => seen.push(item.key) > 0);
  assert.deepEqual(seen, keys);
});

test('runs of ascending keys under many prefixes at once stay in order, with no run of tiny chunks', () => {
  const index = new SortedIndex<{ key: ByteString }>();
  const keys: ByteString[] = [];
  for (let i = 0; i < 20_000; i++) keys.push(`p${String(i % 64).padStart(2, '0')}/${String(i).padStart(6, '0')}` as ByteString);
  for (const key of keys) index.insert({ key });
  const seen: ByteString[] = [];
  index.scan('' as ByteString, null, (item) => seen.push(item.key) > 0);
  assert.deepEqual(seen, [...keys].sort());
  for (const chunk of index.chunks()) assert.ok(chunk.length >= 1 && chunk.length <= INDEX_CHUNK_ENTRIES_MAX);
  assert.ok(index.chunks().length <= Math.ceil(keys.length / (INDEX_CHUNK_ENTRIES_MAX / 2)) + 64, `${index.chunks().length} chunks`);
});

test('replace puts an item in the place of the one with its key, and refuses a key not held', () => {
  const index = SortedIndex.fromSorted(['a', 'b', 'c'].map((key) => ({ key: key as ByteString, version: 1 })));
  index.replace({ key: 'b' as ByteString, version: 2 });
  const seen: number[] = [];
  index.scan('' as ByteString, null, (item) => seen.push(item.version) > 0);
  assert.deepEqual(seen, [1, 2, 1]);
  assert.equal(index.size, 3);
  assert.throws(() => index.replace({ key: 'x' as ByteString, version: 1 }), /not present/);
});
