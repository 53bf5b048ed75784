/** Errors of the node process. Stable codes; see src/api/errors.ts for those clients see. */
const BRAND = Symbol.for('keel.node.error');

export abstract class NodeError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is NodeError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The configuration is invalid; the message names each bad field. */
export class NodeConfigError extends NodeError {
  readonly code = 'KEEL_NODE_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'NodeConfigError';
  }
}

/** The data directory belongs to another member or another cluster. */
export class DataDirMismatchError extends NodeError {
  readonly code = 'KEEL_NODE_DATA_DIR_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'DataDirMismatchError';
  }
}

/** A snapshot file fails its integrity check (SHA-256 trailer, or the content does not decode). */
export class SnapshotIntegrityError extends NodeError {
  readonly code = 'KEEL_NODE_SNAPSHOT_INTEGRITY';
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotIntegrityError';
  }
}

/** A restore cannot proceed (the data directory is not empty, the membership is invalid). */
export class SnapshotRestoreError extends NodeError {
  readonly code = 'KEEL_NODE_SNAPSHOT_RESTORE';
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRestoreError';
  }
}

/** This member was removed from its cluster (MemberRemove); it stops and its data dir refuses to start again. */
export class MemberRemovedError extends NodeError {
  readonly code = 'KEEL_NODE_MEMBER_REMOVED';
  constructor(message: string) {
    super(message);
    this.name = 'MemberRemovedError';
  }
}

/** Another process holds this data directory's lock (another member, or another keel up). */
export class DataDirLockedError extends NodeError {
  readonly code = 'KEEL_NODE_DATA_DIR_LOCKED';
  /** The holder's pid, when it wrote one. */
  readonly holderPid: number | undefined;
  constructor(message: string, holderPid: number | undefined) {
    super(message);
    this.name = 'DataDirLockedError';
    this.holderPid = holderPid;
  }
}

/** The data directory cannot be used (it is a file, not writable, on a read-only disk); the message names the path and the fix. */
export class DataDirInvalidError extends NodeError {
  readonly code = 'KEEL_NODE_DATA_DIR_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'DataDirInvalidError';
  }
}

/** A TLS file named by a flag is missing or unreadable; the message names the flag and the path. */
export class TlsFileError extends NodeError {
  readonly code = 'KEEL_NODE_TLS_FILE';
  constructor(message: string) {
    super(message);
    this.name = 'TlsFileError';
  }
}

/** A certificate or key file does not parse, or the key is not the certificate's. */
export class TlsCertificateError extends NodeError {
  readonly code = 'KEEL_NODE_TLS_CERTIFICATE';
  constructor(message: string) {
    super(message);
    this.name = 'TlsCertificateError';
  }
}

/** A clock skew asked of a running member is out of bounds (POST /debug/clock). */
export class ClockSkewError extends NodeError {
  readonly code = 'KEEL_NODE_CLOCK_SKEW_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ClockSkewError';
  }
}

// ------------------------------------------------------------------ errors a client request meets in the member

const REQUEST_BRAND = Symbol.for('keel.node.request-error');

/**
 * An error a client's request meets in the member (no leader, a timeout, a
 * leader change, a refused membership change, ...). The API layer maps each
 * to etcd's status and message (src/api/errors.ts, errorReply).
 */
export abstract class NodeRequestError extends NodeError {
  readonly [REQUEST_BRAND] = true;
  static override is(value: unknown): value is NodeRequestError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[REQUEST_BRAND] === true;
  }
}

/** The member knows no leader, so it can neither propose nor confirm a read. */
export class NoLeaderError extends NodeRequestError {
  readonly code = 'KEEL_NODE_NO_LEADER';
  constructor() {
    super('no leader is known');
    this.name = 'NoLeaderError';
  }
}

/** The member cannot serve this here and names the leader (leader id and client URL, when known). */
export class NotLeaderError extends NodeRequestError {
  readonly code = 'KEEL_NODE_NOT_LEADER';
  constructor(
    readonly leader: string,
    readonly leaderUrl: string | undefined,
  ) {
    super(leader ? `not the leader; the leader is ${leader}` : 'not the leader');
    this.name = 'NotLeaderError';
  }
}

