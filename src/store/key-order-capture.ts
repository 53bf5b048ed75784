import { assert } from './assert.js';
import type { KeyEntry, KeyIndex } from './key-index.js';
import type { KvRecord } from './record.js';

/** Records handed out one at a time, in order, `length` in all: what a snapshot encoder pulls. */
export interface RecordCursor {
  readonly length: number;
  /** The next record; undefined after the last. */
  next(): KvRecord | undefined;
  /** Lets go of what the cursor holds; it hands out nothing more. Idempotent. */
  release(): void;
}

/**
 * Every record a store held at one moment, by key then revision (the
 * snapshot order), walked later while the store goes on applying.
 *
 * Why: building that list at once (KvStore.recordsByKey) visits every key
 * and every record through two pointers each. At 1.26M keys that one
 * synchronous pass took 196 ms of a member's event loop in a CPU profile of
 * bench/scale, at every periodic snapshot and every defragment. A capture
 * copies only the key order (the sorted index's chunks hold it in
 * contiguous arrays) and reads each key's records when the encoder reaches
 * it, which the encoder does a chunk at a time, between other work.
 *
 * Why it stays as captured:
 * - a key's records are in revision order, and later writes only push
 *   newer ones (main above `revision`, which the walk stops at) or pop those
 *   of a txn that rolls back (newer still);
 * - a key first written later is not in the captured order;
 * - compaction is the one change that rewrites a key's records in place
 *   (KeyIndex.compact), and the store calls {@link preserve} first, so the
 *   walk reads the records as they were; a key held as its one record
 *   (KeyEntry) that gets a second one is swapped for a new KeyIndex, and
 *   the capture keeps the record it holds;
 * - a restore replaces the store whole and leaves the old key indexes alone.
 * The store settles any compaction under way before it captures, so the
 * key order and the record count agree; `next()` checks the count at the end.
 */
export class KeyOrderCapture implements RecordCursor {
  readonly length: number;
  readonly #revision: number;
  readonly #keys: readonly KeyEntry[];
  /** Records of keys a compaction changed since the capture, as they were at the capture. */
  readonly #preserved = new Map<KeyIndex, readonly KvRecord[]>();
  readonly #onRelease: (capture: KeyOrderCapture) => void;
  #key = 0;
  #position = 0;
  #handedOut = 0;
  #released = false;

  /** @internal KvStore.captureByKey builds it. */
  constructor(keys: readonly KeyEntry[], recordCount: number, revision: number, onRelease: (capture: KeyOrderCapture) => void) {
    this.#keys = keys;
    this.length = recordCount;
    this.#revision = revision;
    this.#onRelease = onRelease;
  }

  next(): KvRecord | undefined {
    if (this.#released) return undefined;
    const keys = this.#keys;
    while (this.#key < keys.length) {
      const keyIndex = keys[this.#key]!;
      const preserved = this.#preserved.size === 0 ? undefined : this.#preserved.get(keyIndex as KeyIndex);
      const record = preserved === undefined ? keyIndex.recordAt(this.#position) : preserved[this.#position];
      if (record !== undefined && record.main <= this.#revision) {
        this.#position++;
        this.#handedOut++;
        return record;
      }
      this.#key++;
      this.#position = 0;
    }
    assert(this.#handedOut === this.length, `KeyOrderCapture: walked ${this.#handedOut} records of the ${this.length} captured`);
    this.release();
    return undefined;
  }

  /** @internal KvStore calls this before a compaction rewrites `keyIndex`'s records in place (a key's lone record, held as its entry, is never rewritten). */
  preserve(keyIndex: KeyIndex): void {
    if (this.#released || keyIndex.first()!.main > this.#revision) return; // a key first written after the capture is not in it
    if (!this.#preserved.has(keyIndex)) this.#preserved.set(keyIndex, keyIndex.toArray());
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#preserved.clear();
    this.#onRelease(this);
  }
}
