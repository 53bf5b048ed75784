import type { ByteString } from './bytes.js';
import type { KvRecord } from './record.js';
import { upperBoundByMain } from './revision.js';

/**
 * The history of one key (etcd's keyIndex): its records in revision order.
 * etcd groups them into generations, each ending in a tombstone; here every
 * record carries its own createRevision and version, so the generations are
 * implicit and reads at a revision are one binary search.
 */
export class KeyIndex {
  readonly key: ByteString;
  /** Created holding its first record: a one-element literal has room for one, where [] would grow to 17 slots. */
  readonly records: KvRecord[];

  constructor(first: KvRecord) {
    this.key = first.key;
    this.records = [first];
  }

  /** The newest record, put or tombstone. */
  latest(): KvRecord | undefined {
    return this.records[this.records.length - 1];
  }

  /** The put visible at `revision` (the newest record with main <= revision), or undefined if absent or deleted. */
  at(revision: number): KvRecord | undefined {
    const newest = this.records[this.records.length - 1];
    const record = newest !== undefined && newest.main <= revision ? newest : this.records[upperBoundByMain(this.records, revision) - 1];
    return record === undefined || record.tombstone ? undefined : record;
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
    const position = upperBoundByMain(this.records, revision) - 1;
    if (position < 0) return this.records.length === 0;
    const visible = this.records[position]!;
    const keepFrom = visible.tombstone && visible.main < revision ? position + 1 : position;
    if (keepFrom > 0) this.records.splice(0, keepFrom);
    return this.records.length === 0;
  }
}
