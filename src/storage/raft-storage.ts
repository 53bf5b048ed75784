import { type EntrySource, MemoryStorage } from '../raft/storage.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';

/** What step 1 of a `Ready` hands to storage (see `Ready` in src/raft/types.ts). */
export interface PersistBatch {
  /** Present when term, vote or commit changed. */
  readonly hardState?: HardState;
  /** Entries to append; an entry at an index already stored replaces it and every entry after it. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the whole log before `entries`. */
  readonly snapshot?: Snapshot;
}

/** Everything a node needs at start to rebuild its raft {@link MemoryStorage}. */
export interface RecoveredState {
  /**
   * The last durable hard state, raised to agree with the snapshot: `commit`
   * is at least the snapshot index and `term` at least the snapshot term
   * (with the vote cleared when the term is raised), because a snapshot file
   * can be durable while the hard state of the same Ready was not.
   */
  readonly hardState: HardState;
  /** The newest usable snapshot; index 0 (empty data) when there is none. */
  readonly snapshot: Snapshot;
  /** Every durable entry after `snapshot.metadata.index`, contiguous. */
  readonly entries: readonly Entry[];
}

/**
 * Durable raft state: the write-ahead log of hard state and entries, and the
 * snapshots of the state machine.
 *
 * Contract (every implementation passes test/storage/conformance.ts):
 *
 * - `load()` is called once, first. It returns the state as of the last
 *   successful `save(…, true)` (or later: unsynced writes may survive a crash
 *   but never partly: a `save` is all-or-nothing on recovery). A torn tail is
 *   truncated; damage anywhere else throws a `KEEL_STORAGE_WAL_CORRUPT` or
 *   `KEEL_STORAGE_SNAPSHOT_CORRUPT` error naming the file (and offset)
 *   instead of returning less than was durable.
 * - `save(batch, mustSync)` persists in Ready order: snapshot, entries, hard
 *   state. With `mustSync` (or a snapshot) it returns only once all of it is
 *   on stable storage, with one `fdatasync` for the whole batch (group
 *   commit). Without `mustSync` it may return before, and a crash may lose
 *   the batch, whole.
 * - Appending an entry at an index already stored replaces that entry and
 *   every entry after it. Appending past `lastIndex + 1` is a usage error.
 * - `saveSnapshot(snapshot)` makes a snapshot of the local state machine
 *   durable (temporary file, fsync, rename, directory fsync). Its index must
 *   not exceed the last stored entry. The log is not shortened by it.
 * - `releaseTo(index)` frees log space wholly covered by `index` (which must
 *   be covered by a saved snapshot) and deletes all but the newest `retain`
 *   snapshots. It never changes what `load()` returns. The file implementation
 *   keeps the log back to the oldest retained snapshot so that a damaged
 *   newest snapshot can fall back to it.
 * - After a failed write or fsync every later write throws
 *   `KEEL_STORAGE_FAILED`: the page cache state is unknown, so only a restart
 *   (which recovers from the disk) is safe.
 * - `saveAsync(batch, mustSync)` is `save` without blocking the caller's
 *   event loop: it returns at once and its promise resolves when `save`
 *   would have returned (durable, with `mustSync`). Saves complete in call
 *   order; several outstanding saves may share one fsync (group commit). A
 *   crash before the promise resolves leaves each outstanding save whole or
 *   absent on recovery, and never a later one without an earlier one. A
 *   batch with a snapshot may not overlap other saves (a usage error); it is
 *   always synced, its snapshot durable before its log records. The
 *   member's raft loop keeps one save outstanding and goes on
 *   ticking and stepping messages meanwhile (see docs/persistence.md).
 * - The synchronous calls never overlap each other, nor an outstanding
 *   `saveAsync` (a usage error).
 */
export interface RaftStorage {
  load(): RecoveredState;
  save(batch: PersistBatch, mustSync: boolean): void;
  saveAsync(batch: PersistBatch, mustSync: boolean): Promise<void>;
  saveSnapshot(snapshot: Snapshot): void;
  releaseTo(index: number): void;
  /**
   * `releaseTo` off the event loop, where the storage has files to delete.
   * Unlike the synchronous calls it may overlap `saveAsync` (it never
   * releases what a save writes to); releases run in call order. A
   * rejection means the storage has failed, as a failed save.
   */
  releaseToAsync?(index: number): Promise<void>;
  /** True once `appliedIndex` is at least the configured interval past the newest snapshot. */
  snapshotDue(appliedIndex: number): boolean;
  /**
   * The snapshot a save just made durable, as the storage can give it back
   * (its data read from the file on demand), to be held instead of the
   * bytes it was saved from; `snapshot` itself when there is no such form.
   */
  held?(snapshot: Snapshot): Snapshot;
  /**
   * Reads entries back from the log, for a {@link MemoryStorage} that lets
   * go of the data of entries it no longer needs at hand (its `spill`).
   * Valid after `load()`; absent where the storage cannot read back.
   */
  entrySource?(): EntrySource | undefined;
  close(): void;
}

/** Options shared by every implementation. */
export interface SnapshotRetention {
  /** Entries applied between snapshots ({@link RaftStorage.snapshotDue}). */
  readonly snapshotIntervalEntries?: number;
  /** Snapshots kept by `releaseTo` (at least 1). */
  readonly retainSnapshots?: number;
}

/** Builds the raft core's log view from what `load()` returned. */
export function toMemoryStorage(recovered: RecoveredState): MemoryStorage {
  const storage = new MemoryStorage(recovered.snapshot.metadata.confState);
  storage.applySnapshot(recovered.snapshot);
  storage.setHardState(recovered.hardState);
  storage.append(recovered.entries);
  return storage;
}
