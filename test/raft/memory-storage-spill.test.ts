import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompactedError } from '../../src/raft/errors.js';
import { type EntrySource, MemoryStorage, entrySizeBytes } from '../../src/raft/storage.js';
import type { Entry } from '../../src/raft/types.js';

/**
 * MemoryStorage.spill: entries' data let go of and read back from an
 * EntrySource. The source here is a map of the entries as they were
 * appended (the WAL's own read-back is in test/storage/wal-read-back.test.ts),
 * counting its reads, so the tests see which entries were read back.
 */

function entry(index: number, term: number, size: number): Entry {
  return { index, term, type: 0, data: new Uint8Array(size).fill(index & 0xff) };
}

class RecordingSource implements EntrySource {
  readonly written = new Map<number, Entry>();
  reads: number[] = [];
  canRead(index: number): boolean {
    return this.written.has(index);
  }
  entry(index: number): Entry {
    this.reads.push(index);
    const found = this.written.get(index);
    if (found === undefined) throw new Error(`no entry ${index}`);
    return found;
  }
  append(entries: readonly Entry[]): void {
    for (const value of entries) {
      for (const index of [...this.written.keys()]) if (index >= value.index) this.written.delete(index);
      this.written.set(value.index, value);
    }
  }
}

function storageWith(entries: readonly Entry[]): { storage: MemoryStorage; source: RecordingSource } {
  const storage = new MemoryStorage();
  const source = new RecordingSource();
  storage.setEntrySource(source);
  source.append(entries);
  storage.append(entries);
  return { storage, source };
}

test('spill lets go of the oldest entries down to the byte budget and never past `through`', () => {
  const entries = Array.from({ length: 10 }, (_, offset) => entry(offset + 1, 1, 84)); // 100 bytes each with the header
  const { storage } = storageWith(entries);
  assert.equal(storage.heldBytes, 1000);
  assert.equal(storage.spill(4, 0), 4, 'only through 4');
  assert.equal(storage.spilledThrough, 4);
  assert.equal(storage.heldBytes, 600);
  assert.equal(storage.spill(10, 300), 3, 'down to 300 bytes held: entries 5-7 go');
  assert.equal(storage.heldBytes, 300);
  assert.equal(storage.spill(10, 300), 0);
  assert.equal(storage.spill(10, 250), 1, 'at most 250: entry 8 goes too');
  assert.equal(storage.heldBytes, 200);
  for (let index = 1; index <= 10; index++) assert.equal(storage.entryBytes(index), 100);
  assert.equal(storage.term(3), 1);
});

