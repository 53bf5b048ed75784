/**
 * Errors the store reports. Each has a stable `code` (never reused) that
 * callers and tests match on, never the message. `etcdMessage` is the
 * description etcd's gRPC layer sends for the same condition
 * (etcd/api/v3rpc/rpctypes), which etcd clients match on; the API layer maps
 * codes to gRPC/HTTP statuses in one place. The brand survives duplicate
 * installs of the package, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.store.error');

export abstract class StoreError extends Error {
  abstract readonly code: string;
  /** etcd's wire description for this condition ('' where etcd has none). */
  abstract readonly etcdMessage: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is StoreError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A read or watch asked for a revision older than the compacted one. */
export class CompactedError extends StoreError {
  readonly code = 'KEEL_STORE_COMPACTED';
  readonly etcdMessage = 'etcdserver: mvcc: required revision has been compacted';
  constructor(readonly revision: number, readonly compactRevision: number) {
    super(`mvcc: required revision has been compacted (asked ${revision}, compacted at ${compactRevision})`);
    this.name = 'CompactedError';
  }
}

/** A read or compaction asked for a revision beyond the current one. */
export class FutureRevisionError extends StoreError {
  readonly code = 'KEEL_STORE_FUTURE_REVISION';
  readonly etcdMessage = 'etcdserver: mvcc: required revision is a future revision';
  constructor(readonly revision: number, readonly currentRevision: number) {
    super(`mvcc: required revision is a future revision (asked ${revision}, current ${currentRevision})`);
    this.name = 'FutureRevisionError';
  }
}

/** A txn has more than TXN_OPS_MAX compares, success ops or failure ops. */
export class TooManyOpsError extends StoreError {
  readonly code = 'KEEL_STORE_TOO_MANY_OPS';
  readonly etcdMessage = 'etcdserver: too many operations in txn request';
  constructor(readonly count: number, readonly max: number) {
    super(`too many operations in txn request (${count} > ${max})`);
    this.name = 'TooManyOpsError';
  }
}

/** A txn writes one key twice in one branch (etcd's checkIntervals). */
export class DuplicateKeyError extends StoreError {
  readonly code = 'KEEL_STORE_DUPLICATE_KEY';
  readonly etcdMessage = 'etcdserver: duplicate key given in txn request';
  constructor() {
    super('duplicate key given in txn request');
    this.name = 'DuplicateKeyError';
  }
}

/** A put with ignore_value or ignore_lease names a key that does not exist. */
export class KeyNotFoundError extends StoreError {
  readonly code = 'KEEL_STORE_KEY_NOT_FOUND';
  readonly etcdMessage = 'etcdserver: key not found';
  constructor() {
    super('key not found');
    this.name = 'KeyNotFoundError';
  }
}

/** A request (or compare) has an empty key. */
export class EmptyKeyError extends StoreError {
  readonly code = 'KEEL_STORE_EMPTY_KEY';
  readonly etcdMessage = 'etcdserver: key is not provided';
  constructor() {
    super('key is not provided');
    this.name = 'EmptyKeyError';
  }
}

/** A put sets ignore_value and carries a value. */
export class ValueProvidedError extends StoreError {
  readonly code = 'KEEL_STORE_VALUE_PROVIDED';
  readonly etcdMessage = 'etcdserver: value is provided';
  constructor() {
    super('value is provided');
    this.name = 'ValueProvidedError';
  }
}

/** A put sets ignore_lease and carries a lease. */
export class LeaseProvidedError extends StoreError {
  readonly code = 'KEEL_STORE_LEASE_PROVIDED';
  readonly etcdMessage = 'etcdserver: lease is provided';
  constructor() {
    super('lease is provided');
    this.name = 'LeaseProvidedError';
  }
}

/** A put or revoke names a lease that was never granted or is revoked. */
export class LeaseNotFoundError extends StoreError {
  readonly code = 'KEEL_STORE_LEASE_NOT_FOUND';
  readonly etcdMessage = 'etcdserver: requested lease not found';
  constructor(readonly lease: bigint) {
    super(`requested lease not found (${lease})`);
    this.name = 'LeaseNotFoundError';
  }
}

