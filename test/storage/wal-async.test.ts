import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FileSystem, nodeFileSystem } from '../../src/storage/file-system.js';
import type { LogRecord } from '../../src/storage/replay.js';
import { Wal } from '../../src/storage/wal.js';
import { parseSegmentFileName } from '../../src/storage/wal-format.js';
import { StorageError } from '../../src/storage/errors.js';

/**
 * The async WAL writer on a real directory with real fdatasync. The file
 * system is the real one, wrapped only to count calls or to stop a write
 * half-way (the one fault a real disk cannot be made to show on demand).
 */

const SEGMENT_BYTES = 64 * 1024;

function entry(index: number, text = `value-${index}`): LogRecord {
  return { kind: 'entry', entry: { term: 1, index, type: 0, data: new TextEncoder().encode(text) } };
}

function withDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-wal-async-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function entryIndexes(records: readonly LogRecord[]): number[] {
  return records.flatMap((record) => (record.kind === 'entry' ? [record.entry.index] : []));
}

/** Reopens the log in `dir` and checks it holds entries 1..count (and, with `whole`, no torn tail). */
function assertReadsBack(dir: string, count: number, options: { whole?: boolean } = {}): void {
  const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
  try {
    assert.deepEqual(entryIndexes(reopened.contents.records), Array.from({ length: count }, (_, offset) => offset + 1));
    if (options.whole === true) assert.equal(reopened.contents.tornTail, undefined);
  } finally {
    reopened.wal.close();
  }
}