test('entries() reads spilled entries back, and no more of them than maxBytes lets through', () => {
  const entries = Array.from({ length: 10 }, (_, offset) => entry(offset + 1, 1, 84));
  const { storage, source } = storageWith(entries);
  storage.spill(6, 0);
  assert.deepEqual(storage.entries(2, 9, Number.MAX_SAFE_INTEGER), entries.slice(1, 8));
  assert.deepEqual(source.reads, [2, 3, 4, 5, 6]);
  source.reads = [];
  assert.deepEqual(storage.entries(3, 11, 250), entries.slice(2, 4), 'two entries of 100 bytes fit in 250');
  assert.deepEqual(source.reads, [3, 4], 'the third was not read to find it does not fit');
  source.reads = [];
  assert.deepEqual(storage.entries(5, 11, 10), [entries[4]], 'at least one entry, however small maxBytes');
  assert.deepEqual(source.reads, [5]);
  source.reads = [];
  storage.entries(7, 11, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(source.reads, [], 'held entries are not read back');
});

test('compact and applySnapshot drop spilled entries with the rest; the held byte count follows', () => {
  const entries = Array.from({ length: 10 }, (_, offset) => entry(offset + 1, 1, 84));
  const { storage } = storageWith(entries);
  storage.spill(4, 0);
  storage.compact(6);
  assert.equal(storage.heldBytes, 400);
  assert.throws(() => storage.entries(5, 7, Number.MAX_SAFE_INTEGER), CompactedError);
  assert.deepEqual(storage.entries(7, 11, Number.MAX_SAFE_INTEGER), entries.slice(6));
  storage.applySnapshot({ metadata: { index: 20, term: 2, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) });
  assert.equal(storage.heldBytes, 0);
  assert.ok(storage.spilledThrough < storage.firstIndex());
});

test('a replaced suffix adjusts the held bytes, and replacing a spilled entry is refused (it was applied, so committed)', () => {
  const entries = Array.from({ length: 6 }, (_, offset) => entry(offset + 1, 1, 84));
  const { storage, source } = storageWith(entries);
  storage.spill(2, 0);
  const replacement = [entry(4, 2, 184)];
  source.append(replacement);
  storage.append(replacement);
  assert.equal(storage.lastIndex(), 4);
  assert.equal(storage.heldBytes, 100 + 200);
  assert.throws(() => storage.append([entry(2, 3, 10)]), /replaces spilled entries/);
});

test('spill stops at an entry the source cannot read back, and does nothing without a source', () => {
  const entries = Array.from({ length: 5 }, (_, offset) => entry(offset + 1, 1, 84));
  const { storage, source } = storageWith(entries);
  source.written.delete(3);
  assert.equal(storage.spill(5, 0), 2);
  assert.equal(storage.spilledThrough, 2);
  const plain = new MemoryStorage();
  plain.append(entries);
  assert.equal(plain.spill(5, 0), 0);
  assert.equal(plain.heldBytes, 500);
});

test('a read-back entry that does not match the log is an assertion, not data handed to the core', () => {
  const entries = Array.from({ length: 3 }, (_, offset) => entry(offset + 1, 1, 84));
  const { storage, source } = storageWith(entries);
  storage.spill(3, 0);
  source.written.set(2, entry(2, 9, 84));
  assert.throws(() => storage.entries(1, 4, Number.MAX_SAFE_INTEGER), /read back does not match/);
});

test('property: with spills at any point, entries(), term() and entryBytes() answer as a storage that holds everything', () => {
  type Op =
    | { kind: 'append'; count: number; size: number; back: number }
    | { kind: 'spill'; ahead: number; keep: number }
    | { kind: 'compact'; ahead: number }
    | { kind: 'read'; from: number; span: number; maxBytes: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 6 }), size: fc.integer({ min: 0, max: 300 }), back: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ kind: fc.constant('spill' as const), ahead: fc.integer({ min: 0, max: 20 }), keep: fc.integer({ min: 0, max: 1500 }) }),
    fc.record({ kind: fc.constant('compact' as const), ahead: fc.integer({ min: 0, max: 10 }) }),
    fc.record({ kind: fc.constant('read' as const), from: fc.integer({ min: 0, max: 30 }), span: fc.integer({ min: 1, max: 30 }), maxBytes: fc.integer({ min: 1, max: 3000 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const reference = new MemoryStorage();
      const { storage, source } = storageWith([]);
      let term = 1;
      let applied = 0; // what a member would have applied: spill never passes it, appends never replace at or below it
      for (const step of ops) {
        const first = storage.firstIndex();
        const last = storage.lastIndex();
        if (step.kind === 'append') {
          const start = Math.max(applied + 1, first, last + 1 - step.back);
          term++;
          const batch = Array.from({ length: step.count }, (_, offset) => entry(start + offset, term, step.size));
          source.append(batch);
          storage.append(batch);
          reference.append(batch);
          applied = Math.min(storage.lastIndex(), applied + step.count);
        } else if (step.kind === 'spill') {
          storage.spill(Math.min(applied, first + step.ahead), step.keep);
        } else if (step.kind === 'compact') {
          const to = Math.min(applied, first + step.ahead);
          if (to >= first) {
            storage.compact(to);
            reference.compact(to);
          }
        } else if (last >= first) {
          const lo = first + (step.from % (last - first + 1));
          const hi = Math.min(last + 1, lo + step.span);
          assert.deepEqual(storage.entries(lo, hi, step.maxBytes), reference.entries(lo, hi, step.maxBytes));
        }
        assert.equal(storage.firstIndex(), reference.firstIndex());
        assert.equal(storage.lastIndex(), reference.lastIndex());
        let held = 0;
        for (let index = storage.firstIndex(); index <= storage.lastIndex(); index++) {
          assert.equal(storage.term(index), reference.term(index));
          const bytes = entrySizeBytes(reference.entries(index, index + 1, Number.MAX_SAFE_INTEGER)[0]!);
          assert.equal(storage.entryBytes(index), bytes);
          if (index > storage.spilledThrough) held += bytes;
        }
        assert.equal(storage.heldBytes, held);
      }
    }),
    { numRuns: 300 },
  );
});
