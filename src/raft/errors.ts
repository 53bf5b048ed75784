import type { NodeId } from './types.js';

/**
 * Errors the core reports to its caller. Each has a stable `code`; callers
 * and tests match on the code, never the message. The brand survives
 * duplicate installs of the package, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.raft.error');

export abstract class RaftError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is RaftError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * The proposal was not appended: no leader is known, or a transfer is in
 * progress. `transient`: the cause ends by itself with the next leader (no
 * leader, an election, a leader transfer), so a caller may propose the same
 * entries again; nothing of them reached the log.
 */
export class ProposalDroppedError extends RaftError {
  readonly code = 'KEEL_RAFT_PROPOSAL_DROPPED';
  constructor(
    readonly reason: string,
    readonly transient = false,
  ) {
    super(`proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}

/** This node is not the leader and does not forward; `leader` names the leader if known ('' otherwise). */
export class NotLeaderError extends RaftError {
  readonly code = 'KEEL_RAFT_NOT_LEADER';
  constructor(readonly leader: NodeId) {
    super(leader ? `not the leader; the leader is ${leader}` : 'not the leader; no leader is known');
    this.name = 'NotLeaderError';
  }
}

/** A membership change was refused (another is pending, or the leader has not committed in its term yet). */
export class ConfChangeRejectedError extends RaftError {
  readonly code = 'KEEL_RAFT_CONF_CHANGE_REJECTED';
  constructor(readonly reason: string) {
    super(`membership change rejected: ${reason}`);
    this.name = 'ConfChangeRejectedError';
  }
}

/** The requested index precedes the compacted prefix of the log. */
export class CompactedError extends RaftError {
  readonly code = 'KEEL_RAFT_LOG_COMPACTED';
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`index ${index} is compacted (first available index is ${firstIndex})`);
    this.name = 'CompactedError';
  }
}

/** The requested index is beyond the end of the log. */
export class UnavailableError extends RaftError {
  readonly code = 'KEEL_RAFT_LOG_UNAVAILABLE';
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`index ${index} is beyond the last index ${lastIndex}`);
    this.name = 'UnavailableError';
  }
}

/** A snapshot older than the one already held. */
export class SnapshotOutOfDateError extends RaftError {
  readonly code = 'KEEL_RAFT_SNAPSHOT_OUT_OF_DATE';
  constructor(readonly index: number, readonly currentIndex: number) {
    super(`snapshot at ${index} is older than the current snapshot at ${currentIndex}`);
    this.name = 'SnapshotOutOfDateError';
  }
}

/** Invalid configuration given to the core. */
export class ConfigError extends RaftError {
  readonly code = 'KEEL_RAFT_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A leader transfer could not start (unknown target, target is a learner, not leader and no leader known). */
export class TransferRejectedError extends RaftError {
  readonly code = 'KEEL_RAFT_TRANSFER_REJECTED';
  constructor(readonly reason: string) {
    super(`leader transfer rejected: ${reason}`);
    this.name = 'TransferRejectedError';
  }
}
