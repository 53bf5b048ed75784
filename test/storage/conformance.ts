/**
 * The one conformance suite every RaftStorage implementation must pass
 * (openraft's `Suite::test_all(builder)` idea). A test file calls
 * `storageConformance(name, makeHarness)` for its implementation.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry, HardState, Snapshot } from '../../src/raft/types.js';
import type { PersistBatch, RaftStorage, RecoveredState } from '../../src/storage/index.js';
import { StorageError, toMemoryStorage } from '../../src/storage/index.js';

export interface StorageHarness {
  /** Opens the storage as a freshly started process would (same durable location every time). */
  open(options?: { retainSnapshots?: number; snapshotIntervalEntries?: number }): RaftStorage;
  /** The process holding `storage` dies: writes not yet synced may be lost, whole batches only. */
  crash(storage: RaftStorage): void;
  dispose(): void;
}

export function entry(index: number, term: number, size = 16): Entry {
  const text = `entry ${index} term ${term} `;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = text.charCodeAt(i % text.length);
  return { index, term, type: 0, data };
}

export function entries(from: number, to: number, term: number, size = 16): Entry[] {
  const list: Entry[] = [];
  for (let index = from; index <= to; index++) list.push(entry(index, term, size));
  return list;
}

export function snapshotAt(index: number, term: number): Snapshot {
  return { metadata: { index, term, confState: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data: new TextEncoder().encode(`state at ${index}`) };
}

/** The expected durable state: the raft core's own MemoryStorage fed the same batches. */
export class Model {
  readonly log = new MemoryStorage();
  apply(batch: PersistBatch): void {
    if (batch.snapshot) this.log.applySnapshot(batch.snapshot);
    this.log.append(batch.entries);
    if (batch.hardState) this.log.setHardState(batch.hardState);
  }
  clone(): Model {
    const copy = new Model();
    copy.log.applySnapshot(this.log.snapshot());
    copy.log.append(this.log.entries(this.log.firstIndex(), this.log.lastIndex() + 1, Infinity));
    copy.log.setHardState(this.log.hardState());
    return copy;
  }
}

/** Asserts that `recovered` holds exactly the model's log (entries after the recovered snapshot) and hard state. */
export function assertMatchesModel(recovered: RecoveredState, model: Model, message = ''): void {
  const base = recovered.snapshot.metadata.index;
  const expectedLast = model.log.lastIndex();
  assert.equal(base + recovered.entries.length, Math.max(expectedLast, base), `last index ${message}`);
  for (const got of recovered.entries) {
    const [want] = model.log.entries(got.index, got.index + 1, Infinity);
    assert.deepEqual(got, want, `entry ${got.index} ${message}`);
  }
  const hardState = model.log.hardState();
  assert.equal(recovered.hardState.vote, hardState.term >= recovered.snapshot.metadata.term ? hardState.vote : '', `vote ${message}`);
  assert.equal(recovered.hardState.term, Math.max(hardState.term, recovered.snapshot.metadata.term), `term ${message}`);
  assert.equal(recovered.hardState.commit, Math.max(hardState.commit, base), `commit ${message}`);
}

function hs(term: number, commit: number, vote = 'n1'): HardState {
  return { term, vote, commit };
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => StorageError.is(error) && error.code === code);
}

