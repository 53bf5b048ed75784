import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteWriter } from '../../src/codec/index.js';
import { encodeHardState } from '../../src/storage/codec.js';
import type { LogRecord } from '../../src/storage/replay.js';
import { appendRecord, encodeBatch, encodeBatchParts, RecordType, REFERENCED_ENTRY_BYTES_MIN } from '../../src/storage/wal-format.js';

/**
 * encodeBatch writes an entry's data straight after its header, with the
 * payload CRC continued across the two parts, into a buffer sized once.
 * Its bytes must be the frames of the plain layout: each payload built
 * whole, then framed by appendRecord.
 */
function plainBatch(records: readonly LogRecord[], salt: number, batch: number): Uint8Array {
  const writer = new ByteWriter(64);
  records.forEach((record, position) => {
    const payload = new ByteWriter(64);
    if (record.kind === 'entry') payload.u64le(record.entry.term).u64le(record.entry.index).u8(record.entry.type).raw(record.entry.data);
    else if (record.kind === 'hardState') encodeHardState(payload, record.hardState);
    else payload.u64le(record.index).u64le(record.term);
    const type = record.kind === 'entry' ? RecordType.Entry : record.kind === 'hardState' ? RecordType.HardState : RecordType.SnapshotInstalled;
    appendRecord(writer, salt, type, payload.finish(), batch, position === records.length - 1);
  });
  return writer.finish();
}

const record: fc.Arbitrary<LogRecord> = fc.oneof(
  fc.record({
    kind: fc.constant('entry' as const),
    entry: fc.record({ term: fc.nat(1000), index: fc.nat(1_000_000), type: fc.constantFrom(0, 1), data: fc.uint8Array({ maxLength: 300 }) }),
  }),
  fc.record({ kind: fc.constant('hardState' as const), hardState: fc.record({ term: fc.nat(1000), vote: fc.constantFrom('', 'n1', 'member-2'), commit: fc.nat(1_000_000) }) }),
  fc.record({ kind: fc.constant('snapshotInstalled' as const), index: fc.nat(1_000_000), term: fc.nat(1000) }),
) as fc.Arbitrary<LogRecord>;

test('encodeBatch gives the bytes of each payload built whole and framed by appendRecord', () => {
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), fc.nat(), fc.nat(1_000_000), (records, salt, batch) => {
      assert.deepEqual(encodeBatch(records, salt, batch), plainBatch(records, salt, batch));
    }),
  );
});

test('encodeBatch frames a 1 MiB entry in one buffer of the batch size', () => {
  const data = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
  const records: LogRecord[] = [{ kind: 'hardState', hardState: { term: 2, vote: 'n1', commit: 9 } }, { kind: 'entry', entry: { term: 2, index: 10, type: 0, data } }];
  const bytes = encodeBatch(records, 12345, 3);
  assert.deepEqual(bytes, plainBatch(records, 12345, 3));
  assert.equal(bytes.byteLength, bytes.buffer.byteLength, 'no slack: the buffer was sized for the batch');
});

test('encodeBatchParts gives the bytes and record offsets of encodeBatch, with large entry data as the entries\' own bytes', () => {
  const sizes = fc.oneof(fc.nat(300), fc.constantFrom(REFERENCED_ENTRY_BYTES_MIN - 1, REFERENCED_ENTRY_BYTES_MIN, REFERENCED_ENTRY_BYTES_MIN + 3, 200_001));
  const withLarge: fc.Arbitrary<LogRecord> = fc.oneof(
    record,
    fc.record({ term: fc.nat(1000), index: fc.nat(1_000_000), type: fc.constantFrom(0, 1), size: sizes, fill: fc.nat(255) }).map(
      ({ size, fill, ...entry }): LogRecord => ({ kind: 'entry', entry: { ...entry, type: entry.type as 0 | 1, data: new Uint8Array(size).fill(fill) } }),
    ),
  );
  fc.assert(
    fc.property(fc.array(withLarge, { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat(1_000_000), (records, salt, batch) => {
      const wholeOffsets: number[] = [];
      const partsOffsets: number[] = [];
      const whole = encodeBatch(records, salt, batch, wholeOffsets);
      const { parts, bytes } = encodeBatchParts(records, salt, batch, partsOffsets);
      assert.equal(bytes, whole.length);
      assert.deepEqual(Buffer.concat(parts), Buffer.from(whole));
      assert.deepEqual(partsOffsets, wholeOffsets);
      const large = records.flatMap((r) => (r.kind === 'entry' && r.entry.data.length >= REFERENCED_ENTRY_BYTES_MIN ? [r.entry.data] : []));
      assert.deepEqual(
        parts.filter((part) => large.includes(part)),
        large,
        'each large entry\'s data is a part, in order, not a copy',
      );
      assert.equal(parts.length, 2 * large.length + 1, 'the frames between them are one part each');
    }),
    { numRuns: 150 },
  );
});
