/**
 * FileStorage.loadAsync against the synchronous load it replaces at a
 * member's startup: the same recovered state and report for any log and
 * snapshots, the same refusal for damaged snapshot bytes, and the event loop
 * given turns while a large snapshot is read.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { FileStorage, nodeFileSystem, readSnapshotData, type FileSystem, type RecoveredState, storageLimits } from '../../src/storage/index.js';
import { entries } from './conformance.js';
import { planWorkload, runWorkload } from './fixtures/workload.js';

const SEGMENT_BYTES = 8 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-load-async-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Outcome = { readonly state: RecoveredState; readonly skipped: readonly string[]; readonly tornTail: unknown } | { readonly code: string; readonly message: string };

/**
 * What a load of `from` (default `dir`) gives: the state, the snapshots it
 * skipped and the torn tail it cut, or the error's code and message (with
 * `from` written as `dir`, so loads of copies compare).
 */
async function outcome(load: (storage: FileStorage) => RecoveredState | Promise<RecoveredState>, fileSystem?: FileSystem, from = dir): Promise<Outcome> {
  const storage = new FileStorage(from, { segmentSizeBytes: SEGMENT_BYTES, ...(fileSystem ? { fileSystem } : {}) });
  try {
    const state = await load(storage);
    const report = storage.recoveryReport!;
    return { state: { ...state, snapshot: { metadata: state.snapshot.metadata, data: new Uint8Array(await readSnapshotData(state.snapshot.data)) } }, skipped: report.snapshotsSkipped, tornTail: report.tornTail };
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message.split(from).join(dir) };
  } finally {
    storage.close();
  }
}

/** Damages `file` under `dir`: one bit flipped at `at`, and the file cut there when `truncate`. */
function damage(file: string, at: number, bit: number, truncate: boolean): void {
  const bytes = readFileSync(file);
  if (bytes.length === 0) return;
  bytes[at % bytes.length]! ^= 1 << bit;
  writeFileSync(file, truncate ? bytes.subarray(0, at % bytes.length) : bytes);
}

const loadSync = (storage: FileStorage): RecoveredState => storage.load();
const loadAsync = (storage: FileStorage): Promise<RecoveredState> => storage.loadAsync();

function snapshotNames(): string[] {
  return readdirSync(join(dir, 'snap')).filter((name) => name.endsWith('.snap')).sort().reverse();
}

function writeWorkload(batches: number): void {
  const storage = new FileStorage(dir, { segmentSizeBytes: SEGMENT_BYTES, retainSnapshots: 2 });
  storage.load();
  runWorkload(storage, planWorkload({ batches, snapshots: true }), () => undefined);
  storage.close();
}

/** A file system with no chunked reads: loadAsync falls back to one read and a sliced checksum. */
const withoutChunkedReads: FileSystem = { ...nodeFileSystem, read: undefined, fileSize: undefined } as FileSystem;

describe('FileStorage.loadAsync', () => {
  it('recovers what load recovers, for random workloads and random damage to their snapshots and log', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.record({ wal: fc.boolean(), file: fc.nat(), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }), truncate: fc.boolean() }), { maxLength: 3 }),
        async (batches, flips) => {
          rmSync(dir, { recursive: true, force: true });
          writeWorkload(batches);
          for (const flip of flips) {
            const sub = flip.wal ? 'wal' : 'snap';
            const names = readdirSync(join(dir, sub)).filter((name) => name.endsWith(flip.wal ? '.wal' : '.snap')).sort();
            if (names.length > 0) damage(join(dir, sub, names[flip.file % names.length]!), flip.at, flip.bit, flip.truncate);
          }
          // Recovery may repair the disk (cut a torn tail): each load gets its own copy.
          const copies = ['sync', 'fallback'].map((name) => {
            const copy = `${dir}-${name}`;
            rmSync(copy, { recursive: true, force: true });
            cpSync(dir, copy, { recursive: true });
            return copy;
          });
          try {
            const expected = await outcome(loadSync, undefined, copies[0]);
            assert.deepEqual(await outcome(loadAsync), expected);
            assert.deepEqual(await outcome(loadAsync, withoutChunkedReads, copies[1]), expected);
          } finally {
            for (const copy of copies) rmSync(copy, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('falls back to the older snapshot when the newest is damaged, with the same reason', async () => {
    writeWorkload(40);
    const [newest] = snapshotNames();
    const path = join(dir, 'snap', newest!);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1]! ^= 0x01;
    writeFileSync(path, bytes);
    const loaded = await outcome(loadAsync);
    assert.ok('state' in loaded);
    assert.match(loaded.skipped[0]!, new RegExp(`${newest}: checksum mismatch`));
    assert.deepEqual(loaded, await outcome(loadSync));
  });

  it('refuses with KEEL_STORAGE_SNAPSHOT_CORRUPT when no undamaged snapshot fits the log, as load does', async () => {
    writeWorkload(40);
    const names = snapshotNames().slice(0, 2);
    for (const name of names) {
      const path = join(dir, 'snap', name);
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1]! ^= 0x01;
      writeFileSync(path, bytes);
    }
    const refused = await outcome(loadAsync);
    assert.ok('code' in refused);
    assert.equal(refused.code, 'KEEL_STORAGE_SNAPSHOT_CORRUPT');
    assert.ok(refused.message.includes(names[0]!));
    assert.deepEqual(refused, await outcome(loadSync));
  });

  it('refuses a second load', async () => {
    const storage = new FileStorage(dir);
    try {
      await storage.loadAsync();
      assert.throws(() => storage.load(), (error) => (error as { code?: string }).code === 'KEEL_STORAGE_USAGE');
      await assert.rejects(storage.loadAsync(), (error) => (error as { code?: string }).code === 'KEEL_STORAGE_USAGE');
    } finally {
      storage.close();
    }
  });

  it('gives the event loop turns while it reads a large snapshot', async () => {
    const chunks = 24;
    const size = chunks * storageLimits.SNAPSHOT_LOAD_CHUNK_BYTES;
    const writer = new FileStorage(dir);
    writer.load();
    writer.save({ entries: entries(1, 3, 1), hardState: { term: 1, vote: '', commit: 3 } }, true);
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = i & 0xff;
    writer.saveSnapshot({ metadata: { index: 3, term: 1, confState: { voters: ['n1'], learners: [] } }, data });
    writer.close();

    // A counter bumped by a timer-free immediate loop: it advances only when the load gives the loop a turn.
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const storage = new FileStorage(dir);
    let recovered: RecoveredState;
    try {
      recovered = await storage.loadAsync();
    } finally {
      counting = false;
      storage.close();
    }
    assert.equal(recovered.snapshot.metadata.index, 3);
    assert.ok(!(recovered.snapshot.data instanceof Uint8Array), 'the data is left in the file');
    assert.ok(Buffer.from(await readSnapshotData(recovered.snapshot.data)).equals(data));
    // One read per chunk, each awaited off the loop: the immediate runs at least once between most of them.
    assert.ok(turns >= chunks / 2, `${turns} turns while ${chunks} chunks were read`);
  });
});