export function storageConformance(name: string, makeHarness: () => StorageHarness): void {
  describe(`RaftStorage conformance: ${name}`, () => {
    let harness: StorageHarness;
    beforeEach(() => {
      harness = makeHarness();
    });
    afterEach(() => harness.dispose());

    /** Closes `storage` and loads a new instance. */
    function reopen(storage: RaftStorage, options?: Parameters<StorageHarness['open']>[0]): { storage: RaftStorage; recovered: RecoveredState } {
      storage.close();
      const next = harness.open(options);
      return { storage: next, recovered: next.load() };
    }

    it('loads an empty state from a new location', () => {
      const storage = harness.open();
      const recovered = storage.load();
      assert.deepEqual(recovered.hardState, { term: 0, vote: '', commit: 0 });
      assert.equal(recovered.snapshot.metadata.index, 0);
      assert.deepEqual(recovered.entries, []);
      storage.close();
    });

    it('recovers synced entries and hard state after a crash', () => {
      const storage = harness.open();
      storage.load();
      const model = new Model();
      for (const batch of [{ entries: entries(1, 3, 1), hardState: hs(1, 0) }, { entries: entries(4, 9, 1), hardState: hs(1, 5) }]) {
        storage.save(batch, true);
        model.apply(batch);
      }
      harness.crash(storage);
      const next = harness.open();
      const recovered = next.load();
      assertMatchesModel(recovered, model);
      const rebuilt = toMemoryStorage(recovered);
      assert.equal(rebuilt.lastIndex(), 9);
      assert.deepEqual(rebuilt.hardState(), hs(1, 5));
      next.close();
    });

    it('replaces a suffix when an entry is appended at a stored index, also across restarts', () => {
      let storage = harness.open();
      storage.load();
      const model = new Model();
      const batches: PersistBatch[] = [
        { entries: entries(1, 6, 1), hardState: hs(1, 2) },
        { entries: entries(4, 5, 2), hardState: hs(2, 3, 'n2') },
      ];
      for (const batch of batches) {
        storage.save(batch, true);
        model.apply(batch);
      }
      let reopened = reopen(storage);
      assertMatchesModel(reopened.recovered, model);
      assert.equal(reopened.recovered.entries.length, 5);
      const third: PersistBatch = { entries: entries(3, 8, 3), hardState: hs(3, 3) };
      reopened.storage.save(third, true);
      model.apply(third);
      reopened = reopen(reopened.storage);
      assertMatchesModel(reopened.recovered, model);
      storage = reopened.storage;
      storage.close();
    });

    it('loses an unsynced batch whole or not at all, never the synced ones before it', () => {
      const storage = harness.open();
      storage.load();
      const model = new Model();
      const synced: PersistBatch = { entries: entries(1, 4, 1), hardState: hs(1, 2) };
      storage.save(synced, true);
      model.apply(synced);
      const before = new Model();
      before.apply(synced);
      const unsynced: PersistBatch = { entries: [], hardState: hs(1, 4) };
      storage.save(unsynced, false);
      model.apply(unsynced);
      harness.crash(storage);
      const next = harness.open();
      const recovered = next.load();
      const commit = recovered.hardState.commit;
      assert.ok(commit === 2 || commit === 4, `commit ${commit}`);
      assertMatchesModel(recovered, commit === 4 ? model : before);
      next.close();
    });

    it('installs a snapshot from the leader, replacing the whole log', () => {
      const storage = harness.open();
      storage.load();
      const model = new Model();
      const batches: PersistBatch[] = [
        { entries: entries(1, 5, 1), hardState: hs(1, 3) },
        { snapshot: snapshotAt(20, 2), entries: entries(21, 22, 2), hardState: hs(2, 20, '') },
      ];
      for (const batch of batches) {
        storage.save(batch, true);
        model.apply(batch);
      }
      const { storage: next, recovered } = reopen(storage);
      assert.equal(recovered.snapshot.metadata.index, 20);
      assert.deepEqual(recovered.snapshot, snapshotAt(20, 2));
      assertMatchesModel(recovered, model);
      next.close();
    });

    it('installs a snapshot from the leader through saveAsync as save does, a large one in pieces', async () => {
      const storage = harness.open();
      storage.load();
      const model = new Model();
      const data = new Uint8Array(5 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff); // several of the file storage's install chunks
      const snapshot: Snapshot = { metadata: { index: 30, term: 2, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } }, data };
      const batches: PersistBatch[] = [
        { entries: entries(1, 5, 1), hardState: hs(1, 3) },
        { snapshot, entries: entries(31, 32, 2), hardState: hs(2, 30, '') },
        { entries: entries(33, 34, 2), hardState: hs(2, 33, '') },
      ];
      for (const batch of batches) {
        await storage.saveAsync(batch, true);
        model.apply(batch);
      }
      const { storage: next, recovered } = reopen(storage);
      assert.equal(recovered.snapshot.metadata.index, 30);
      assert.deepEqual(recovered.snapshot.data, data);
      assertMatchesModel(recovered, model);
      next.close();
    });

    it('installs a snapshot inside the log: the entries after it are discarded', () => {
      const storage = harness.open();
      storage.load();
      const model = new Model();
      const batches: PersistBatch[] = [
        { entries: entries(1, 8, 1), hardState: hs(1, 2) },
        { snapshot: snapshotAt(4, 2), entries: [], hardState: hs(2, 4, '') },
      ];
      for (const batch of batches) {
        storage.save(batch, true);
        model.apply(batch);
      }
      const { storage: next, recovered } = reopen(storage);
      assert.equal(recovered.snapshot.metadata.index, 4);
      assert.deepEqual(recovered.entries, []);
      next.close();
    });

    it('keeps load() unchanged by saveSnapshot and releaseTo, through many segments', () => {
      let storage = harness.open({ retainSnapshots: 2 });
      storage.load();
      const model = new Model();
      let snapshotIndex = 0;
      for (let index = 1; index <= 400; index += 10) {
        const batch: PersistBatch = { entries: entries(index, index + 9, 1, 200), hardState: hs(1, index + 5) };
        storage.save(batch, true);
        model.apply(batch);
        if (index % 50 === 1 && index > 1) {
          snapshotIndex = index - 5;
          storage.saveSnapshot(snapshotAt(snapshotIndex, 1));
          storage.releaseTo(snapshotIndex);
        }
      }
      const reopened = reopen(storage, { retainSnapshots: 2 });
      assert.equal(reopened.recovered.snapshot.metadata.index, snapshotIndex);
      assertMatchesModel(reopened.recovered, model);
      storage = reopened.storage;
      const more: PersistBatch = { entries: entries(401, 410, 1), hardState: hs(1, 405) };
      storage.save(more, true);
      model.apply(more);
      const end = reopen(storage);
      assertMatchesModel(end.recovered, model);
      end.storage.close();
    });

    it('says when a snapshot is due', () => {
      const storage = harness.open({ snapshotIntervalEntries: 10 });
      storage.load();
      storage.save({ entries: entries(1, 30, 1), hardState: hs(1, 30) }, true);
      assert.equal(storage.snapshotDue(9), false);
      assert.equal(storage.snapshotDue(10), true);
      storage.saveSnapshot(snapshotAt(10, 1));
      assert.equal(storage.snapshotDue(19), false);
      assert.equal(storage.snapshotDue(20), true);
      storage.close();
    });

    it('raises the recovered hard state to agree with the snapshot', () => {
      const storage = harness.open();
      storage.load();
      storage.save({ entries: entries(1, 10, 1), hardState: hs(1, 2) }, true);
      storage.saveSnapshot(snapshotAt(8, 1));
      const { storage: next, recovered } = reopen(storage);
      assert.equal(recovered.hardState.commit, 8);
      assert.equal(recovered.hardState.term, 1);
      assert.equal(toMemoryStorage(recovered).firstIndex(), 9);
      next.close();
    });

    it('refuses misuse with KEEL_STORAGE_USAGE', () => {
      const storage = harness.open();
      assertCode(() => storage.save({ entries: entries(1, 1, 1) }, true), 'KEEL_STORAGE_USAGE');
      storage.load();
      assertCode(() => storage.load(), 'KEEL_STORAGE_USAGE');
      assertCode(() => storage.save({ entries: entries(3, 4, 1) }, true), 'KEEL_STORAGE_USAGE');
      storage.save({ entries: entries(1, 2, 1) }, true);
      assertCode(() => storage.save({ entries: [entry(3, 1), entry(5, 1)] }, true), 'KEEL_STORAGE_USAGE');
      assertCode(() => storage.saveSnapshot(snapshotAt(5, 1)), 'KEEL_STORAGE_USAGE');
      storage.close();
    });

    it('matches the model over a seeded random run with crashes and restarts', () => {
      let random = 0x2545f491;
      const next = (bound: number): number => {
        random ^= random << 13;
        random ^= random >>> 17;
        random ^= random << 5;
        return (random >>> 0) % bound;
      };
      let storage = harness.open({ retainSnapshots: 2 });
      storage.load();
      const model = new Model();
      let term = 1;
      let snapshotIndex = 0;
      for (let step = 0; step < 300; step++) {
        const last = model.log.lastIndex();
        const commit = model.log.hardState().commit;
        const choice = next(10);
        if (choice < 6) {
          const overwrite = choice === 0 && last > commit + 1;
          if (overwrite) term++;
          const from = overwrite ? last - next(last - commit - 1) : last + 1;
          const batch: PersistBatch = { entries: entries(from, from + next(6), term, 8 + next(300)), hardState: hs(term, Math.max(commit, Math.min(last, from - 1))) };
          storage.save(batch, true);
          model.apply(batch);
        } else if (choice === 6 && commit > snapshotIndex) {
          snapshotIndex = commit;
          storage.saveSnapshot(snapshotAt(snapshotIndex, model.log.term(snapshotIndex)));
          storage.releaseTo(snapshotIndex);
        } else if (choice === 7) {
          harness.crash(storage);
          storage = harness.open({ retainSnapshots: 2 });
          assertMatchesModel(storage.load(), model, `after crash at step ${step}`);
        } else {
          storage.save({ entries: [], hardState: hs(term, commit) }, true);
        }
      }
      const end = reopen(storage, { retainSnapshots: 2 });
      assertMatchesModel(end.recovered, model, 'at the end');
      end.storage.close();
    });
  });
}

