/**
 * Errors of the fault injector. Each has a stable `code` (`KEEL_CHAOS_...`);
 * callers and tests match on the code, never the message. The brand survives
 * duplicate installs of the package, where `instanceof` would not.
 *
 * Every refusal below is raised while planning, before anything is injected:
 * a bad fault, selector or target changes nothing on the host.
 */
const BRAND = Symbol.for('keel.chaos.error');

export abstract class ChaosError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is ChaosError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The fault kind (or network shape, or stress kind) is not one keel chaos knows. */
export class UnknownFaultError extends ChaosError {
  readonly code = 'KEEL_CHAOS_UNKNOWN_FAULT';
  constructor(readonly fault: string, known: readonly string[]) {
    super(`unknown fault ${JSON.stringify(fault)}; known: ${known.join(', ')}`);
    this.name = 'UnknownFaultError';
  }
}

/** A fault's parameters are missing or out of range (a lease of 0, a loss of 150 %). */
export class InvalidFaultError extends ChaosError {
  readonly code = 'KEEL_CHAOS_INVALID_FAULT';
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidFaultError';
  }
}

/** A selector that does not parse (`zone:`, `pid:abc`, `folower`). */
export class UnknownSelectorError extends ChaosError {
  readonly code = 'KEEL_CHAOS_UNKNOWN_SELECTOR';
  constructor(readonly selector: string, reason: string) {
    super(`target ${JSON.stringify(selector)}: ${reason}`);
    this.name = 'UnknownSelectorError';
  }
}

/** A well-formed selector that matches nothing: no such member or zone, no such pid, no follower in a 1-member cluster. */
export class TargetNotFoundError extends ChaosError {
  readonly code = 'KEEL_CHAOS_TARGET_NOT_FOUND';
  constructor(readonly selector: string, reason: string) {
    super(`target ${JSON.stringify(selector)}: ${reason}`);
    this.name = 'TargetNotFoundError';
  }
}

/** No member answered /v3/maintenance/status with a leader it agrees on. */
export class NoLeaderError extends ChaosError {
  readonly code = 'KEEL_CHAOS_NO_LEADER';
  constructor(reason: string) {
    super(`no leader: ${reason}`);
    this.name = 'NoLeaderError';
  }
}

/** The selector needs a cluster (a keel up data dir's cluster.json) and none was given or it cannot be read. */
export class ClusterFileError extends ChaosError {
  readonly code = 'KEEL_CHAOS_CLUSTER_FILE';
  constructor(readonly path: string | undefined, reason: string) {
    super(path === undefined ? reason : `${path}: ${reason}`);
    this.name = 'ClusterFileError';
  }
}

/** The fault needs what this host does not give: root, `ip netns`, nft, tc, stress-ng, members in namespaces. */
export class UnsupportedError extends ChaosError {
  readonly code = 'KEEL_CHAOS_UNSUPPORTED';
  constructor(reason: string) {
    super(reason);
    this.name = 'UnsupportedError';
  }
}

/** A host command the injector ran (ip, nft, tc) failed; what it printed is in the message. */
export class CommandFailedError extends ChaosError {
  readonly code = 'KEEL_CHAOS_COMMAND_FAILED';
  constructor(readonly argv: readonly string[], readonly output: string) {
    super(`${argv.join(' ')} failed: ${output.trim() || 'no output'}`);
    this.name = 'CommandFailedError';
  }
}

/** A member refused or failed a fault-injection call (failpoints, clock; the API is off unless the member was started with it). */
export class FailpointCallError extends ChaosError {
  readonly code = 'KEEL_CHAOS_FAILPOINT_REFUSED';
  constructor(readonly url: string, readonly status: number, readonly body: string) {
    super(`${url} answered ${status}: ${body.trim()}`);
    this.name = 'FailpointCallError';
  }
}

/** The state directory (fault records, the watchdog's pid) cannot be used. */
export class StateDirError extends ChaosError {
  readonly code = 'KEEL_CHAOS_STATE_DIR';
  constructor(readonly path: string, reason: string) {
    super(`state dir ${path}: ${reason}`);
    this.name = 'StateDirError';
  }
}

/** A faultfs mount did not come up (the process exited, or its mount did not answer in time), or would shadow one already there. */
export class MountFailedError extends ChaosError {
  readonly code = 'KEEL_CHAOS_MOUNT_FAILED';
  constructor(readonly mountPoint: string, reason: string) {
    super(`faultfs on ${mountPoint}: ${reason}`);
    this.name = 'MountFailedError';
  }
}

/** A fault's control file could not be written (a faultfs mount that is gone, or a setting it refused with EINVAL). */
export class FileWriteError extends ChaosError {
  readonly code = 'KEEL_CHAOS_WRITE_FAILED';
  constructor(readonly path: string, reason: string) {
    super(`writing ${path} failed: ${reason}`);
    this.name = 'FileWriteError';
  }
}