/** A grant names a lease id that is already granted. */
export class LeaseExistsError extends StoreError {
  readonly code = 'KEEL_STORE_LEASE_EXISTS';
  readonly etcdMessage = 'etcdserver: lease already exists';
  constructor(readonly lease: bigint) {
    super(`lease already exists (${lease})`);
    this.name = 'LeaseExistsError';
  }
}

/** Too many leases are granted (LEASES_MAX). */
export class TooManyLeasesError extends StoreError {
  readonly code = 'KEEL_STORE_TOO_MANY_LEASES';
  readonly etcdMessage = '';
  constructor(readonly max: number) {
    super(`too many leases (max ${max})`);
    this.name = 'TooManyLeasesError';
  }
}

/** An encoded command is larger than REQUEST_BYTES_MAX. */
export class RequestTooLargeError extends StoreError {
  readonly code = 'KEEL_STORE_REQUEST_TOO_LARGE';
  readonly etcdMessage = 'etcdserver: request is too large';
  constructor(readonly sizeBytes: number, readonly sizeBytesMax: number) {
    super(`request is too large (${sizeBytes} > ${sizeBytesMax} bytes)`);
    this.name = 'RequestTooLargeError';
  }
}

/** Txns nested deeper than TXN_DEPTH_MAX (a keel bound; etcd has none). */
export class TxnTooDeepError extends StoreError {
  readonly code = 'KEEL_STORE_TXN_TOO_DEEP';
  readonly etcdMessage = 'etcdserver: too many operations in txn request';
  constructor(readonly depthMax: number) {
    super(`txn nested deeper than ${depthMax}`);
    this.name = 'TxnTooDeepError';
  }
}

/** A request field is out of its domain (negative lease ttl, zero lease id, ...). */
export class InvalidRequestError extends StoreError {
  readonly code = 'KEEL_STORE_INVALID_REQUEST';
  readonly etcdMessage = '';
  constructor(readonly reason: string) {
    super(`invalid request: ${reason}`);
    this.name = 'InvalidRequestError';
  }
}

/** A read-only entry point (readTxn) was given a request that writes. */
export class NotReadOnlyError extends StoreError {
  readonly code = 'KEEL_STORE_NOT_READ_ONLY';
  readonly etcdMessage = '';
  constructor() {
    super('the txn writes; propose it through the log instead');
    this.name = 'NotReadOnlyError';
  }
}

/** Command or snapshot bytes that do not decode. */
export class MalformedBytesError extends StoreError {
  readonly code = 'KEEL_STORE_MALFORMED_BYTES';
  readonly etcdMessage = '';
  constructor(readonly what: 'command' | 'snapshot', readonly reason: string) {
    super(`malformed ${what}: ${reason}`);
    this.name = 'MalformedBytesError';
  }
}

/** A write that puts keys while the retained history exceeds the space quota. */
export class NoSpaceError extends StoreError {
  readonly code = 'KEEL_STORE_NO_SPACE';
  readonly etcdMessage = 'etcdserver: mvcc: database space exceeded';
  constructor(readonly usedBytes: number, readonly quotaBytes: number) {
    super(`mvcc: database space exceeded (${usedBytes} of ${quotaBytes} bytes); compact to free space`);
    this.name = 'NoSpaceError';
  }
}

/** A write that could grow the space while a NOSPACE alarm is active (etcd's capped applier). */
export class AlarmNoSpaceError extends StoreError {
  readonly code = 'KEEL_STORE_NO_SPACE_ALARM';
  readonly etcdMessage = 'etcdserver: mvcc: database space exceeded';
  constructor() {
    super('mvcc: database space exceeded (a NOSPACE alarm is active: compact, defragment, then disarm it)');
    this.name = 'AlarmNoSpaceError';
  }
}

/** More than ALARMS_MAX alarms would be active. */
export class TooManyAlarmsError extends StoreError {
  readonly code = 'KEEL_STORE_TOO_MANY_ALARMS';
  readonly etcdMessage = '';
  constructor(readonly max: number) {
    super(`too many alarms (max ${max})`);
    this.name = 'TooManyAlarmsError';
  }
}