test(
  'an append reaches the file system before appendAsync returns: no microtask runs in between (a member sends to its peers in one)',
  withDir(async (dir) => {
    let writes = 0;
    const counting: FileSystem = { ...nodeFileSystem, write: (...args) => (writes++, nodeFileSystem.write!(...args)) };
    const { wal } = Wal.open(dir, { fileSystem: counting, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const done = wal.appendAsync([entry(1)], true, 1);
    assert.equal(writes, 1, 'the write waited for a microtask');
    await done;
    wal.close();
  }),
);

test(
  'appends queued while a group syncs share the next group: one write and one fdatasync for many',
  withDir(async (dir) => {
    let syncs = 0;
    let writes = 0;
    const counting: FileSystem = {
      ...nodeFileSystem,
      write: (...args) => (writes++, nodeFileSystem.write!(...args)),
      fdatasync: (fd) => (syncs++, nodeFileSystem.fdatasync!(fd)),
    };
    const { wal } = Wal.open(dir, { fileSystem: counting, segmentSizeBytes: SEGMENT_BYTES, spareSegments: false }, 1);
    wal.setRecoveredState(0, undefined);
    const order: number[] = [];
    const done = Array.from({ length: 50 }, (_, offset) => wal.appendAsync([entry(offset + 1)], true, offset + 1).then(() => order.push(offset + 1)));
    assert.equal(wal.lastIndex, 50, 'lastIndex counts accepted appends');
    await Promise.all(done);
    assert.deepEqual(order, Array.from({ length: 50 }, (_, offset) => offset + 1), 'promises resolve in call order');
    assert.ok(syncs <= 2 && writes <= 2, `50 appends took ${writes} writes and ${syncs} fdatasyncs`);
    wal.close();
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    assert.deepEqual(entryIndexes(reopened.contents.records), order);
    assert.equal(reopened.contents.tornTail, undefined);
    reopened.wal.close();
  }),
);

function hardState(commit: number): LogRecord {
  return { kind: 'hardState', hardState: { term: 1, vote: 'n1', commit } };
}

test(
  'an unsynced append of a hard state alone waits in memory for the next append (as etcd\'s WAL buffer does), which writes it first; close() writes one still waiting',
  withDir(async (dir) => {
    let writes = 0;
    const counting: FileSystem = {
      ...nodeFileSystem,
      write: (...args) => (writes++, nodeFileSystem.write!(...args)),
      writeSync: (...args) => (writes++, nodeFileSystem.writeSync(...args)),
    };
    const { wal } = Wal.open(dir, { fileSystem: counting, segmentSizeBytes: SEGMENT_BYTES, spareSegments: false }, 1);
    wal.setRecoveredState(0, undefined);
    writes = 0; // creating the first segment wrote its header and zeros
    await wal.appendAsync([entry(1)], true, 1);
    assert.equal(writes, 1);
    await wal.appendAsync([hardState(1)], false, 1);
    await wal.appendAsync([hardState(1)], false, 1);
    assert.equal(writes, 1, 'a commit-only hard state cost a write of its own');
    assert.equal(wal.busy, false);
    // A synced append with entries, or a hard state that must be synced (a new term or vote), is never held.
    await wal.appendAsync([entry(2), hardState(1)], true, 2);
    assert.equal(writes, 2, 'the held hard state went with the next append, in the same write');
    await wal.appendAsync([hardState(2)], false, 2);
    assert.equal(writes, 2);
    wal.close();
    assert.equal(writes, 3, 'close() wrote the held hard state');
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    const commits = reopened.contents.records.map((record) => (record.kind === 'hardState' ? `c${record.hardState.commit}` : `e${record.kind === 'entry' ? record.entry.index : '?'}`));
    assert.deepEqual(commits, ['e1', 'c1', 'e2', 'c1', 'c2'], 'records come back in call order, the repeated hard state once');
    reopened.wal.close();
  }),
);

test(
  'a held hard state is lost in a crash (the process gone without close), as an unsynced write may be; earlier synced records all come back',
  withDir(async (dir) => {
    const { wal } = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    await wal.appendAsync([entry(1), hardState(0)], true, 1);
    await wal.appendAsync([hardState(1)], false, 1);
    // No close(): what a kill -9 leaves. The synced batch is on disk; the commit index is re-learnt from the leader.
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    assert.deepEqual(entryIndexes(reopened.contents.records), [1]);
    const last = reopened.contents.records.at(-1);
    assert.equal(last?.kind === 'hardState' ? last.hardState.commit : undefined, 0);
    reopened.wal.close();
    wal.close(); // the "crashed" writer's descriptor (the directory goes next)
  }),
);

test(
  'async appends across a segment rotation come back in order',
  withDir(async (dir) => {
    const { wal } = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const big = 'x'.repeat(10_000);
    for (let index = 1; index <= 20; index++) await wal.appendAsync([entry(index, big)], index % 3 === 0, index);
    assert.ok(wal.segmentNames().length > 1, 'the log rotated');
    wal.close();
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    assert.deepEqual(entryIndexes(reopened.contents.records), Array.from({ length: 20 }, (_, offset) => offset + 1));
    reopened.wal.close();
  }),
);

test(
  'a crash in the middle of a group write leaves a torn tail that recovery cuts: earlier groups survive whole',
  withDir(async (dir) => {
    let writes = 0;
    const crashing: FileSystem = {
      ...nodeFileSystem,
      // The third group's write reaches the disk only half-way, and the process "dies" (the promise never settles).
      write: async (fd, buffer, offset, length, position) => {
        if (++writes < 3) return nodeFileSystem.write!(fd, buffer, offset, length, position);
        nodeFileSystem.writeSync(fd, buffer, offset, Math.floor(length / 2), position);
        return new Promise<number>(() => {});
      },
    };
    const { wal } = Wal.open(dir, { fileSystem: crashing, segmentSizeBytes: SEGMENT_BYTES, spareSegments: false }, 1);
    wal.setRecoveredState(0, undefined);
    await wal.appendAsync([entry(1), entry(2)], true, 2);
    await wal.appendAsync([entry(3)], true, 3);
    let settled = false;
    void wal.appendAsync([entry(4, 'y'.repeat(2_000)), entry(5, 'z'.repeat(2_000))], true, 5).finally(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'the torn group was never acknowledged');
    const recovered = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    assert.deepEqual(entryIndexes(recovered.contents.records), [1, 2, 3], 'the torn group is gone whole; acknowledged ones stay');
    assert.ok(recovered.contents.tornTail, 'recovery reports the torn tail it cut');
    recovered.wal.close();
  }),
);

test(
  'a failed write rejects with a typed error, and every later append with KEEL_STORAGE_FAILED',
  withDir(async (dir) => {
    const failing: FileSystem = {
      ...nodeFileSystem,
      write: async () => {
        throw Object.assign(new Error('injected EIO'), { code: 'EIO' });
      },
    };
    const { wal } = Wal.open(dir, { fileSystem: failing, segmentSizeBytes: SEGMENT_BYTES, spareSegments: false }, 1);
    wal.setRecoveredState(0, undefined);
    const first = wal.appendAsync([entry(1)], true, 1);
    const queued = wal.appendAsync([entry(2)], true, 2).catch((error: unknown) => error);
    await assert.rejects(first, (error) => StorageError.is(error) && (error as { code: string }).code === 'KEEL_STORAGE_IO');
    const second = (await queued) as { code?: string };
    assert.ok(second.code === 'KEEL_STORAGE_FAILED' || second.code === 'KEEL_STORAGE_IO');
    assert.throws(() => wal.appendAsync([entry(3)], true, 3), (error) => (error as { code?: string }).code === 'KEEL_STORAGE_FAILED');
    wal.close();
  }),
);

test(
  'an async append that fills a segment rotates off the event loop: no synchronous file call, and the log reads back whole',
  withDir(async (dir) => {
    const syncCalls: string[] = [];
    let counting = false;
    const syncNames = ['openSync', 'closeSync', 'writeSync', 'fdatasyncSync', 'fsyncSync', 'renameSync'] as const;
    const watched: FileSystem = { ...nodeFileSystem };
    for (const name of syncNames) {
      const real = nodeFileSystem[name] as (...args: unknown[]) => unknown;
      (watched as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        if (counting) syncCalls.push(name);
        return real(...args);
      };
    }
    const { wal } = Wal.open(dir, { fileSystem: watched, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const segmentsBefore = wal.segmentNames().length;
    counting = true;
    const bigValue = 'x'.repeat(20 * 1024);
    // Each append waits for the one before, so every rotation happens inside a group of its own.
    for (let index = 1; index <= 10; index++) await wal.appendAsync([entry(index, bigValue)], true, index);
    counting = false;
    assert.ok(wal.segmentNames().length >= segmentsBefore + 2, `10 appends of 20 KiB into 64 KiB segments rotated (${wal.segmentNames().join(', ')})`);
    assert.deepEqual(syncCalls, [], 'every file call of the writer, rotations included, went off the loop');
    wal.close();
    assertReadsBack(dir, 10, { whole: true });
  }),
);

/** Fills `count` segments (plus the current one) with async appends of ~5 KiB entries; returns the last index. */
async function fillSegments(wal: Wal, count: number): Promise<number> {
  let index = 0;
  while (wal.segmentNames().length <= count) {
    index++;
    await wal.appendAsync([entry(index, 'x'.repeat(5_000))], true, index);
  }
  return index;
}

test(
  'releaseToAsync unlinks the released segments off the loop, oldest first, while appends go on; recovery starts at the first kept segment',
  withDir(async (dir) => {
    const unlinked: string[] = [];
    let dirSyncs = 0;
    const watching: FileSystem = {
      ...nodeFileSystem,
      unlink: async (path) => {
        unlinked.push(path.slice(dir.length + 1));
        await nodeFileSystem.unlink!(path);
      },
      fsync: (fd) => (dirSyncs++, nodeFileSystem.fsync!(fd)),
    };
    const { wal } = Wal.open(dir, { fileSystem: watching, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const last = await fillSegments(wal, 4);
    const before = wal.segmentNames();
    const keptFrom = before[3]!;
    const firstKept = parseSegmentFileName(keptFrom)!.firstIndex;
    const release = wal.releaseToAsync(firstKept - 1);
    assert.deepEqual(wal.segmentNames(), before.slice(3), 'the list drops the released segments at once');
    assert.deepEqual(unlinked, [], 'nothing is unlinked on the caller\'s turn');
    // Appends meanwhile, into the current segment and across a rotation.
    const more = Array.from({ length: 20 }, (_, offset) => wal.appendAsync([entry(last + offset + 1, 'y'.repeat(5_000))], true, last + offset + 1));
    await Promise.all([release, ...more]);
    assert.deepEqual(unlinked, before.slice(0, 3), 'released oldest first');
    assert.ok(dirSyncs >= 1, 'the deletions are made durable');
    wal.close();
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    const indexes = entryIndexes(reopened.contents.records);
    assert.equal(indexes[0], firstKept);
    assert.equal(indexes[indexes.length - 1], last + 20);
    reopened.wal.close();
  }),
);

test(
  'a synchronous releaseTo while a releaseToAsync runs is a usage error (the deletions would not stay oldest first)',
  withDir(async (dir) => {
    const { wal } = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const last = await fillSegments(wal, 3);
    const release = wal.releaseToAsync(last);
    assert.throws(() => wal.releaseTo(last), (error: unknown) => StorageError.is(error) && (error as StorageError).code === 'KEEL_STORAGE_USAGE');
    await release;
    wal.releaseTo(last); // nothing pending any more: allowed
    wal.close();
  }),
);

test(
  'a failed unlink fails the log and later releases delete nothing: the segments left on disk stay contiguous and recover',
  withDir(async (dir) => {
    let failNext = false;
    const unlinked: string[] = [];
    const faulty: FileSystem = {
      ...nodeFileSystem,
      unlink: async (path) => {
        if (failNext) {
          failNext = false;
          throw Object.assign(new Error('EIO: simulated'), { code: 'EIO' });
        }
        unlinked.push(path);
        await nodeFileSystem.unlink!(path);
      },
    };
    const { wal } = Wal.open(dir, { fileSystem: faulty, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const last = await fillSegments(wal, 4);
    const names = wal.segmentNames();
    const secondFirst = parseSegmentFileName(names[1]!)!.firstIndex;
    failNext = true;
    const first = wal.releaseToAsync(secondFirst - 1); // releases segment 0: its unlink fails
    const second = wal.releaseToAsync(last); // would release 1..3: must not run
    await assert.rejects(first, (error: unknown) => StorageError.is(error));
    await assert.rejects(second, (error: unknown) => StorageError.is(error));
    assert.deepEqual(unlinked, [], 'no segment was deleted after the failure');
    assert.throws(() => wal.appendAsync([entry(last + 1)], true, last + 1), (error: unknown) => StorageError.is(error) && (error as StorageError).code === 'KEEL_STORAGE_FAILED');
    wal.close();
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: SEGMENT_BYTES }, 1);
    assert.deepEqual(entryIndexes(reopened.contents.records), Array.from({ length: last }, (_, offset) => offset + 1));
    reopened.wal.close();
  }),
);

/** Waits (bounded) until `check` holds, turning the event loop meanwhile: for work the writer does in the background. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 2_000 && !check(); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(check(), what);
}

test(
  'a rotation takes the next segment prepared ahead (zero-filled and synced under a temporary name) and writes only its header',
  withDir(async (dir) => {
    const renames: [string, string][] = [];
    const opened: string[] = [];
    const watched: FileSystem = {
      ...nodeFileSystem,
      open: (path, flags) => {
        opened.push(path.split('/').pop()!);
        return nodeFileSystem.open!(path, flags);
      },
      rename: (from, to) => {
        renames.push([from.split('/').pop()!, to.split('/').pop()!]);
        return nodeFileSystem.rename!(from, to);
      },
    };
    const { wal } = Wal.open(dir, { fileSystem: watched, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const segmentsBefore = wal.segmentNames().length;
    // A rotation that finds its spare still being made waits for it rather than making another.
    for (let index = 1; index <= 10; index++) await wal.appendAsync([entry(index, 'x'.repeat(20 * 1024))], true, index);
    const rotations = wal.segmentNames().length - segmentsBefore;
    assert.ok(rotations >= 2, `10 appends of 20 KiB into 64 KiB segments rotated (${wal.segmentNames().join(', ')})`);
    assert.equal(renames.length, rotations, 'one rename per rotation');
    for (const [from, to] of renames) {
      assert.match(from, /^next-\d+\.tmp$/, 'the rotation renamed the prepared spare');
      assert.ok(parseSegmentFileName(to) !== undefined, `${to} is a segment`);
    }
    // The fallback would open the segment under its own temporary name and zero-fill it in the rotation.
    assert.deepEqual(opened.filter((name) => name.endsWith('.tmp') && !/^next-\d+\.tmp$/.test(name)), [], 'every temporary file the writer opened was a spare');
    assert.ok(opened.some((name) => /^next-\d+\.tmp$/.test(name)));
    wal.close();
    await eventually(() => !readdirSync(dir).some((name) => name.endsWith('.tmp')), 'close() removes the spare');
    assertReadsBack(dir, 10, { whole: true });
  }),
);

test(
  'a spare that cannot be made (its file fails to open) leaves rotations to create their segments as before',
  withDir(async (dir) => {
    let spareAttempts = 0;
    const refusing: FileSystem = {
      ...nodeFileSystem,
      open: async (path, flags) => {
        if (/next-\d+\.tmp$/.test(path)) {
          spareAttempts++;
          throw Object.assign(new Error('injected ENOSPC'), { code: 'ENOSPC' });
        }
        return nodeFileSystem.open!(path, flags);
      },
    };
    const { wal } = Wal.open(dir, { fileSystem: refusing, segmentSizeBytes: SEGMENT_BYTES }, 1);
    wal.setRecoveredState(0, undefined);
    const segmentsBefore = wal.segmentNames().length;
    for (let index = 1; index <= 10; index++) await wal.appendAsync([entry(index, 'y'.repeat(20 * 1024))], true, index);
    assert.ok(wal.segmentNames().length >= segmentsBefore + 2, 'rotated without a spare');
    assert.ok(spareAttempts >= 2, `a spare was tried after each rotation (${spareAttempts} tries)`);
    wal.close();
    assertReadsBack(dir, 10);
  }),
);

test(
  'a batch with large entries is one writev of the frames and the entries\' own bytes, and reads back byte for byte, across a short writev',
  withDir(async (dir) => {
    const writevs: number[] = [];
    let shortOnce = true;
    const counting: FileSystem = {
      ...nodeFileSystem,
      // The first writev writes only part of what it was given, as a kernel may: the rest must follow.
      writev: async (fd, buffers, position) => {
        writevs.push(buffers.length);
        if (!shortOnce) return nodeFileSystem.writev!(fd, buffers, position);
        shortOnce = false;
        const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
        const head = Buffer.concat(buffers as Uint8Array[]).subarray(0, Math.floor(total / 2) + 3);
        return nodeFileSystem.write!(fd, head, 0, head.length, position);
      },
    };
    const large = (index: number, size: number): LogRecord => ({ kind: 'entry', entry: { term: 1, index, type: 0, data: new Uint8Array(size).map((_, i) => (i * 31 + index) & 0xff) } });
    const records = [large(1, 300_000), entry(2), large(3, 70_000), entry(4)];
    const { wal } = Wal.open(dir, { fileSystem: counting, segmentSizeBytes: 1024 * 1024, spareSegments: false }, 1);
    wal.setRecoveredState(0, undefined);
    await wal.appendAsync(records, true, 4);
    assert.equal(writevs[0], 5, 'frames, entry 1, frames, entry 3, frames');
    assert.ok(writevs.length >= 2, 'the short writev was followed by the rest');
    for (const record of records) {
      if (record.kind !== 'entry') continue;
      assert.deepEqual(wal.readEntry(record.entry.index), record.entry, `entry ${record.entry.index} read back`);
    }
    wal.close();
    const reopened = Wal.open(dir, { fileSystem: nodeFileSystem, segmentSizeBytes: 1024 * 1024 }, 1);
    assert.deepEqual(reopened.contents.records, records);
    assert.equal(reopened.contents.tornTail, undefined);
    reopened.wal.close();
  }),
);
