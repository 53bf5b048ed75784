import type { Verdict } from '../check/index.js';

/**
 * The run's verdict, pure: Chaos Toolkit's status and deviated flag, and
 * keel experiment's exit code. Exit codes: 0 completed and linearizable,
 * 1 failed or deviated (a hypothesis did not hold, an activity failed, a
 * load threshold failed, the checker could not decide), 2 bad input (decided before a run), 3 aborted
 * by a stop condition, 4 a linearizability (or revision) violation,
 * 130 interrupted (SIGINT, as shells report it).
 */

export type ExperimentStatus = 'completed' | 'failed' | 'aborted' | 'interrupted';

export const EXIT_COMPLETED = 0;
export const EXIT_DEVIATED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_ABORTED = 3;
export const EXIT_NOT_LINEARIZABLE = 4;
export const EXIT_INTERRUPTED = 130;

export interface VerdictInputs {
  /** null when the experiment has no hypothesis (or the run never got there). */
  readonly steadyStateBefore: boolean | null;
  readonly steadyStateAfter: boolean | null;
  /** A method activity (not in the background) failed. */
  readonly activityFailed: boolean;
  /** The stop condition that aborted the run, if one did. */
  readonly stoppedBy: string | undefined;
  readonly interrupted: boolean;
  /** The checker's verdict; null without a history. */
  readonly check: Verdict | null;
  /** The load's thresholds: the ones that failed (empty or absent: passed, or no load). */
  readonly loadThresholdsFailed?: readonly string[];
}

export interface VerdictResult {
  readonly status: ExperimentStatus;
  readonly deviated: boolean;
  readonly exitCode: number;
  /** One line: why. */
  readonly reason: string;
}

export function decideVerdict(inputs: VerdictInputs): VerdictResult {
  const deviated = inputs.steadyStateBefore === true && inputs.steadyStateAfter === false;
  // A violation outranks everything but bad input: a history that broke linearizability is the finding, however the run ended.
  if (inputs.check === 'violation') return { status: inputs.interrupted ? 'interrupted' : inputs.stoppedBy !== undefined ? 'aborted' : 'failed', deviated, exitCode: EXIT_NOT_LINEARIZABLE, reason: 'the history is not linearizable' };
  if (inputs.interrupted) return { status: 'interrupted', deviated, exitCode: EXIT_INTERRUPTED, reason: 'interrupted (SIGINT or SIGTERM)' };
  if (inputs.stoppedBy !== undefined) return { status: 'aborted', deviated, exitCode: EXIT_ABORTED, reason: `stop condition: ${inputs.stoppedBy}` };
  if (inputs.steadyStateBefore === false) return { status: 'failed', deviated: false, exitCode: EXIT_DEVIATED, reason: 'the steady state did not hold before the method; the method was not run' };
  if (deviated) return { status: 'failed', deviated, exitCode: EXIT_DEVIATED, reason: 'the steady state did not hold after the method (deviated)' };
  if (inputs.activityFailed) return { status: 'failed', deviated, exitCode: EXIT_DEVIATED, reason: 'an activity of the method failed' };
  // The load's thresholds are part of the hypothesis ("0 failed requests"): missing one deviates, as k6 fails the run.
  if ((inputs.loadThresholdsFailed?.length ?? 0) > 0) return { status: 'failed', deviated: true, exitCode: EXIT_DEVIATED, reason: `the load's thresholds failed: ${inputs.loadThresholdsFailed!.join(', ')}` };
  if (inputs.check === 'unknown') return { status: 'completed', deviated, exitCode: EXIT_DEVIATED, reason: 'the checker could not decide within its time limit' };
  return { status: 'completed', deviated, exitCode: EXIT_COMPLETED, reason: inputs.check === 'ok' ? 'completed; the history is linearizable' : 'completed' };
}
