import { AlarmSet } from './alarms.js';
import { assert } from './assert.js';
import { AuthState } from './auth-state.js';
import { MalformedBytesError } from './errors.js';
import { type KeyEntry, KeyIndex } from './key-index.js';
import { KeyMap } from './key-map.js';
import { KvStore, recordBytes } from './kv-store.js';
import { LeaseIndex } from './lease-index.js';
import { IncrementalMergeSort } from './merge-sort.js';
import type { KvRecord } from './record.js';
import { compareRevisions } from './revision.js';
import { SnapshotDecoder, type SnapshotHeader } from './snapshot.js';
import { SortedIndex } from './sorted-index.js';

/** The state a restore built, for the state machine to take over in one step. */
export interface RestoredState {
  readonly appliedIndex: number;
  readonly kv: KvStore;
  readonly alarms: AlarmSet;
  readonly auth: AuthState;
}

type Phase = 'records' | 'sort' | 'check' | 'done';

/**
 * Builds a store from snapshot bytes a bounded amount of work at a time:
 * records are decoded and indexed by key as they arrive (they come by key,
 * then revision, so the key index is appended to, never sorted), the
 * revision-ordered log is sorted incrementally, then checked for two records
 * at one revision. Each `step(workMax)` does about `workMax` units (one unit
 * is one record decoded, or one record moved by the sort), so a caller can
 * run other events between steps; one call with an infinite budget is a
 * one-shot restore. The same code serves both, so the bytes decode to the
 * same state whichever way they are driven.
 *
 * Nothing is visible until the last step returns true: the result is then
 * taken over whole (StoreStateMachine.beginRestore), never half-built.
 * Throws MalformedBytesError from any step.
 */
export class SnapshotRestore {
  readonly #decoder: SnapshotDecoder;
  #header: SnapshotHeader | undefined;
  #phase: Phase = 'records';
  readonly #leases = new LeaseIndex();
  readonly #byKey = new KeyMap<KeyEntry>();
  readonly #ordered = new SortedIndex<KeyEntry>();
  /** Every record, by key then revision while decoding; the sort's buffer afterwards. */
  readonly #records: KvRecord[] = [];
  /** The key whose records are arriving (its lease link waits for its latest record). */
  #current: KeyEntry | undefined;
  #usedBytes = 0;
  #sort: IncrementalMergeSort<KvRecord> | undefined;
  /** Records of the sorted log checked for a shared revision so far. */
  #checked = 1;
  #log: KvRecord[] = [];
  #result: RestoredState | undefined;

  constructor(bytes: Uint8Array) {
    this.#decoder = new SnapshotDecoder(bytes);
  }

  /** Records decoded so far (progress for logs and tests). */
  get recordsDecoded(): number {
    return this.#records.length;
  }

  /** The restored state; only once `step` returned true. */
  get result(): RestoredState {
    assert(this.#result !== undefined, 'SnapshotRestore: not done');
    return this.#result;
  }

  /** Works on for about `workMax` units (at least one); returns true once the state is built. */
  step(workMax: number): boolean {
    const budget = Math.max(1, workMax);
    let work = 0;
    while (this.#phase !== 'done' && work < budget) {
      const left = budget - work;
      switch (this.#phase) {
        case 'records':
          work += this.#decodeRecords(left);
          break;
        case 'sort':
          work += this.#sortLog(left);
          break;
        case 'check':
          work += this.#checkLog(left);
          break;
      }
    }
    return this.#phase === 'done';
  }

  #decodeRecords(recordsMax: number): number {
    if (this.#header === undefined) {
      this.#header = this.#decoder.header();
      for (const lease of this.#header.leases) this.#leases.grant(lease.id, lease.ttlSeconds);
    }
    const batch = this.#decoder.records(recordsMax);
    for (const record of batch) this.#add(record);
    if (this.#decoder.recordsLeft === 0) {
      this.#decoder.finish();
      this.#linkLease(this.#current);
      this.#sort = new IncrementalMergeSort(this.#records, compareRevisions);
      this.#phase = 'sort';
    }
    return Math.max(1, batch.length);
  }

  #add(record: KvRecord): void {
    const current = this.#current;
    this.#records.push(record);
    this.#usedBytes += recordBytes(record);
    if (current !== undefined && current.key === record.key) {
      if (current instanceof KeyIndex) {
        current.push(record);
        return;
      }
      // A key's second record: its lone record gives way to a KeyIndex (KeyEntry), as in KvStore.append.
      const grown = new KeyIndex(current, record);
      this.#current = grown;
      this.#byKey.set(record.key, grown);
      this.#ordered.replace(grown);
      return;
    }
    this.#linkLease(current);
    this.#current = record;
    this.#byKey.set(record.key, record);
    this.#ordered.appendSorted(record);
  }

  #linkLease(keyIndex: KeyEntry | undefined): void {
    if (keyIndex !== undefined) this.#leases.relink(keyIndex.key, undefined, keyIndex.latest());
  }

  #sortLog(workMax: number): number {
    const sort = this.#sort!;
    if (sort.step(workMax)) {
      this.#log = sort.sorted;
      this.#sort = undefined;
      this.#phase = 'check';
    }
    return workMax; // the sort used about that much (less only when it finished: this step ends a little early)
  }

  /** Two records at one revision (different keys: the decoder already ordered each key's) are adjacent once sorted. */
  #checkLog(workMax: number): number {
    const log = this.#log;
    const end = Math.min(log.length, this.#checked + workMax);
    for (let i = this.#checked; i < end; i++) {
      if (compareRevisions(log[i - 1]!, log[i]!) === 0) throw new MalformedBytesError('snapshot', 'two records share a revision');
    }
    const work = Math.max(1, end - this.#checked);
    this.#checked = end;
    if (end >= log.length) this.#build();
    return work;
  }

  #build(): void {
    const header = this.#header!;
    const alarms = new AlarmSet();
    alarms.load(header.alarms);
    const kv = new KvStore({
      byKey: this.#byKey,
      ordered: this.#ordered,
      log: this.#log,
      usedBytes: this.#usedBytes,
      currentRevision: header.currentRevision,
      compactRevision: header.compactRevision,
      leases: this.#leases,
    });
    this.#result = { appliedIndex: header.appliedIndex, kv, alarms, auth: header.auth ? AuthState.fromSnapshot(header.auth) : new AuthState() };
    this.#phase = 'done';
  }
}
