import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { assert } from './assert.js';
import type { ConfState, Entry, HardState, Snapshot, SnapshotData } from './types.js';
import { EMPTY_HARD_STATE } from './types.js';

/**
 * The core's read-only view of the stable log, in the manner of etcd-io/raft's
 * `Storage`. The core never writes through it: the caller appends what a Ready
 * hands it (to its WAL and to this view) before calling `advance()`.
 *
 * Contract, checked by the conformance suite:
 * - `firstIndex()` is one past the compacted prefix (snapshot index + 1);
 *   `lastIndex()` is the last stored entry, or the snapshot index when empty.
 * - `entries(lo, hi)` returns [lo, hi) and throws {@link CompactedError} if
 *   lo < firstIndex, {@link UnavailableError} if hi > lastIndex + 1. It may
 *   stop early to keep the result under `maxBytes`, but returns at least one entry.
 * - `term(i)` is defined for firstIndex - 1 <= i <= lastIndex.
 */
export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** Bytes an entry costs against size limits: its payload plus a fixed header. */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

/**
 * Keeps entries up to `maxBytes`, always at least one (so a single oversized
 * entry still makes progress).
 */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]!);
  let count = 1;
  for (; count < entries.length; count++) {
    size += entrySizeBytes(entries[count]!);
    if (size > maxBytes) break;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}

/**
 * An in-memory {@link LogStorage}. The simulator uses it as the node's disk
 * image, and a durable node uses it as the cache in front of its WAL (as etcd
 * keeps every entry since the last snapshot in memory).
 */
export class MemoryStorage implements LogStorage {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  /** #entries[0] is a dummy holding the snapshot's index and term. */
  #entries: Entry[];

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.#snapshot = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
    this.#entries = [dummy(0, 0)];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  setHardState(hardState: HardState): void {
    this.#hardState = hardState;
  }

  hardState(): HardState {
    return this.#hardState;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#entries[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    return limitSize(this.#entries.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.#entries[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index - offset >= this.#entries.length) throw new UnavailableError(index, this.lastIndex());
    return this.#entries[index - offset]!.term;
  }

  firstIndex(): number {
    return this.#entries[0]!.index + 1;
  }

  lastIndex(): number {
    return this.#entries[0]!.index + this.#entries.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the whole log with `snapshot` (a follower installing one). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index < this.#snapshot.metadata.index) {
      throw new SnapshotOutOfDateError(snapshot.metadata.index, this.#snapshot.metadata.index);
    }
    this.#snapshot = snapshot;
    this.#entries = [dummy(snapshot.metadata.index, snapshot.metadata.term)];
  }

  /**
   * Records a snapshot of the state machine at `index` (<= applied) without
   * dropping entries; call `compact` afterwards to release them.
   */
  createSnapshot(index: number, confState: ConfState, data: SnapshotData): Snapshot {
    if (index <= this.#snapshot.metadata.index) {
      throw new SnapshotOutOfDateError(index, this.#snapshot.metadata.index);
    }
    const term = this.term(index);
    this.#snapshot = { metadata: { index, term, confState }, data };
    return this.#snapshot;
  }

  /** Drops entries up to and including `index`. */
  compact(index: number): void {
    const offset = this.#entries[0]!.index;
    if (index <= offset) throw new CompactedError(index, offset + 1);
    assert(index <= this.lastIndex(), `compact(${index}) beyond last index ${this.lastIndex()}`);
    const kept = this.#entries.slice(index - offset);
    kept[0] = dummy(index, kept[0]!.term);
    this.#entries = kept;
  }

  /**
   * Appends entries; an entry at an already stored index replaces it and
   * every entry after it (a new leader overwrote an uncommitted suffix).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // entirely compacted already
    const usable = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = usable[0]!.index - this.#entries[0]!.index;
    assert(offset <= this.#entries.length, `gap in log: appending ${usable[0]!.index} after ${this.lastIndex()}`);
    this.#entries.length = offset;
    for (const entry of usable) this.#entries.push(entry);
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: 0, data: new Uint8Array(0) };
}
