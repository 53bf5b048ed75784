import type { ByteString } from './bytes.js';
import { fromByteString } from './bytes.js';
import type { Revision } from './revision.js';
import type { KeyValue } from './types.js';

/**
 * One stored write of one key: a put, or a tombstone (version 0) that ends
 * the key's current generation. Immutable; shared by the key's index, the
 * revision-ordered log and events. This is what etcd's bbolt backend holds
 * under the revision key.
 *
 * A record is also the whole history of a key that has only it (most keys
 * of a store filled with fresh keys): the store's key maps hold the record
 * itself for such a key (KeyEntry in key-index.ts), and a KeyIndex only
 * from the key's second record on. So the record answers KeyIndex's reads
 * for a history of one (methods on the prototype: no memory per record).
 */
export class KvRecord implements Revision {
  constructor(
    readonly key: ByteString,
    readonly main: number,
    readonly sub: number,
    readonly value: ByteString,
    readonly createRevision: number,
    readonly version: number,
    readonly lease: bigint,
  ) {}

  get tombstone(): boolean {
    return this.version === 0;
  }

  // ---- the history of a key that has only this record (see KeyIndex for each) ----

  get count(): number {
    return 1;
  }

  recordAt(position: number): KvRecord | undefined {
    return position === 0 ? this : undefined;
  }

  first(): KvRecord {
    return this;
  }

  latest(): KvRecord {
    return this;
  }

  toArray(): KvRecord[] {
    return [this];
  }

  at(revision: number): KvRecord | undefined {
    return this.main <= revision && !this.tombstone ? this : undefined;
  }

  before(_record: KvRecord): KvRecord | undefined {
    return undefined;
  }

  /** KeyIndex.compact for a history of one, which never changes: true when the key can go (a tombstone older than `revision`). */
  compact(revision: number): boolean {
    return this.tombstone && this.main < revision;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** The public KeyValue of a put record, with fresh byte arrays. */
export function toKeyValue(record: KvRecord, keysOnly = false): KeyValue {
  return {
    key: fromByteString(record.key),
    createRevision: record.createRevision,
    modRevision: record.main,
    version: record.version,
    value: keysOnly ? EMPTY_BYTES.slice() : fromByteString(record.value),
    lease: record.lease,
  };
}
