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
 * Where the log's durable copy of an entry can be read back from (a member's
 * WAL), for entries whose data {@link MemoryStorage.spill} let go of. It is
 * the caller's I/O behind an interface, so the core stays free of it.
 * `entry(index)` returns the entry as it was last stored at `index`, or
 * throws (a storage error: the member fails, as on a failed WAL read at
 * startup).
 */
export interface EntrySource {
  /** True when entry `index` can be read back (spill stops before one that cannot). */
  canRead(index: number): boolean;
  entry(index: number): Entry;
}

/** An entry whose data was let go of: its index, term and type stay, and the size it counts for. */
interface SpilledEntry extends Entry {
  readonly spilledBytes: number;
}

const NO_DATA = new Uint8Array(0);

/**
 * An in-memory {@link LogStorage}. The simulator uses it as the node's disk
 * image, and a durable node uses it as the cache in front of its WAL (as etcd
 * keeps every entry since the last snapshot in memory).
 *
 * With an {@link EntrySource}, the oldest entries' data can be let go of
 * ({@link spill}): their index, term and type stay (terms are what the core
 * reads most), and `entries()` reads their data back from the source when a
 * caller asks for them (a follower catching up). A member spills what it
 * has applied beyond a byte budget, so the log since the last snapshot no
 * longer costs its bytes in memory (fill A of bench/scale wrote 256 MiB of
 * 1 MiB puts between snapshots, held twice: in the store and here).
 * Spilled entries are always a prefix of the log.
 */
export class MemoryStorage implements LogStorage {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  /** #entries[0] is a dummy holding the snapshot's index and term. */
  #entries: Entry[];
  #source: EntrySource | undefined;
  /** Entries at or below this index are {@link SpilledEntry} stubs (none when it is below the first index). */
  #spilledThrough = 0;
  /** entrySizeBytes of the entries held with their data (the dummy excluded). */
  #heldBytes = 0;
  #readBack = 0;

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
    if (lo > this.#spilledThrough) return limitSize(this.#entries.slice(lo - offset, hi - offset), maxBytes);
    return this.#entriesReadingBack(lo, hi, maxBytes);
  }

  /**
   * entries() over a range that starts among spilled entries: each is read
   * back from the source, and no more are read than `maxBytes` lets through
   * (their sizes are known without reading them).
   */
  #entriesReadingBack(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#entries[0]!.index;
    const result: Entry[] = [];
    let size = 0;
    for (let index = lo; index < hi; index++) {
      const held = this.#entries[index - offset]!;
      const bytes = this.entryBytes(index);
      if (result.length > 0 && size + bytes > maxBytes) break;
      size += bytes;
      if (index > this.#spilledThrough) {
        result.push(held);
        continue;
      }
      const entry = this.#source!.entry(index);
      this.#readBack++;
      assert(entry.index === index && entry.term === held.term && entry.type === held.type && entrySizeBytes(entry) === bytes, `entry ${index} read back does not match the log (term ${entry.term}, expected ${held.term})`);
      result.push(entry);
    }
    return result;
  }

  /** What entry `index` counts for against size limits (entrySizeBytes), held or spilled, without reading it back. */
  entryBytes(index: number): number {
    const entry = this.#entries[index - this.#entries[0]!.index];
    assert(entry !== undefined && index >= this.firstIndex(), `entryBytes(${index}) outside the log`);
    return index <= this.#spilledThrough ? (entry as SpilledEntry).spilledBytes : entrySizeBytes(entry);
  }

  /** Lets {@link spill} drop entries' data, to be read back from `source`. */
  setEntrySource(source: EntrySource): void {
    this.#source = source;
  }

  /** Bytes (entrySizeBytes) of the entries held with their data. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Entries read back from the source so far. */
  get entriesReadBack(): number {
    return this.#readBack;
  }

  /** The last spilled index (below firstIndex() when none is). */
  get spilledThrough(): number {
    return this.#spilledThrough;
  }

  /**
   * Lets go of the data of the oldest held entries, up to index `through`
   * at most, until at most `keepBytes` are held. Returns how many entries
   * were spilled (none without an entry source).
   */
  spill(through: number, keepBytes: number): number {
    if (this.#source === undefined) return 0;
    const offset = this.#entries[0]!.index;
    const last = Math.min(through, this.lastIndex());
    let index = Math.max(this.#spilledThrough, offset) + 1;
    const first = index;
    const source = this.#source;
    for (; index <= last && this.#heldBytes > keepBytes && source.canRead(index); index++) {
      const entry = this.#entries[index - offset]!;
      const spilledBytes = entrySizeBytes(entry);
      const stub: SpilledEntry = { index: entry.index, term: entry.term, type: entry.type, data: NO_DATA, spilledBytes };
      this.#entries[index - offset] = stub;
      this.#heldBytes -= spilledBytes;
      this.#spilledThrough = index;
    }
    return index - first;
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
    this.#spilledThrough = 0;
    this.#heldBytes = 0;
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
    for (let dropped = Math.max(this.#spilledThrough, offset) + 1; dropped <= index; dropped++) {
      this.#heldBytes -= entrySizeBytes(this.#entries[dropped - offset]!);
    }
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
    // Replaced entries: a spilled one was applied, so committed, and a committed entry is never replaced.
    assert(usable[0]!.index > this.#spilledThrough, `append at ${usable[0]!.index} replaces spilled entries (through ${this.#spilledThrough})`);
    for (let position = offset; position < this.#entries.length; position++) this.#heldBytes -= entrySizeBytes(this.#entries[position]!);
    this.#entries.length = offset;
    for (const entry of usable) {
      this.#entries.push(entry);
      this.#heldBytes += entrySizeBytes(entry);
    }
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: 0, data: new Uint8Array(0) };
}
