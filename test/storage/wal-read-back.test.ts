import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/raft/types.js';
import { StorageUsageError, WalCorruptError } from '../../src/storage/errors.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { type FileSystem, nodeFileSystem } from '../../src/storage/file-system.js';
import type { LogRecord } from '../../src/storage/replay.js';
import { Wal } from '../../src/storage/wal.js';

/**
 * Wal.readEntry and FileStorage.entrySource: entries read back from their
 * records in real segment files, after sync and async appends, across
 * segment rotations, after a restart (locations from the scan), after a
 * new leader's entries replaced a suffix, and with a damaged record.
 */

const SEGMENT_BYTES = 64 * 1024;

function entry(index: number, term = 1, size = 100): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { term, index, type: 0, data };
}

function record(value: Entry): LogRecord {
  return { kind: 'entry', entry: value };
}

function withDir(run: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-wal-read-back-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function open(dir: string, fileSystem: FileSystem = nodeFileSystem): Wal {
  const { wal, contents } = Wal.open(dir, { fileSystem, segmentSizeBytes: SEGMENT_BYTES, spareSegments: false }, 1);
  const last = contents.records.reduce((max, r) => (r.kind === 'entry' ? r.entry.index : max), 0);
  wal.setRecoveredState(last, undefined);
  return wal;
}

function assertSame(actual: Entry, expected: Entry): void {
  assert.equal(actual.index, expected.index);
  assert.equal(actual.term, expected.term);
  assert.equal(actual.type, expected.type);
  assert.deepEqual(Buffer.from(actual.data), Buffer.from(expected.data));
}

test(
  'entries appended synchronously and asynchronously read back whole, across segment rotations',
  withDir(async (dir) => {
    const wal = open(dir);
    const written: Entry[] = [];
    // 3 KiB entries in 64 KiB segments: several rotations.
    for (let index = 1; index <= 40; index++) {
      const value = entry(index, 1, 3000 + index);
      written.push(value);
      wal.append([record(value)], index % 5 === 0, index);
    }
    for (let index = 41; index <= 80; index += 4) {
      const batch = [0, 1, 2, 3].map((offset) => entry(index + offset, 2, 2500));
      written.push(...batch);
      await wal.appendAsync(batch.map(record), true, index + 3);
    }
    assert.ok(wal.segmentNames().length >= 3, `expected rotations, got ${wal.segmentNames().join(', ')}`);
    for (const value of written) {
      assert.ok(wal.canReadEntry(value.index));
      assertSame(wal.readEntry(value.index), value);
    }
    assert.equal(wal.canReadEntry(81), false);
    assert.throws(() => wal.readEntry(81), StorageUsageError);
    wal.close();
  }),
);

test(
  'after a restart the scan tells where each recovered entry is',
  withDir((dir) => {
    const first = open(dir);
    const written = Array.from({ length: 30 }, (_, offset) => entry(offset + 1, 1, 4000));
    for (const value of written) first.append([record(value)], true, value.index);
    first.close();
    const again = open(dir);
    for (const value of written) assertSame(again.readEntry(value.index), value);
    again.close();
  }),
);

test(
  'a suffix replaced by a new leader reads back as the new entries, and later indexes are forgotten',
  withDir((dir) => {
    const wal = open(dir);
    for (let index = 1; index <= 10; index++) wal.append([record(entry(index, 1))], true, index);
    const replacement = [entry(6, 2, 50), entry(7, 2, 60)];
    wal.append(replacement.map(record), true, 7);
    assertSame(wal.readEntry(5), entry(5, 1));
    assertSame(wal.readEntry(6), replacement[0]!);
    assertSame(wal.readEntry(7), replacement[1]!);
    assert.equal(wal.canReadEntry(8), false, 'entry 8 was replaced away');
    wal.close();
    // The scan at restart applies the same rule.
    const again = open(dir);
    assertSame(again.readEntry(6), replacement[0]!);
    assert.equal(again.canReadEntry(8), false);
    again.close();
  }),
);

test(
  'a damaged record read back is a WalCorruptError naming the segment, not wrong data',
  withDir((dir) => {
    const wal = open(dir);
    const marker = new TextEncoder().encode('entry three, unique in the file');
    for (let index = 1; index <= 5; index++) wal.append([record(index === 3 ? { term: 1, index, type: 0, data: marker } : entry(index, 1, 1000))], true, index);
    const segment = join(dir, wal.segmentNames()[0]!);
    // Find entry 3's data in the file and flip one of its bytes.
    const probe = marker;
    const fd = openSync(segment, 'r+');
    try {
      const bytes = Buffer.alloc(SEGMENT_BYTES);
      readSync(fd, bytes, 0, bytes.length, 0);
      const at = bytes.indexOf(Buffer.from(probe));
      assert.ok(at > 0);
      writeSync(fd, Buffer.from([bytes[at + 8]! ^ 0x40]), 0, 1, at + 8);
    } finally {
      closeSync(fd);
    }
    assert.throws(
      () => wal.readEntry(3),
      (error: unknown) => error instanceof WalCorruptError && error.message.includes(wal.segmentNames()[0]!),
    );
    assertSame(wal.readEntry(4), entry(4, 1, 1000));
    wal.close();
  }),
);

test(
  'released entries cannot be read back, and the read-back file of a released segment is closed',
  withDir(async (dir) => {
    const closed: number[] = [];
    const counting: FileSystem = { ...nodeFileSystem, closeSync: (fd) => (closed.push(fd), nodeFileSystem.closeSync(fd)) };
    const wal = open(dir, counting);
    for (let index = 1; index <= 60; index++) wal.append([record(entry(index, 1, 3000))], true, index);
    assert.ok(wal.segmentNames().length >= 3);
    wal.readEntry(1); // opens the first segment for reading
    const closedBefore = closed.length;
    await wal.releaseToAsync(30);
    assert.ok(closed.length > closedBefore, 'the first segment\'s read-back file stayed open');
    assert.equal(wal.canReadEntry(30), false);
    assertSame(wal.readEntry(31), entry(31, 1, 3000));
    wal.close();
  }),
);

test(
  'FileStorage offers an entry source over its WAL, and none where the file system cannot read ranges',
  withDir(async (dir) => {
    const storage = new FileStorage(join(dir, 'a'), { segmentSizeBytes: SEGMENT_BYTES });
    storage.load();
    const written = Array.from({ length: 8 }, (_, offset) => entry(offset + 1, 1, 500));
    await storage.saveAsync({ entries: written, hardState: { term: 1, vote: '', commit: 8 } }, true);
    const source = storage.entrySource();
    assert.ok(source !== undefined);
    for (const value of written) {
      assert.ok(source.canRead(value.index));
      assertSame(source.entry(value.index), value);
    }
    storage.close();
    const { readSync: _omitted, ...withoutReads } = nodeFileSystem;
    const blind = new FileStorage(join(dir, 'b'), { segmentSizeBytes: SEGMENT_BYTES, fileSystem: withoutReads });
    blind.load();
    assert.equal(blind.entrySource(), undefined);
    blind.close();
  }),
);