/** The request's deadline passed before it committed (or before its read index was confirmed). Its outcome is unknown. */
export class RequestTimeoutError extends NodeRequestError {
  readonly code = 'KEEL_NODE_REQUEST_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`request timed out after ${timeoutMs} ms; a write may or may not have been applied`);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * The leader changed while the request waited: a write may or may not
 * commit (the new leader may still commit it), a read must be retried.
 * Sooner than a timeout, so the client can move on.
 */
export class LeaderChangedError extends NodeRequestError {
  readonly code = 'KEEL_NODE_LEADER_CHANGED';
  constructor() {
    super('the leader changed while the request was in flight; a write may or may not have been applied');
    this.name = 'LeaderChangedError';
  }
}

/** Too many requests in flight on this member; retry after `retryAfterSeconds`. */
export class OverloadedError extends NodeRequestError {
  readonly code = 'KEEL_NODE_OVERLOADED';
  constructor(
    readonly reason: string,
    readonly retryAfterSeconds: number,
  ) {
    super(`overloaded: ${reason}`);
    this.name = 'OverloadedError';
  }
}

/** The member is shutting down and refused the request before proposing it: nothing was applied. */
export class StoppingError extends NodeRequestError {
  readonly code = 'KEEL_NODE_STOPPING';
  constructor() {
    super('the member is shutting down');
    this.name = 'StoppingError';
  }
}

/** The member shut down while the request was in flight: a write may or may not have been applied. */
export class InterruptedError extends NodeRequestError {
  readonly code = 'KEEL_NODE_INTERRUPTED';
  constructor() {
    super('the member shut down while the request was in flight; a write may or may not have been applied');
    this.name = 'InterruptedError';
  }
}

/** A lease TTL above etcd's maximum (9e9 seconds). */
export class LeaseTtlTooLargeError extends NodeRequestError {
  readonly code = 'KEEL_LEASE_TTL_TOO_LARGE';
  constructor() {
    super('etcdserver: too large lease TTL');
    this.name = 'LeaseTtlTooLargeError';
  }
}

/** MoveLeader reached a member that does not lead; etcd answers "etcdserver: not leader" and the caller must find the leader. */
export class TransferNotLeaderError extends NodeRequestError {
  readonly code = 'KEEL_NODE_TRANSFER_NOT_LEADER';
  constructor() {
    super('only the leader can transfer leadership');
    this.name = 'TransferNotLeaderError';
  }
}

/** MoveLeader named no voting member of this cluster. */
export class BadLeaderTransfereeError extends NodeRequestError {
  readonly code = 'KEEL_NODE_BAD_LEADER_TRANSFEREE';
  constructor(readonly target: bigint) {
    super(`${target} is not a voting member of this cluster`);
    this.name = 'BadLeaderTransfereeError';
  }
}

/** MoveLeader's deadline passed before the target led. */
export class LeaderTransferTimeoutError extends NodeRequestError {
  readonly code = 'KEEL_NODE_LEADER_TRANSFER_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`leader transfer did not finish within ${timeoutMs} ms`);
    this.name = 'LeaderTransferTimeoutError';
  }
}

/** A membership change refused before it was proposed; nothing changed. `message` says why in keel's words. */
export class MembershipError extends NodeRequestError {
  constructor(
    readonly code: MembershipErrorCode,
    detail: string,
  ) {
    super(detail);
    this.name = 'MembershipError';
  }
}

// ------------------------------------------------------------------ cluster membership

/** Codes of refused Cluster requests (MemberAdd/Remove/Update/Promote), each answered with etcd's error. */
export type MembershipErrorCode =
  | 'KEEL_MEMBER_NOT_FOUND'
  | 'KEEL_MEMBER_ID_REMOVED'
  | 'KEEL_MEMBER_EXISTS'
  | 'KEEL_MEMBER_PEER_URL_EXISTS'
  | 'KEEL_MEMBER_BAD_URLS'
  | 'KEEL_MEMBER_NOT_LEARNER'
  | 'KEEL_MEMBER_LEARNER_NOT_READY'
  | 'KEEL_MEMBER_TOO_MANY_LEARNERS'
  | 'KEEL_MEMBER_NOT_ENOUGH_STARTED'
  | 'KEEL_MEMBER_UNHEALTHY'
  | 'KEEL_MEMBER_LAST_VOTER';
