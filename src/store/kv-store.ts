import { assert } from './assert.js';
import type { ByteString, KeyRange } from './bytes.js';
import { CompactedError, FutureRevisionError } from './errors.js';
import { type KeyEntry, KeyIndex } from './key-index.js';
import { KeyMap } from './key-map.js';
import { KeyOrderCapture } from './key-order-capture.js';
import { LeaseIndex } from './lease-index.js';
import { RECORD_OVERHEAD_BYTES, REVISION_MAX } from './limits.js';
import { KvRecord } from './record.js';
import { lowerBoundByMain, upperBoundByMain } from './revision.js';
import { SortedIndex } from './sorted-index.js';

/** One write a command made, with the key's record just before it (for prev_kv and events). */
export interface Change {
  readonly record: KvRecord;
  readonly previous: KvRecord | undefined;
}

/**
 * The multi-version store (etcd's mvcc store): the current revision, the
 * compacted revision, every retained record in revision order (etcd's
 * backend, keyed by revision) and a key index (etcd's treeIndex) of each
 * key's records, in a KeyMap (a Map split by key hash) for point lookups and a SortedIndex for ranges.
 *
 * Writes go through a {@link WriteTxn}, which appends records at revision
 * current + 1 and either commits them (the revision advances) or undoes
 * them, so a command that fails half-way leaves no trace.
 */
export class KvStore {
  readonly #byKey: KeyMap<KeyEntry>;
  #ordered: SortedIndex<KeyEntry>;
  /** Every retained record, ascending by (main, sub). */
  #log: KvRecord[];
  #currentRevision: number;
  #compactRevision: number;
  readonly leases: LeaseIndex;
  #writing = false;
  #usedBytes: number;
  /** The compaction whose records are still being dropped, if any (see compactStep). */
  #compaction: Compaction | undefined;
  /** Captures still being walked: a compaction preserves a key's records for them before it rewrites them. */
  readonly #captures = new Set<KeyOrderCapture>();

  /** An empty store, or one a restore built (restore.ts checked every part against the others). */
  constructor(restored?: RestoredKv) {
    this.#byKey = restored?.byKey ?? new KeyMap();
    this.#ordered = restored?.ordered ?? new SortedIndex();
    this.#log = restored?.log ?? [];
    this.#currentRevision = restored?.currentRevision ?? 1;
    this.#compactRevision = restored?.compactRevision ?? 0;
    this.leases = restored?.leases ?? new LeaseIndex();
    this.#usedBytes = restored?.usedBytes ?? 0;
  }

  /** The revision of the last committed write; 1 for an empty store, as etcd. */
  get currentRevision(): number {
    return this.#currentRevision;
  }

  /** Reads below this revision fail with CompactedError; 0 when never compacted. */
  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** What the retained records count against the space quota. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  get keyCount(): number {
    return this.#ordered.size;
  }

  /** Every retained record in revision order. Read-only. */
  get log(): readonly KvRecord[] {
    return this.#log;
  }

