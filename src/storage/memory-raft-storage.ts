import type { EntrySource } from '../raft/storage.js';
import type { Entry, Snapshot } from '../raft/types.js';
import { StorageUsageError, WalCorruptError } from './errors.js';
import { RETAIN_SNAPSHOTS_DEFAULT, SNAPSHOT_INTERVAL_ENTRIES_DEFAULT } from './limits.js';
import { LogIndexMap } from './log-index-map.js';
import type { PersistBatch, RaftStorage, RecoveredState, SnapshotRetention } from './raft-storage.js';
import { batchRecords, checkBatch, EMPTY_SNAPSHOT, type LogRecord, reconcileHardState, replay, snapshotDue } from './replay.js';

/**
 * The simulator's disk: what survives a crash (`durable`) and what sits in
 * the page cache (`unsynced`, whole batches). It outlives the
 * {@link MemoryRaftStorage} instances opened on it, as a disk outlives a process.
 */
export class MemoryDisk {
  durable: LogRecord[] = [];
  unsynced: LogRecord[][] = [];
  /** Snapshots, oldest first. Durable as soon as saved (tmp + fsync + rename). */
  snapshots: Snapshot[] = [];
  /** Lowest index the log holds every entry from. */
  coverageStart = 1;
  /** Entries read back through a storage's entrySource (the simulator counts them). */
  entriesReadBack = 0;

  /**
   * A crash: unsynced batches are lost, except the first `keepUnsyncedBatches`
   * (the kernel may have written some back, in order, before the power went).
   */
  crash(keepUnsyncedBatches = 0): void {
    for (const batch of this.unsynced.slice(0, keepUnsyncedBatches)) this.durable.push(...batch);
    this.unsynced = [];
  }

  sync(): void {
    for (const batch of this.unsynced) this.durable.push(...batch);
    this.unsynced = [];
  }
}

/** {@link RaftStorage} over a {@link MemoryDisk}, for the deterministic simulator. */
export class MemoryRaftStorage implements RaftStorage {
  readonly #disk: MemoryDisk;
  readonly #retainSnapshots: number;
  readonly #snapshotIntervalEntries: number;
  #lastIndex = 0;
  #loaded = false;
  #closed = false;
  /** The entries written through this instance or recovered by it, as the disk holds them: what {@link entrySource} reads back. */
  readonly #written = new LogIndexMap<Entry>();

  constructor(disk: MemoryDisk, options: SnapshotRetention = {}) {
    this.#disk = disk;
    this.#retainSnapshots = options.retainSnapshots ?? RETAIN_SNAPSHOTS_DEFAULT;
    this.#snapshotIntervalEntries = options.snapshotIntervalEntries ?? SNAPSHOT_INTERVAL_ENTRIES_DEFAULT;
    if (!(this.#retainSnapshots >= 1)) throw new StorageUsageError('retainSnapshots must be at least 1');
    if (!(this.#snapshotIntervalEntries >= 1)) throw new StorageUsageError('snapshotIntervalEntries must be at least 1');
  }

  load(): RecoveredState {
    if (this.#loaded) throw new StorageUsageError('load() was already called');
    const snapshot = this.#newestSnapshot();
    const outcome = replay([...this.#disk.durable, ...this.#disk.unsynced.flat()], this.#disk.coverageStart, snapshot.metadata);
    if (!outcome.ok) throw new WalCorruptError('memory', 0, outcome.reason);
    this.#loaded = true;
    this.#lastIndex = outcome.result.lastIndex;
    for (const entry of outcome.result.entries) this.#written.set(entry.index, entry);
    return { hardState: reconcileHardState(outcome.result.hardState, snapshot), snapshot, entries: outcome.result.entries };
  }

  /** The in-memory "disk" needs no thread: the same as save, reported through a promise. */
  saveAsync(batch: PersistBatch, mustSync: boolean): Promise<void> {
    try {
      this.save(batch, mustSync);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  save(batch: PersistBatch, mustSync: boolean): void {
    this.#checkOpen();
    const lastIndex = checkBatch(batch, this.#lastIndex);
    if (batch.snapshot) {
      this.#addSnapshot(batch.snapshot);
      this.#written.clear();
    }
    for (const entry of batch.entries) this.#written.set(entry.index, entry);
    const records = batchRecords(batch);
    if (records.length > 0) this.#disk.unsynced.push(records);
    if (mustSync || batch.snapshot) this.#disk.sync();
    this.#lastIndex = lastIndex;
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.#checkOpen();
    const { index } = snapshot.metadata;
    if (index > this.#lastIndex) throw new StorageUsageError(`snapshot at ${index} is beyond the last index ${this.#lastIndex}`);
    if (index < this.#newestSnapshot().metadata.index) throw new StorageUsageError(`snapshot at ${index} is older than the newest`);
    this.#addSnapshot(snapshot);
  }

  /** Keeps the newest `retain` snapshots and folds the durable log into entries after the oldest of them. */
  releaseTo(index: number): void {
    this.#checkOpen();
    this.#written.releaseThrough(index);
    const disk = this.#disk;
    disk.snapshots = disk.snapshots.slice(-this.#retainSnapshots);
    const oldest = disk.snapshots[0];
    if (oldest === undefined) return;
    const limit = Math.min(index, oldest.metadata.index);
    if (limit < disk.coverageStart) return;
    const outcome = replay(disk.durable, disk.coverageStart, { index: limit, term: 0 });
    if (!outcome.ok) return; // a later installed snapshot: nothing to fold safely
    disk.durable = [{ kind: 'hardState', hardState: outcome.result.hardState }, ...outcome.result.entries.map((entry) => ({ kind: 'entry' as const, entry }))];
    disk.coverageStart = limit + 1;
  }

  /** Reads entries back as this storage wrote them (the simulator's "disk" holds the same objects). */
  entrySource(): EntrySource {
    return {
      canRead: (index) => this.#written.get(index) !== undefined,
      entry: (index) => {
        const entry = this.#written.get(index);
        if (entry === undefined) throw new StorageUsageError(`entry ${index} cannot be read back`);
        this.#disk.entriesReadBack++;
        return entry;
      },
    };
  }

  snapshotDue(appliedIndex: number): boolean {
    return snapshotDue(appliedIndex, this.#newestSnapshot().metadata.index, this.#snapshotIntervalEntries);
  }

  /** A clean shutdown flushes the page cache. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disk.sync();
  }

  #addSnapshot(snapshot: Snapshot): void {
    const kept = this.#disk.snapshots.filter((existing) => existing.metadata.index !== snapshot.metadata.index);
    kept.push(snapshot);
    kept.sort((a, b) => a.metadata.index - b.metadata.index);
    this.#disk.snapshots = kept;
  }

  #newestSnapshot(): Snapshot {
    return this.#disk.snapshots[this.#disk.snapshots.length - 1] ?? EMPTY_SNAPSHOT;
  }

  #checkOpen(): void {
    if (!this.#loaded) throw new StorageUsageError('call load() first');
    if (this.#closed) throw new StorageUsageError('storage is closed');
  }
}
