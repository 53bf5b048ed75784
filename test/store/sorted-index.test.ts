import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ByteString } from '../../src/store/bytes.js';
import { SortedIndex } from '../../src/store/sorted-index.js';

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
