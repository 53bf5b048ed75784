/** A broken safety property: the run stops and exits with code 129. */
export class SafetyViolation extends Error {
  readonly code = 'KEEL_SIM_SAFETY_VIOLATION';
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

/** The cluster did not recover after faults healed: exit code 128. */
export class LivenessFailure extends Error {
  readonly code = 'KEEL_SIM_LIVENESS_FAILURE';
  constructor(detail: string) {
    super(`liveness: ${detail}`);
    this.name = 'LivenessFailure';
  }
}
