import type { ByteString } from './bytes.js';
import { fromByteString } from './bytes.js';
import type { Revision } from './revision.js';
import type { KeyValue } from './types.js';

/**
 * One stored write of one key: a put, or a tombstone (version 0) that ends
 * the key's current generation. Immutable; shared by the key's index, the
 * revision-ordered log and events. This is what etcd's bbolt backend holds
 * under the revision key.
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