  /**
   * The revision a read of `requested` sees, as etcd's rangeKeys: <= 0 means
   * `current`; older than the compacted revision or newer than `current` fails.
   */
  resolveReadRevision(requested: number, current: number): number {
    if (requested > current) throw new FutureRevisionError(requested, current);
    if (requested <= 0) return current;
    if (requested < this.#compactRevision) throw new CompactedError(requested, this.#compactRevision);
    return requested;
  }

  /** The put visible for `key` at `revision`, if any. */
  get(key: ByteString, revision: number): KvRecord | undefined {
    return this.#byKey.get(key)?.at(revision);
  }

  /** The history of `key` (its lone record or its KeyIndex), if it has any: a put reads it and hands it to append, one lookup for both. */
  entryOf(key: ByteString): KeyEntry | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Calls `visit` for each key live at `revision` within `range`, in key
   * order, until it returns false. `keyIndex` is the key's history, for a
   * write of the same key in the same open txn (`WriteTxn.delete`): it
   * spares a second lookup by key.
   */
  scan(range: KeyRange, revision: number, visit: (record: KvRecord, keyIndex: KeyEntry) => boolean): void {
    this.#ordered.scan(range.start, range.end, (keyIndex) => {
      const record = keyIndex.at(revision);
      return record === undefined ? true : visit(record, keyIndex);
    });
  }

  /**
   * Calls `visit` for each key within `range` that has any history, in key
   * order, with the record live at `revision` (undefined for a key deleted
   * or not yet written then), until it returns false: a walk whose length
   * counts every key it passes (RangeDeletion's steps), not only live ones.
   */
  walk(range: KeyRange, revision: number, visit: (record: KvRecord | undefined, keyIndex: KeyEntry) => boolean): void {
    this.#ordered.scan(range.start, range.end, (keyIndex) => visit(keyIndex.at(revision), keyIndex));
  }

  /** The record of `key` just before `record` (for prev_kv of historical events); undefined if compacted away. */
  previousOf(record: KvRecord): KvRecord | undefined {
    return this.#byKey.get(record.key)?.before(record);
  }

  /** Positions in the log of records with main >= revision. */
  logPositionFrom(revision: number): number {
    return lowerBoundByMain(this.#log, revision);
  }

  beginWrite(): WriteTxn {
    assert(!this.#writing, 'beginWrite: a write is already open');
    assert(this.#currentRevision < REVISION_MAX, 'beginWrite: revision space exhausted');
    this.#writing = true;
    return new WriteTxn(this, this.#currentRevision + 1);
  }

  /**
   * Compacts at `revision`: reads below it fail from now on, and every
   * record no read at `revision` or later can see is dropped, at once or,
   * with `inSteps`, by {@link compactStep} calls between other work (see
   * there). The caller has checked compactRevision < revision <= currentRevision.
   */
  compact(revision: number, inSteps = false): void {
    assert(revision > this.#compactRevision && revision <= this.#currentRevision, 'compact: revision out of order');
    this.settleCompaction();
    this.#compactRevision = revision;
    this.#compaction = { revision, log: this.#log, cut: upperBoundByMain(this.#log, revision), position: 0, kept: [], droppedBytes: 0 };
    if (!inSteps) this.settleCompaction();
  }

  /** True while a compaction's records are still being dropped (compact with `inSteps`). */
  get compacting(): boolean {
    return this.#compaction !== undefined;
  }

  /**
   * Drops the records of about `recordsMax` more log positions of the
   * compaction under way; returns true once it is done (or none runs).
   *
   * One pass over the compacted prefix: each key's history is compacted at
   * its first record there, and a record stays only if its key still holds
   * it first (compaction leaves at most the record visible at `revision` at
   * or below it); the quota's count loses what was dropped. The kept
   * records go to a new array, swapped in at the end with the records
   * appended meanwhile (all after the prefix): the old array never changes,
   * so a HashJob stepping over it keeps a consistent view.
   *
   * Why in steps: etcdctl check perf --load=l ends with one DeleteRange of
   * its ~160,000 keys and a compaction at it, and on every member that
   * compaction held the event loop for 0.2-0.7 s in one pass (0.71 s for
   * 500,000 deleted keys in `bench/store.ts`, alone): long enough, on the
   * leader, for its followers to elect. etcd likewise compacts its index
   * at once and its backend in batches. Reads meanwhile are unaffected: a
   * read at compactRevision or later sees the same record whether or not
   * the ones below it are gone yet.
   */
  compactStep(recordsMax: number): boolean {
    const job = this.#compaction;
    if (job === undefined) return true;
    const { log, revision, kept } = job;
    const end = Math.min(job.cut, job.position + recordsMax);
    for (let i = job.position; i < end; i++) {
      const record = log[i]!;
      const keyIndex = this.#byKey.get(record.key);
      // A lone record is never rewritten (compact only says whether the key can go): nothing to preserve.
      if (keyIndex instanceof KeyIndex && this.#captures.size > 0) for (const capture of this.#captures) capture.preserve(keyIndex);
      if (keyIndex !== undefined && keyIndex.compact(revision)) this.#forget(record.key);
      if (keyIndex !== undefined && keyIndex.first() === record) kept.push(record);
      else job.droppedBytes += recordBytes(record);
    }
    job.position = end;
    if (end < job.cut) return false;
    // Writes meanwhile were pushed onto this same array, after the prefix (their main is above `revision`).
    assert(this.#log === log, 'compactStep: the log was replaced during a compaction');
    for (let i = job.cut; i < log.length; i++) kept.push(log[i]!);
    this.#log = kept;
    this.#usedBytes -= job.droppedBytes;
    this.#compaction = undefined;
    return true;
  }

  /** Finishes a compaction under way at once: what reads the log whole (a snapshot's capture, a hash) calls this first. */
  settleCompaction(): void {
    this.compactStep(Number.POSITIVE_INFINITY);
  }

  /**
   * Every retained record by key, then revision (the snapshot order), as
   * they are now, walked later: see {@link KeyOrderCapture}. The caller
   * releases it (it releases itself once walked to the end); until then each
   * compaction copies the records of the keys it rewrites.
   */
  captureByKey(): KeyOrderCapture {
    assert(!this.#writing, 'captureByKey: a write is open');
    this.settleCompaction(); // the index and the log agree only once a compaction is done
    const keys = new Array<KeyEntry>(this.#ordered.size);
    let filled = 0;
    for (const chunk of this.#ordered.chunks()) {
      for (let i = 0; i < chunk.length; i++) keys[filled++] = chunk[i]!;
    }
    assert(filled === keys.length, 'captureByKey: the sorted index miscounts its keys');
    const capture = new KeyOrderCapture(keys, this.#log.length, this.#currentRevision, (released) => this.#captures.delete(released));
    this.#captures.add(capture);
    return capture;
  }

  /** Every retained record by key, then revision (the snapshot order), in one array built now: a capture walked at once. */
  recordsByKey(): KvRecord[] {
    const capture = this.captureByKey();
    const records = new Array<KvRecord>(capture.length);
    for (let i = 0; i < records.length; i++) records[i] = capture.next()!;
    assert(capture.next() === undefined, 'recordsByKey: the capture holds more records than it counted');
    return records;
  }

  // ---- used by WriteTxn only ----

  /**
   * @internal `known` is the key's history when the caller holds it (see
   * scan, entryOf), null when the caller knows the key has none; undefined:
   * it is looked up. A put has just looked its key up: it hands that over
   * rather than have the key map searched twice.
   */
  append(record: KvRecord, known?: KeyEntry | null): KvRecord | undefined {
    assert(known === undefined || known === null || known.key === record.key, 'append: the key index given is of another key');
    const keyIndex = known === undefined ? this.#byKey.get(record.key) : (known ?? undefined);
    const previous = keyIndex?.latest();
    if (keyIndex === undefined) {
      // A key's first record stands for its history (KeyEntry) until a second one comes.
      this.#byKey.set(record.key, record);
      this.#ordered.insert(record);
    } else if (keyIndex instanceof KeyIndex) {
      keyIndex.push(record);
    } else {
      const grown = new KeyIndex(keyIndex, record);
      this.#byKey.set(record.key, grown);
      this.#ordered.replace(grown);
    }
    this.#log.push(record);
    this.#usedBytes += recordBytes(record);
    this.leases.relink(record.key, previous, record);
    return previous;
  }

  /** @internal Undoes the newest append. */
  unappend(record: KvRecord): void {
    const keyIndex = this.#byKey.get(record.key);
    assert(keyIndex !== undefined && (keyIndex instanceof KeyIndex ? keyIndex.pop() : keyIndex) === record, 'unappend: not the newest record of its key');
    assert(this.#log.pop() === record, 'unappend: not the newest record of the log');
    this.#usedBytes -= recordBytes(record);
    // A KeyIndex left with one record stays one: swapping it back would cost a second search of the sorted index per rollback.
    const remaining = keyIndex instanceof KeyIndex && keyIndex.count > 0 ? keyIndex : undefined;
    this.leases.relink(record.key, record, remaining?.latest());
    if (remaining === undefined) this.#forget(record.key);
  }

  /** @internal */
  finishWrite(revision: number | undefined): void {
    if (revision !== undefined) this.#currentRevision = revision;
    this.#writing = false;
  }

  #forget(key: ByteString): void {
    this.#byKey.delete(key);
    assert(this.#ordered.remove(key), 'forget: key missing from the ordered index');
  }
}

/** A compaction under way: the prefix of `log` below `cut` is walked from `position`, the records it keeps gathered in `kept`. */
interface Compaction {
  readonly revision: number;
  readonly log: KvRecord[];
  readonly cut: number;
  position: number;
  readonly kept: KvRecord[];
  droppedBytes: number;
}

/** What a restore hands a new store: the parts of a KvStore, built from a snapshot's records. */
export interface RestoredKv {
  readonly byKey: KeyMap<KeyEntry>;
  readonly ordered: SortedIndex<KeyEntry>;
  /** Ascending by (main, sub), no two records at one revision. */
  readonly log: KvRecord[];
  readonly usedBytes: number;
  readonly currentRevision: number;
  readonly compactRevision: number;
  /** Granted leases with each key's latest record linked. */
  readonly leases: LeaseIndex;
}

export function recordBytes(record: KvRecord): number {
  return record.key.length + record.value.length + RECORD_OVERHEAD_BYTES;
}

/**
 * The writes of one command, all at revision `main` with subs 0, 1, 2, ...
 * Reads through `readRevision` see the writes made so far (as etcd's
 * storeTxnWrite). End with exactly one of commit() or rollback().
 */
export class WriteTxn {
  readonly #store: KvStore;
  readonly main: number;
  readonly #changes: Change[] = [];
  #open = true;
  #puts = 0;

  constructor(store: KvStore, main: number) {
    this.#store = store;
    this.main = main;
  }

  get changes(): readonly Change[] {
    return this.#changes;
  }

  /** How many of the changes are puts (the writes a space quota refuses). */
  get puts(): number {
    return this.#puts;
  }

  /** The revision reads inside this txn use: including this txn's writes once there are any. */
  get readRevision(): number {
    return this.#changes.length > 0 ? this.main : this.main - 1;
  }

  put(key: ByteString, value: ByteString, lease: bigint): Change {
    const entry = this.#store.entryOf(key);
    const live = entry?.at(this.readRevision);
    const createRevision = live === undefined ? this.main : live.createRevision;
    const version = live === undefined ? 1 : live.version + 1;
    this.#puts++;
    return this.#append(new KvRecord(key, this.main, this.#changes.length, value, createRevision, version, lease), entry ?? null);
  }

  /** Deletes a key that is live at readRevision; `keyIndex` is its history if the caller has it (see KvStore.scan). */
  delete(key: ByteString, keyIndex?: KeyEntry): Change {
    return this.#append(new KvRecord(key, this.main, this.#changes.length, '' as ByteString, 0, 0, 0n), keyIndex);
  }

  /** Makes the writes visible at revision `main`; returns the revision after the txn. */
  commit(): number {
    assert(this.#open, 'commit: txn already ended');
    this.#open = false;
    const wrote = this.#changes.length > 0;
    this.#store.finishWrite(wrote ? this.main : undefined);
    return wrote ? this.main : this.main - 1;
  }

  rollback(): void {
    assert(this.#open, 'rollback: txn already ended');
    this.#open = false;
    for (let i = this.#changes.length - 1; i >= 0; i--) this.#store.unappend(this.#changes[i]!.record);
    this.#changes.length = 0;
    this.#puts = 0;
    this.#store.finishWrite(undefined);
  }

  #append(record: KvRecord, keyIndex?: KeyEntry | null): Change {
    assert(this.#open, 'write after the txn ended');
    const previous = this.#store.append(record, keyIndex);
    const change = { record, previous };
    this.#changes.push(change);
    return change;
  }
}
