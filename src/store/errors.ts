import { DecodeError } from '../codec/index.js';

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

/**
 * Runs a decode with keel's byte reader, which knows no store errors:
 * its DecodeError becomes the store's MalformedBytesError, so callers and
 * tests keep matching KEEL_STORE_MALFORMED_BYTES.
 */
export function decodingAs<T>(what: 'command' | 'snapshot', decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) throw new MalformedBytesError(what, error.message);
    throw error;
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

// ------------------------------------------------------------------ auth (etcd's auth package errors, rpctypes messages)

/** The base of the auth errors: the message is etcd's, the code keel's. */
abstract class AuthError extends StoreError {
  readonly etcdMessage: string;
  constructor(etcdMessage: string) {
    super(etcdMessage);
    this.etcdMessage = etcdMessage;
    this.name = new.target.name;
  }
}

export class RootUserNotExistError extends AuthError {
  readonly code = 'KEEL_AUTH_ROOT_USER_NOT_EXIST';
  constructor() {
    super('etcdserver: root user does not exist');
  }
}

export class RootRoleNotExistError extends AuthError {
  readonly code = 'KEEL_AUTH_ROOT_ROLE_NOT_EXIST';
  constructor() {
    super('etcdserver: root user does not have root role');
  }
}

export class UserAlreadyExistError extends AuthError {
  readonly code = 'KEEL_AUTH_USER_ALREADY_EXIST';
  constructor() {
    super('etcdserver: user name already exists');
  }
}

export class UserEmptyError extends AuthError {
  readonly code = 'KEEL_AUTH_USER_EMPTY';
  constructor() {
    super('etcdserver: user name is empty');
  }
}

export class UserNotFoundError extends AuthError {
  readonly code = 'KEEL_AUTH_USER_NOT_FOUND';
  constructor() {
    super('etcdserver: user name not found');
  }
}

export class RoleAlreadyExistError extends AuthError {
  readonly code = 'KEEL_AUTH_ROLE_ALREADY_EXIST';
  constructor() {
    super('etcdserver: role name already exists');
  }
}

export class RoleNotFoundError extends AuthError {
  readonly code = 'KEEL_AUTH_ROLE_NOT_FOUND';
  constructor() {
    super('etcdserver: role name not found');
  }
}

export class RoleEmptyError extends AuthError {
  readonly code = 'KEEL_AUTH_ROLE_EMPTY';
  constructor() {
    super('etcdserver: role name is empty');
  }
}

/** Authenticate with an unknown user, a wrong password, or a user added with no password. */
export class AuthFailedError extends AuthError {
  readonly code = 'KEEL_AUTH_FAILED';
  constructor() {
    super('etcdserver: authentication failed, invalid user ID or password');
  }
}

export class PermissionDeniedError extends AuthError {
  readonly code = 'KEEL_AUTH_PERMISSION_DENIED';
  constructor() {
    super('etcdserver: permission denied');
  }
}

export class RoleNotGrantedError extends AuthError {
  readonly code = 'KEEL_AUTH_ROLE_NOT_GRANTED';
  constructor() {
    super('etcdserver: role is not granted to the user');
  }
}

export class PermissionNotGrantedError extends AuthError {
  readonly code = 'KEEL_AUTH_PERMISSION_NOT_GRANTED';
  constructor() {
    super('etcdserver: permission is not granted to the role');
  }
}

export class AuthNotEnabledError extends AuthError {
  readonly code = 'KEEL_AUTH_NOT_ENABLED';
  constructor() {
    super('etcdserver: authentication is not enabled');
  }
}

/** Deleting the root user or role, or revoking root from root, while auth is on. */
export class InvalidAuthManagementError extends AuthError {
  readonly code = 'KEEL_AUTH_INVALID_MANAGEMENT';
  constructor() {
    super('etcdserver: invalid auth management');
  }
}

/** A token issued before the auth state changed (a JWT carries the auth revision it was issued at). */
export class AuthOldRevisionError extends AuthError {
  readonly code = 'KEEL_AUTH_OLD_REVISION';
  constructor() {
    super('etcdserver: revision of auth store is old');
  }
}

/** A token this member does not know (expired, revoked, or forged). */
export class InvalidAuthTokenError extends AuthError {
  readonly code = 'KEEL_AUTH_INVALID_TOKEN';
  constructor() {
    super('etcdserver: invalid auth token');
  }
}

/** The auth state holds AUTH_USERS_MAX users, AUTH_ROLES_MAX roles or a role AUTH_PERMISSIONS_PER_ROLE_MAX permissions. */
export class TooManyAuthEntriesError extends AuthError {
  readonly code = 'KEEL_AUTH_TOO_MANY';
  constructor(readonly what: string, readonly max: number) {
    super(`etcdserver: too many ${what} (at most ${max})`);
  }
}
