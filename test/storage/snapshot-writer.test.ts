/**
 * The member's streamed snapshot (FileStorage.saveSnapshotStreamed): the
 * same file as a synchronous save, its data left in the file and read from
 * it on demand; abandoned or failed, it
 * leaves no temporary file and the older snapshot in place.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import type { Snapshot } from '../../src/raft/types.js';
import { FileSnapshotSource, FileStorage, nodeFileSystem, readSnapshotData, StorageError, type FileSystem } from '../../src/storage/index.js';
import { SNAPSHOT_SYNC_EVERY_BYTES } from '../../src/storage/limits.js';
import { entries } from './conformance.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-snapshot-writer-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function snapshotOf(index: number, sizeBytes: number): Snapshot & { readonly data: Uint8Array } {
  const data = Uint8Array.from({ length: sizeBytes }, (_, i) => (i * 31 + index) & 0xff);
  return { metadata: { index, term: 2, confState: { voters: ['a', 'b', 'c'], learners: [] } }, data };
}

function chunksOf(data: Uint8Array, chunkBytes: number): { next(): Uint8Array | undefined } {
  let at = 0;
  return {
    next: () => {
      if (at >= data.length) return undefined;
      const chunk = data.subarray(at, at + chunkBytes);
      at += chunkBytes;
      return chunk;
    },
  };
}

function openWithLog(path: string, fileSystem?: FileSystem): FileStorage {
  const storage = new FileStorage(path, { segmentSizeBytes: 64 * 1024, ...(fileSystem ? { fileSystem } : {}) });
  const recovered = storage.load();
  if (recovered.entries.length === 0 && recovered.snapshot.metadata.index === 0) storage.save({ entries: entries(1, 40, 2), hardState: { term: 2, vote: 'a', commit: 40 } }, true);
  return storage;
}

it('writes the same file a synchronous save writes, returns its data left in the file, and load() returns it', async () => {
  const snapshot = snapshotOf(20, 300_001);
  const streamedDir = join(dir, 'streamed');
  const syncDir = join(dir, 'sync');
  const streamed = openWithLog(streamedDir);
  const readBack = await streamed.saveSnapshotStreamed(snapshot.metadata, chunksOf(snapshot.data, 65_536));
  assert.deepEqual(readBack.metadata, snapshot.metadata);
  assert.ok(readBack.data instanceof FileSnapshotSource, 'the data is not held in memory');
  assert.equal(readBack.data.length, snapshot.data.length);
  assert.deepEqual(await readSnapshotData(readBack.data), snapshot.data);
  streamed.close();
  const sync = openWithLog(syncDir);
  sync.saveSnapshot(snapshot);
  sync.close();
  const name = 'snap-0000000000000002-0000000000000014.snap';
  assert.deepEqual(readFileSync(join(streamedDir, 'snap', name)), readFileSync(join(syncDir, 'snap', name)));
  const again = new FileStorage(streamedDir, { segmentSizeBytes: 64 * 1024 });
  const recovered = again.load();
  assert.equal(recovered.snapshot.metadata.index, 20);
  assert.deepEqual(recovered.snapshot.data, snapshot.data);
  again.close();
});

it('an aborted save removes its temporary file, rejects with KEEL_STORAGE_SNAPSHOT_ABORTED and leaves the older snapshot', async () => {
  const storage = openWithLog(dir);
  storage.saveSnapshot(snapshotOf(10, 1000));
  const abort = new AbortController();
  const data = snapshotOf(30, 100_000).data;
  const chunks = chunksOf(data, 10_000);
  let served = 0;
  const counted = {
    next: () => {
      if (++served === 3) abort.abort(); // mid-stream, as a member stopping
      return chunks.next();
    },
  };
  await assert.rejects(storage.saveSnapshotStreamed(snapshotOf(30, 0).metadata, counted, abort.signal), (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_SNAPSHOT_ABORTED');
  assert.deepEqual(readdirSync(join(dir, 'snap')), ['snap-0000000000000002-000000000000000a.snap']);
  storage.close();
  const again = new FileStorage(dir, { segmentSizeBytes: 64 * 1024 });
  assert.equal(again.load().snapshot.metadata.index, 10);
  again.close();
});

it('syncs the file as it goes, so no flush of it is much larger than SNAPSHOT_SYNC_EVERY_BYTES', async () => {
  // The real file system, with the snapshot file's writes and syncs counted (not a mock: every call goes through).
  let snapshotFd = -1;
  let unsynced = 0;
  let largestFlush = 0;
  let syncs = 0;
  const flushed = (fd: number): void => {
    if (fd !== snapshotFd) return;
    largestFlush = Math.max(largestFlush, unsynced);
    unsynced = 0;
    syncs++;
  };
  const counting: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      const fd = await nodeFileSystem.open!(path, flags);
      if (path.endsWith('.snap.tmp')) snapshotFd = fd;
      return fd;
    },
    write: async (fd, buffer, offset, length, position) => {
      const written = await nodeFileSystem.write!(fd, buffer, offset, length, position);
      if (fd === snapshotFd) unsynced += written;
      return written;
    },
    fdatasync: async (fd) => {
      await nodeFileSystem.fdatasync!(fd);
      flushed(fd);
    },
    fsync: async (fd) => {
      await nodeFileSystem.fsync!(fd);
      flushed(fd);
    },
  };
  const storage = openWithLog(dir, counting);
  const chunkBytes = 1024 * 1024;
  const snapshot = snapshotOf(20, 5 * SNAPSHOT_SYNC_EVERY_BYTES + 12_345);
  const readBack = await storage.saveSnapshotStreamed(snapshot.metadata, chunksOf(snapshot.data, chunkBytes));
  assert.deepEqual(await readSnapshotData(readBack.data), snapshot.data);
  assert.ok(syncs >= 6, `${syncs} syncs of the snapshot file`);
  assert.ok(largestFlush <= SNAPSHOT_SYNC_EVERY_BYTES + chunkBytes, `a flush of ${largestFlush} bytes`);
  storage.close();
});

it('a failed write rejects with a typed error and leaves no temporary file', async () => {
  let writes = 0;
  const failing: FileSystem = {
    ...nodeFileSystem,
    write: (fd, buffer, offset, length, position) => {
      if (++writes === 2) return Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
      return nodeFileSystem.write!(fd, buffer, offset, length, position);
    },
  };
  const storage = openWithLog(dir, failing);
  writes = 0;
  const snapshot = snapshotOf(20, 50_000);
  await assert.rejects(storage.saveSnapshotStreamed(snapshot.metadata, chunksOf(snapshot.data, 10_000)), (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_IO');
  assert.deepEqual(readdirSync(join(dir, 'snap')), []);
  storage.close();
});

it('refuses a second streamed save while one runs, and one beyond the log', async () => {
  const storage = openWithLog(dir);
  const snapshot = snapshotOf(20, 50_000);
  const first = storage.saveSnapshotStreamed(snapshot.metadata, chunksOf(snapshot.data, 10_000));
  await assert.rejects(storage.saveSnapshotStreamed(snapshotOf(21, 0).metadata, chunksOf(new Uint8Array(1), 1)), (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_USAGE');
  await first;
  await assert.rejects(storage.saveSnapshotStreamed(snapshotOf(41, 0).metadata, chunksOf(new Uint8Array(1), 1)), (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_USAGE');
  storage.close();
});
