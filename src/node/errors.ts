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
