import type { ByteString } from './bytes.js';
import type { KvRecord } from './record.js';
import { upperBoundByMain } from './revision.js';

const NO_RECORDS: readonly KvRecord[] = Object.freeze([]);

/**
 * What the store's key maps (KeyMap, SortedIndex) hold for a key: its one
 * record while it has one, its KeyIndex from the second record on. Both
 * answer the same reads (`at`, `latest`, `recordAt`, `before`, ...); only
 * writes tell them apart (KvStore.append swaps a record for a KeyIndex).
 * Why: a KeyIndex is one more heap object per key, 40 bytes on this
 * 64-bit Node, for what most keys of a large store never need
 * (`node --expose-gc --import tsx bench/store.ts 300000`, keys written once
 * with 100-byte values: 368 bytes of heap a key with a KeyIndex each, 329
 * without).
 */
export type KeyEntry = KvRecord | KeyIndex;

/**
 * The history of one key (etcd's keyIndex): its records in revision order.
 * etcd groups them into generations, each ending in a tombstone; here every
 * record carries its own createRevision and version, so the generations are
 * implicit and reads at a revision are one binary search.
 *
 * The store holds a key with one record as that record (KeyEntry, above),
 * and a KeyIndex from the second record on. A KeyIndex left with one
 * record (compacted, or a txn's second write rolled back) holds it directly
 * rather than in an array: an array is two more heap objects (the JSArray
 * and its elements) and 56 bytes or more per key, and the garbage
 * collector's marking work grows with the number of objects (heap snapshot
 * of a store of 100-byte values: 415 bytes of heap per key with the array).
 */
export class KeyIndex {
  readonly key: ByteString;
  #records: KvRecord | KvRecord[];

  /** A key's history from its records, oldest first (one or more, of one key, in revision order). */
  constructor(first: KvRecord, ...later: KvRecord[]) {
    this.key = first.key;
    this.#records = later.length === 0 ? first : [first, ...later];
  }

  /** How many records the key holds. */
  get count(): number {
    const records = this.#records;
    return Array.isArray(records) ? records.length : 1;
  }

  /** The record at `position` (0 is the oldest), if any. */
  recordAt(position: number): KvRecord | undefined {
    const records = this.#records;
    if (Array.isArray(records)) return records[position];
    return position === 0 ? records : undefined;
  }

  /** The oldest record kept. */
  first(): KvRecord | undefined {
    return this.recordAt(0);
  }

  /** The newest record, put or tombstone. */
  latest(): KvRecord | undefined {
    const records = this.#records;
    return Array.isArray(records) ? records[records.length - 1] : records;
  }

  /** The records, oldest first, in an array of their own (a copy). */
  toArray(): KvRecord[] {
    const records = this.#records;
    return Array.isArray(records) ? records.slice() : [records];
  }

  /** Appends a newer record (the caller keeps revision order). */
  push(record: KvRecord): void {
    const records = this.#records;
    if (Array.isArray(records)) {
      if (records.length === 0) this.#records = record;
      else records.push(record);
    } else {
      this.#records = [records, record];
    }
  }

  /** Removes and returns the newest record. */
  pop(): KvRecord | undefined {
    const records = this.#records;
    if (!Array.isArray(records)) {
      this.#records = NO_RECORDS as KvRecord[]; // frozen: nothing pushes onto it (push replaces an empty array)
      return records;
    }
    if (records.length === 0) return undefined;
    return records.pop();
  }

  /** The put visible at `revision` (the newest record with main <= revision), or undefined if absent or deleted. */
  at(revision: number): KvRecord | undefined {
    const records = this.#records;
    let record: KvRecord | undefined;
    if (!Array.isArray(records)) record = records.main <= revision ? records : undefined;
    else {
      const newest = records[records.length - 1];
      record = newest !== undefined && newest.main <= revision ? newest : records[upperBoundByMain(records, revision) - 1];
    }
    return record === undefined || record.tombstone ? undefined : record;
  }

  /** The record just before `record`, if `record` is this key's and not its oldest. */
  before(record: KvRecord): KvRecord | undefined {
    const records = this.#records;
    if (!Array.isArray(records)) return undefined;
    const position = records.indexOf(record);
    return position > 0 ? records[position - 1] : undefined;
  }

  /**
   * Forgets what no read or watch at `revision` or later can see: everything
   * before the record visible at `revision`, and that record too if it is a
   * tombstone older than `revision`. A tombstone *at* `revision` stays (until
   * a later compaction): a watch may start at the compaction revision itself
   * (etcd allows it, and a lagging watcher may be exactly there), and
   * dropping it lost that DELETE event silently, a gap in retained history.
   * Returns true when nothing is left (the key can go).
   */
  compact(revision: number): boolean {
    const records = this.#records;
    if (!Array.isArray(records)) {
      if (records.tombstone && records.main < revision) this.#records = NO_RECORDS as KvRecord[];
      return this.count === 0;
    }
    const position = upperBoundByMain(records, revision) - 1;
    if (position < 0) return records.length === 0;
    const visible = records[position]!;
    const keepFrom = visible.tombstone && visible.main < revision ? position + 1 : position;
    if (keepFrom > 0) records.splice(0, keepFrom);
    if (records.length === 1) this.#records = records[0]!; // back to one record held directly
    return records.length === 0;
  }
}
