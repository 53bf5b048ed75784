import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ByteString } from '../../src/store/bytes.js';
import { KeyIndex } from '../../src/store/key-index.js';
import { KvRecord } from '../../src/store/record.js';
import { upperBoundByMain } from '../../src/store/revision.js';

/**
 * KeyIndex holds a lone record directly and an array from the second on;
 * whichever form it is in, it must answer as the plain array of records
 * (the reference here) does, through pushes, pops and compactions.
 */
const KEY = 'k' as ByteString;
const step = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), tombstone: fc.boolean(), gap: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('pop' as const) }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }),
);

function record(main: number, tombstone: boolean): KvRecord {
  return new KvRecord(KEY, main, 0, (tombstone ? '' : `v${main}`) as ByteString, tombstone ? 0 : 1, tombstone ? 0 : 1, 0n);
}

function referenceCompact(records: KvRecord[], revision: number): void {
  const position = upperBoundByMain(records, revision) - 1;
  if (position < 0) return;
  const visible = records[position]!;
  const keepFrom = visible.tombstone && visible.main < revision ? position + 1 : position;
  records.splice(0, keepFrom);
}

test('KeyIndex answers as the plain array of its records through pushes, pops and compactions', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(step, { maxLength: 60 }), (firstTombstone, steps) => {
      let main = 1;
      const first = record(main, firstTombstone);
      const index = new KeyIndex(first);
      const reference = [first];
      for (const each of steps) {
        if (each.kind === 'push') {
          main += each.gap;
          const next = record(main, each.tombstone);
          index.push(next);
          reference.push(next);
        } else if (each.kind === 'pop') {
          if (reference.length === 0) continue;
          assert.equal(index.pop(), reference.pop());
        } else {
          // Up to 2 past the newest record: a compaction at a later revision than the key's last write removes a lone tombstone.
          const revision = Math.max(1, main + 2 - each.back);
          referenceCompact(reference, revision);
          assert.equal(index.compact(revision), reference.length === 0);
        }
        assert.equal(index.count, reference.length);
        assert.deepEqual(index.toArray(), reference);
        assert.equal(index.first(), reference[0]);
        assert.equal(index.latest(), reference.at(-1));
        for (let position = 0; position <= reference.length; position++) assert.equal(index.recordAt(position), reference[position]);
        for (const held of reference) assert.equal(index.before(held), reference[reference.indexOf(held) - 1]);
        for (let revision = 0; revision <= main + 1; revision++) {
          const visible = reference[upperBoundByMain(reference, revision) - 1];
          assert.equal(index.at(revision), visible === undefined || visible.tombstone ? undefined : visible);
        }
      }
    }),
  );
});

test('a lone record (a KeyEntry) answers every read as a KeyIndex of that one record does', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.integer({ min: 0, max: 25 }), (main, tombstone, revision) => {
      const lone = record(main, tombstone);
      const index = new KeyIndex(lone);
      assert.equal(lone.count, index.count);
      assert.equal(lone.at(revision), index.at(revision));
      assert.equal(lone.latest(), index.latest());
      assert.equal(lone.first(), index.first());
      for (const position of [0, 1]) assert.equal(lone.recordAt(position), index.recordAt(position));
      assert.deepEqual(lone.toArray(), index.toArray());
      assert.equal(lone.before(lone), index.before(lone));
      // compact: the record never changes; it says whether the key can go, as the index does once compacted.
      assert.equal(lone.compact(revision), index.compact(revision));
      assert.equal(lone.count, 1);
    }),
    { numRuns: 500 },
  );
});
