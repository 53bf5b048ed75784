/**
 * Errors of the durable storage layer. Each has a stable `code`; callers and
 * tests match on the code, never the message. The brand survives duplicate
 * installs of the package, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.storage.error');

export abstract class StorageError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is StorageError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * The write-ahead log is damaged somewhere other than a torn tail: a bad
 * record followed by valid ones, a bad record in a segment that is not the
 * last, a missing segment. Recovery refuses to guess; an operator must look.
 */
export class WalCorruptError extends StorageError {
  readonly code = 'KEEL_STORAGE_WAL_CORRUPT';
  constructor(readonly file: string, readonly offset: number, readonly reason: string) {
    super(`write-ahead log corrupt in ${file} at byte offset ${offset}: ${reason}`);
    this.name = 'WalCorruptError';
  }
}

/** No usable snapshot: the newest one is damaged and the log does not reach back to an older valid one. */
export class SnapshotCorruptError extends StorageError {
  readonly code = 'KEEL_STORAGE_SNAPSHOT_CORRUPT';
  constructor(readonly file: string, readonly reason: string) {
    super(`snapshot ${file} unusable: ${reason}`);
    this.name = 'SnapshotCorruptError';
  }
}

/** A streamed snapshot was abandoned (the member is stopping): its temporary file was removed and the older snapshot still stands. */
export class SnapshotAbortedError extends StorageError {
  readonly code = 'KEEL_STORAGE_SNAPSHOT_ABORTED';
  constructor(readonly file: string) {
    super(`snapshot ${file} abandoned before it was complete`);
    this.name = 'SnapshotAbortedError';
  }
}

/** The disk is full (ENOSPC or EDQUOT). What was durable before the failed write stays recoverable. */
export class NoSpaceError extends StorageError {
  readonly code = 'KEEL_STORAGE_NO_SPACE';
  constructor(readonly file: string, override readonly cause: unknown) {
    super(`no space left on device while writing ${file}`);
    this.name = 'NoSpaceError';
  }
}

/** Any other I/O failure. After a failed write or fsync the storage refuses further writes: restart and recover. */
export class StorageIoError extends StorageError {
  readonly code = 'KEEL_STORAGE_IO';
  constructor(readonly file: string, readonly operation: string, override readonly cause: unknown) {
    super(`${operation} failed on ${file}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StorageIoError';
  }
}

/**
 * An earlier write or fsync failed, so the state of the page cache is
 * unknown (the "fsyncgate" lesson): retrying could report data durable that
 * is not. Only a restart, which recovers from what is on disk, clears it.
 */
export class StorageFailedError extends StorageError {
  readonly code = 'KEEL_STORAGE_FAILED';
  constructor(override readonly cause: unknown) {
    super(`storage failed earlier and refuses further writes: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StorageFailedError';
  }
}

/** A single record is larger than the configured maximum. */
export class RecordTooLargeError extends StorageError {
  readonly code = 'KEEL_STORAGE_RECORD_TOO_LARGE';
  constructor(readonly sizeBytes: number, readonly sizeBytesMax: number) {
    super(`record of ${sizeBytes} bytes exceeds the maximum of ${sizeBytesMax} bytes`);
    this.name = 'RecordTooLargeError';
  }
}

/** The storage was used in the wrong order (save before load, use after close, entries with a gap). */
export class StorageUsageError extends StorageError {
  readonly code = 'KEEL_STORAGE_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'StorageUsageError';
  }
}

/** `KEEL_FAILPOINTS` could not be parsed. */
export class FailpointSpecError extends StorageError {
  readonly code = 'KEEL_STORAGE_FAILPOINT_SPEC_INVALID';
  constructor(readonly spec: string, readonly reason: string) {
    super(`invalid KEEL_FAILPOINTS entry "${spec}": ${reason}`);
    this.name = 'FailpointSpecError';
  }
}

/** Thrown by a failpoint whose action is `throw`. */
export class FailpointError extends StorageError {
  readonly code = 'KEEL_STORAGE_FAILPOINT';
  constructor(readonly failpoint: string) {
    super(`failpoint ${failpoint} triggered`);
    this.name = 'FailpointError';
  }
}
