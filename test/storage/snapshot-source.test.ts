/**
 * A snapshot's data left in its file (snapshot-source.ts): checked without
 * being kept, read whole or chunk by chunk with the file's checksum checked
 * at the last byte, readable to the end after the file is deleted, and a
 * file damaged after its check fails the read that reaches the end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import type { Snapshot, SnapshotSource } from '../../src/raft/types.js';
import { checkSnapshotFile, FileSnapshotSource, FileStorage, type FileSystem, nodeFileSystem, readSnapshotData, StorageError } from '../../src/storage/index.js';
import { type SnapshotFile, SnapshotFiles, snapshotFileFor } from '../../src/storage/snapshot-files.js';
import { type RangeReadFileSystem, readsRanges } from '../../src/storage/snapshot-source.js';
import { entries } from './conformance.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-snapshot-source-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fileSystem = rangeReading(nodeFileSystem);

function rangeReading(candidate: FileSystem): RangeReadFileSystem {
  assert.ok(readsRanges(candidate), 'the real file system reads ranges');
  return candidate;
}

function snapshotOf(index: number, sizeBytes: number): Snapshot & { readonly data: Uint8Array } {
  const data = Uint8Array.from({ length: sizeBytes }, (_, i) => (i * 131 + index * 7) & 0xff);
  return { metadata: { index, term: 3, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data };
}

/** A snapshot saved by the synchronous writer, then checked: the checked snapshot reads its file on demand. */
async function savedAndChecked(sizeBytes: number): Promise<{ snapshot: Snapshot & { readonly data: Uint8Array }; file: SnapshotFile; checked: Snapshot }> {
  const files = new SnapshotFiles(dir, fileSystem);
  files.prepare();
  const snapshot = snapshotOf(50, sizeBytes);
  const file = files.save(snapshot);
  const checked = await checkSnapshotFile(fileSystem, dir, file);
  assert.ok(typeof checked !== 'string', `unusable: ${String(checked)}`);
  return { snapshot, file, checked };
}

async function readInChunks(source: SnapshotSource, chunkBytes: number): Promise<Uint8Array[]> {
  const reader = await source.open();
  const chunks: Uint8Array[] = [];
  try {
    for (let chunk = await reader.next(chunkBytes); chunk.length > 0; chunk = await reader.next(chunkBytes)) chunks.push(chunk);
  } finally {
    await reader.close();
  }
  return chunks;
}

it('a checked file gives the metadata and the data as a source: read whole and in chunks it is the bytes saved', async () => {
  const { snapshot, checked } = await savedAndChecked(5 * 1024 * 1024 + 17);
  assert.deepEqual(checked.metadata, snapshot.metadata);
  assert.ok(checked.data instanceof FileSnapshotSource);
  assert.equal(checked.data.length, snapshot.data.length);
  assert.deepEqual(await readSnapshotData(checked.data), snapshot.data);
  const chunks = await readInChunks(checked.data, 1_000_003);
  assert.equal(chunks.length, Math.ceil(snapshot.data.length / 1_000_003));
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(snapshot.data));
});

it('an empty data section checks and reads as empty', async () => {
  const { checked } = await savedAndChecked(0);
  assert.equal(checked.data.length, 0);
  assert.deepEqual(await readSnapshotData(checked.data), new Uint8Array(0));
  assert.deepEqual(await readInChunks(checked.data as SnapshotSource, 4096), []);
});

it('a damaged file is unusable with the reason the whole-file decoder gives', async () => {
  const files = new SnapshotFiles(dir, fileSystem);
  files.prepare();
  const file = files.save(snapshotOf(50, 100_000));
  const path = join(dir, file.name);
  const bytes = readFileSync(path);
  const cases: Array<[string, Uint8Array]> = [
    ['checksum mismatch', Buffer.concat([bytes.subarray(0, 5000), Buffer.from([bytes[5000]! ^ 1]), bytes.subarray(5001)])],
    ['shorter than its checksum', bytes.subarray(0, 3)],
    ['checksum mismatch', bytes.subarray(0, bytes.length - 10)],
  ];
  for (const [reason, damaged] of cases) {
    writeFileSync(path, damaged);
    assert.equal(await checkSnapshotFile(fileSystem, dir, file), reason);
    assert.equal(files.load(file), reason, 'the synchronous load agrees');
  }
  writeFileSync(path, bytes);
  assert.match(String(await checkSnapshotFile(fileSystem, dir, { ...file, index: 51 })), /^undecodable: holds 3\/50/);
  assert.match(String(await checkSnapshotFile(fileSystem, dir, snapshotFileFor({ index: 9, term: 9, confState: { voters: [], learners: [] } }))), /^unreadable: /);
});

