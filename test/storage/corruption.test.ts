/**
 * Damage on disk: the log cut at random offsets, single bits flipped, a
 * damaged snapshot. Recovery must return a state the node really had (never
 * garbage) or refuse with an error that names the file and offset.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileStorage, StorageError, type RecoveredState } from '../../src/storage/index.js';
import { assertMatchesModel, type Model } from './conformance.js';
import { modelsAfterEachOperation, planWorkload, runWorkload } from './fixtures/workload.js';

const SEGMENT_BYTES = 8 * 1024;
const operations = planWorkload({ batches: 30, snapshots: false });
const models = modelsAfterEachOperation(operations);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-corrupt-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeWorkload(): void {
  const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES });
  storage.load();
  runWorkload(storage, operations, () => undefined);
  storage.close();
}

function walFiles(): string[] {
  return readdirSync(join(dir, 'wal')).filter((name) => name.endsWith('.wal')).sort();
}

function load(): RecoveredState {
  const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES });
  try {
    return storage.load();
  } finally {
    storage.close();
  }
}

/** The index of the model (operations done) that `recovered` equals, or -1. */
function matchingPrefix(recovered: RecoveredState): number {
  for (let done = models.length - 1; done >= 0; done--) {
    try {
      assertMatchesModel(recovered, models[done] as Model);
      return done;
    } catch {
      // try a shorter prefix
    }
  }
  return -1;
}

/** Offset just past the last non-zero byte: where the records end. */
function dataEnd(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

function seeded(seed: number): (bound: number) => number {
  let state = seed;
  return (bound) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * bound);
  };
}

function isCorruptError(error: unknown, file: string): boolean {
  return StorageError.is(error) && error.code === 'KEEL_STORAGE_WAL_CORRUPT' && error.message.includes(file) && /byte offset \d+/.test(error.message);
}

describe('torn tail', () => {
  it('drops exactly the last batch when its last record is cut short, and the log stays writable', () => {
    writeWorkload();
    const last = join(dir, 'wal', walFiles().at(-1)!);
    truncateSync(last, dataEnd(readFileSync(last)) - 3);
    const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES });
    const recovered = storage.load();
    const lastSave = operations.map((operation) => operation.kind).lastIndexOf('save');
    assert.equal(matchingPrefix(recovered), lastSave, 'everything but the torn batch');
    assert.equal(storage.recoveryReport?.tornTail?.file, walFiles().at(-1), 'the report names the torn tail');
    storage.save({ entries: [], hardState: recovered.hardState }, true);
    storage.close();
    assert.equal(matchingPrefix(load()), lastSave);
  });

  it('recovers a prefix of whole batches after the last segment is cut at 60 random offsets', () => {
    writeWorkload();
    const lastName = walFiles().at(-1)!;
    const original = readFileSync(join(dir, 'wal', lastName));
    const random = seeded(7);
    let previousDone = -1;
    for (let trial = 0; trial < 60; trial++) {
      writeFileSync(join(dir, 'wal', lastName), original);
      const cut = 1 + random(dataEnd(original));
      truncateSync(join(dir, 'wal', lastName), cut);
      let recovered: RecoveredState;
      try {
        recovered = load();
      } catch (error) {
        assert.ok(isCorruptError(error, lastName) && cut < 100, `cut at ${cut}: only a cut header may be refused: ${String(error)}`);
        continue;
      }
      const done = matchingPrefix(recovered);
      assert.ok(done >= 0, `cut at ${cut}: the recovered state is one the node had`);
      previousDone = Math.max(previousDone, done);
    }
    assert.ok(previousDone > 0);
  });

  it('refuses a cut in a segment that is not the last, naming the file', () => {
    writeWorkload();
    const files = walFiles();
    assert.ok(files.length >= 3, `rotation happened (${files.length} segments)`);
    const victim = files[1]!;
    truncateSync(join(dir, 'wal', victim), dataEnd(readFileSync(join(dir, 'wal', victim))) - 40);
    assert.throws(load, (error) => isCorruptError(error, victim));
  });

  it('refuses a missing segment in the middle', () => {
    writeWorkload();
    const files = walFiles();
    rmSync(join(dir, 'wal', files[1]!));
    assert.throws(load, (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_WAL_CORRUPT' && error.message.includes(files[2]!));
  });
});

describe('bit flips', () => {
  it('refuses (naming file and offset) or recovers the full state after each of 150 random single-bit flips; never garbage', () => {
    writeWorkload();
    const files = walFiles();
    const originals = files.map((name) => readFileSync(join(dir, 'wal', name)));
    const random = seeded(11);
    let refused = 0;
    for (let trial = 0; trial < 150; trial++) {
      const which = random(files.length);
      const bytes = Buffer.from(originals[which]!);
      const position = random(dataEnd(bytes) + 64);
      bytes[position]! ^= 1 << random(8);
      writeFileSync(join(dir, 'wal', files[which]!), bytes);
      try {
        const done = matchingPrefix(load());
        assert.equal(done, operations.length, `flip at ${files[which]}:${position} recovered a shorter log without an error`);
      } catch (error) {
        if (!isCorruptError(error, files[which]!)) throw error;
        const offset = (error as unknown as { offset: number }).offset;
        assert.ok(offset <= position, `reported offset ${offset} is at or before the flipped byte ${position}`);
        refused++;
      }
      writeFileSync(join(dir, 'wal', files[which]!), originals[which]!);
    }
    assert.ok(refused > 100, `most flips are detected (${refused})`);
  });

  it('refuses a damaged record followed by valid ones in the last segment', () => {
    writeWorkload();
    const last = join(dir, 'wal', walFiles().at(-1)!);
    const bytes = readFileSync(last);
    bytes[200]! ^= 0x10;
    writeFileSync(last, bytes);
    assert.throws(load, (error) => isCorruptError(error, walFiles().at(-1)!));
  });
});

describe('snapshots', () => {
  function writeWithSnapshots(): Model {
    const withSnapshots = planWorkload({ batches: 40, snapshots: true });
    const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES, retainSnapshots: 2 });
    storage.load();
    runWorkload(storage, withSnapshots, () => undefined);
    storage.close();
    return modelsAfterEachOperation(withSnapshots).at(-1)!;
  }

  function damageNewest(count: number): string[] {
    const names = readdirSync(join(dir, 'snap')).sort().reverse().slice(0, count);
    for (const name of names) {
      const path = join(dir, 'snap', name);
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1]! ^= 0x01;
      writeFileSync(path, bytes);
    }
    return names;
  }

  it('falls back to the older retained snapshot when the newest is damaged', () => {
    const model = writeWithSnapshots();
    const [damaged] = damageNewest(1);
    const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES });
    const recovered = storage.load();
    storage.close();
    assertMatchesModel(recovered, model);
    assert.match(storage.recoveryReport!.snapshotsSkipped[0]!, new RegExp(`${damaged}: checksum mismatch`));
  });

  it('refuses with KEEL_STORAGE_SNAPSHOT_CORRUPT when no valid snapshot is covered by the log', () => {
    writeWithSnapshots();
    const [newest] = damageNewest(2);
    assert.throws(load, (error) => StorageError.is(error) && error.code === 'KEEL_STORAGE_SNAPSHOT_CORRUPT' && error.message.includes(newest!));
  });
});
