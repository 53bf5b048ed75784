/**
 * A full disk. Saving must fail with KEEL_STORAGE_NO_SPACE and leave what was
 * durable recoverable. The first test uses a real 1 MiB tmpfs when this
 * process may mount one; otherwise it runs on a simulated full disk and says
 * so in its name. The second always simulates a write that fails halfway.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FileStorage, nodeFileSystem, StorageError, type FileSystem, type PersistBatch } from '../../src/storage/index.js';
import { assertMatchesModel, entries, Model, snapshotAt } from './conformance.js';

const DISK_BYTES = 1024 * 1024;

function tryMountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A file system that runs out of space after `budgetBytes` written; short writes stop at a 4 KiB page, as a kernel's do. */
function fullDisk(budgetBytes: number): FileSystem & { remaining: number } {
  const disk = {
    ...nodeFileSystem,
    remaining: budgetBytes,
    writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
      if (disk.remaining <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const page = 4096 - (position % 4096);
      const allowed = Math.min(length, disk.remaining < length ? Math.max(page, 1) : length);
      disk.remaining -= allowed;
      return nodeFileSystem.writeSync(fd, buffer, offset, allowed, position);
    },
  };
  return disk;
}

function isCode(code: string): (error: unknown) => boolean {
  return (error) => StorageError.is(error) && error.code === code;
}

const probeDir = mkdtempSync(join(tmpdir(), 'keel-enospc-probe-'));
const canMount = tryMountTmpfs(probeDir);
if (canMount) execFileSync('umount', [probeDir]);
rmSync(probeDir, { recursive: true, force: true });

it(canMount ? 'fills a real 1 MiB tmpfs: KEEL_STORAGE_NO_SPACE, then recovers every acknowledged save' : 'fills a SIMULATED disk (tmpfs mount unavailable): KEEL_STORAGE_NO_SPACE, then recovers every acknowledged save', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-enospc-'));
  const mounted = canMount && tryMountTmpfs(dir);
  const options = { segmentSizeBytes: 128 * 1024, ...(mounted ? {} : { fileSystem: fullDisk(DISK_BYTES) }) };
  try {
    const storage = new FileStorage(dir, options);
    storage.load();
    const model = new Model();
    let failure: unknown;
    for (let index = 1; failure === undefined && index < 100_000; index += 8) {
      const batch: PersistBatch = { entries: entries(index, index + 7, 1, 1024), hardState: { term: 1, vote: 'n1', commit: index } };
      try {
        storage.save(batch, true);
        model.apply(batch);
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(isCode('KEEL_STORAGE_NO_SPACE')(failure), `expected KEEL_STORAGE_NO_SPACE, got ${String(failure)}`);
    assert.throws(() => storage.saveSnapshot(snapshotAt(model.log.lastIndex(), 1)), isCode('KEEL_STORAGE_NO_SPACE'));
    assert.deepEqual(readdirSync(join(dir, 'snap')), [], 'no snapshot and no temporary file left behind');
    storage.close();
    const reopened = new FileStorage(dir, { segmentSizeBytes: options.segmentSizeBytes, fileSystem: nodeFileSystem });
    assertMatchesModel(reopened.load(), model);
    reopened.close();
  } finally {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a write that runs out of space halfway (simulated) poisons the storage and recovery drops the partial batch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-enospc-'));
  try {
    const disk = fullDisk(Number.MAX_SAFE_INTEGER);
    // Shrinking must fail too, so the half-written batch stays on disk for recovery to find.
    disk.ftruncateSync = (fd, length) => {
      if (disk.remaining <= 0) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      nodeFileSystem.ftruncateSync(fd, length);
    };
    const storage = new FileStorage(dir, { segmentSizeBytes: 64 * 1024, fileSystem: disk });
    storage.load();
    const model = new Model();
    const first: PersistBatch = { entries: entries(1, 4, 1, 3000), hardState: { term: 1, vote: 'n1', commit: 2 } };
    storage.save(first, true);
    model.apply(first);
    disk.remaining = 6000;
    assert.throws(() => storage.save({ entries: entries(5, 12, 1, 3000), hardState: { term: 1, vote: 'n1', commit: 8 } }, true), isCode('KEEL_STORAGE_NO_SPACE'));
    disk.remaining = 0;
    assert.throws(() => storage.save({ entries: entries(5, 5, 1) }, true), isCode('KEEL_STORAGE_FAILED'));
    const reopened = new FileStorage(dir, { segmentSizeBytes: 64 * 1024 });
    assertMatchesModel(reopened.load(), model);
    assert.ok(reopened.recoveryReport?.tornTail, 'the partial batch was cut off as a torn tail');
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