it('a file damaged after its check fails the read that reaches the end, whole or in chunks', async () => {
  const { file, checked } = await savedAndChecked(300_000);
  const fd = openSync(join(dir, file.name), 'r+');
  writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, 200_000);
  closeSync(fd);
  const corrupt = (error: unknown): boolean => StorageError.is(error) && error.code === 'KEEL_STORAGE_SNAPSHOT_CORRUPT';
  await assert.rejects(readSnapshotData(checked.data), corrupt);
  const reader = await (checked.data as SnapshotSource).open();
  try {
    assert.equal((await reader.next(200_000)).length, 200_000, 'the bytes before the end are handed out: only the end can know');
    await assert.rejects(reader.next(200_000), corrupt);
  } finally {
    await reader.close();
  }
});

it('a reader opened before the file is deleted reads to the end; one opened after fails with a typed error', async () => {
  const { snapshot, file, checked } = await savedAndChecked(2 * 1024 * 1024);
  const source = checked.data as SnapshotSource;
  const reader = await source.open();
  unlinkSync(join(dir, file.name));
  const chunks: Uint8Array[] = [];
  for (let chunk = await reader.next(300_000); chunk.length > 0; chunk = await reader.next(300_000)) chunks.push(chunk);
  await reader.close();
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(snapshot.data));
  await assert.rejects(source.open(), (error: unknown) => StorageError.is(error) && error.code === 'KEEL_STORAGE_IO');
});

it('FileStorage recovers a snapshot as its file, and it restores the same bytes after a restart', async () => {
  const storage = new FileStorage(dir, { segmentSizeBytes: 64 * 1024 });
  storage.load();
  storage.save({ entries: entries(1, 60, 3), hardState: { term: 3, vote: 'a', commit: 60 } }, true);
  const snapshot = snapshotOf(50, 1_234_567);
  storage.saveSnapshot(snapshot);
  storage.close();
  const again = new FileStorage(dir, { segmentSizeBytes: 64 * 1024 });
  try {
    const recovered = await again.loadAsync();
    assert.deepEqual(recovered.snapshot.metadata, snapshot.metadata);
    assert.ok(recovered.snapshot.data instanceof FileSnapshotSource, 'recovery keeps the data in the file');
    assert.deepEqual(await readSnapshotData(recovered.snapshot.data), snapshot.data);
    assert.deepEqual(recovered.entries.map((entry) => entry.index), Array.from({ length: 10 }, (_, i) => 51 + i));
  } finally {
    again.close();
  }
});

it("FileStorage hands a leader's snapshot it installed back as its file, once, for the raft core to hold instead of the bytes", async () => {
  const storage = new FileStorage(dir, { segmentSizeBytes: 64 * 1024 });
  try {
    storage.load();
    storage.save({ entries: entries(1, 40, 2), hardState: { term: 2, vote: 'a', commit: 40 } }, true);
    const snapshot = snapshotOf(100, 700_001);
    assert.equal(storage.held(snapshot), snapshot, 'nothing installed yet: the argument back');
    await storage.saveAsync({ entries: [], hardState: { term: 3, vote: '', commit: 100 }, snapshot }, true);
    const held = storage.held(snapshot);
    assert.deepEqual(held.metadata, snapshot.metadata);
    assert.ok(held.data instanceof FileSnapshotSource, 'held as its file');
    assert.deepEqual(await readSnapshotData(held.data), snapshot.data);
    assert.equal(storage.held(snapshot), snapshot, 'handed over once');
    const newer = snapshotOf(120, 10);
    await storage.saveAsync({ entries: [], hardState: { term: 3, vote: '', commit: 120 }, snapshot: newer }, true);
    assert.equal(storage.held(snapshot), snapshot, 'another snapshot: the argument back');
    assert.ok(storage.held(newer).data instanceof FileSnapshotSource);
  } finally {
    storage.close();
  }
});
