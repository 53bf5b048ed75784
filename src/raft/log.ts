import { assert } from './assert.js';
import { ConfigLog } from './config-log.js';
import { CompactedError, UnavailableError } from './errors.js';
import type { LogStorage } from './storage.js';
import { entrySizeBytes, limitSize } from './storage.js';
import { Unstable } from './unstable.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The whole log as the core sees it: stable entries (through LogStorage),
 * the unstable tail, and the committed and applied marks, with
 * applied <= committed <= lastIndex.
 */
export class RaftLog {
  readonly storage: LogStorage;
  readonly unstable: Unstable;
  readonly config: ConfigLog;
  committed: number;
  applied: number;

  constructor(storage: LogStorage, applied: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    const { confState } = storage.initialState();
    this.config = new ConfigLog(first - 1, confState);
    if (last >= first) this.config.append(storage.entries(first, last + 1, Number.POSITIVE_INFINITY));
    if (applied > 0) this.appliedTo(Math.max(applied, this.applied));
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, 'term of the last index must be known');
    return term;
  }

  /** Term of the entry at `index`, or undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const unstable = this.unstable.maybeTerm(index);
    if (unstable !== undefined) return unstable;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return undefined;
      throw error;
    }
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** True if a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends a leader's entries that follow (`index`, `logTerm`). Returns the
   * index of the last new entry, or undefined if the log does not match there.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    // Only up to what was just verified to match the leader's log.
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries (which may replace an uncommitted suffix); returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, `appending after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    this.config.append(entries);
    return this.lastIndex();
  }

  /**
   * Index of the first entry that conflicts with this log (same index,
   * different term) or is new; 0 if every entry is already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The last index <= `index` whose term is <= `term`, with that term: where
   * a log whose entry at `index` has term `term` may first match this one.
   * Used for fast backtracking on both sides of a rejected append.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  hasNextCommittedEntries(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Entries from `lo` to the end, limited to `maxBytes` (at least one). */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** [lo, hi) across stable storage and the unstable tail; throws CompactedError below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo === hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    assert(hi <= this.lastIndex() + 1, `slice [${lo},${hi}) beyond last index ${this.lastIndex()}`);
    const result: Entry[] = [];
    const split = this.unstable.offset;
    if (lo < split) {
      const stable = this.storage.entries(lo, Math.min(hi, split), maxBytes);
      for (const entry of stable) result.push(entry);
      // Storage stopped early for size: do not append unstable entries after a gap.
      if (stable.length < Math.min(hi, split) - lo) return result;
    }
    if (hi > split) {
      const unstable = this.unstable.slice(Math.max(lo, split), hi);
      if (result.length === 0) return limitSize(unstable, maxBytes);
      let size = 0;
      for (const entry of result) size += entrySizeBytes(entry);
      for (const entry of unstable) {
        size += entrySizeBytes(entry);
        if (size > maxBytes) break;
        result.push(entry);
      }
    }
    return result;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(index: number): void {
    if (this.committed >= index) return;
    assert(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapshotTo(index: number): void {
    this.unstable.stableSnapshotTo(index);
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
    this.config.restore(snapshot.metadata.index, snapshot.metadata.confState);
  }
}

