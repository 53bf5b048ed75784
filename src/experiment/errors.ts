/**
 * keel experiment's errors, each with a stable code (never reused). Bad
 * input (a file that does not parse or validate) maps to exit code 2; the
 * rest are runtime errors the runner turns into a failed or aborted run.
 * The brand survives duplicate installs, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.experiment.error');

export const EXPERIMENT_ERROR_CODES = Object.freeze({
  /** The experiment file cannot be read, parsed or validated (exit code 2). */
  KEEL_EXPERIMENT_BAD_INPUT: 'bad-input',
  /** The cluster the experiment runs on could not be started or reached. */
  KEEL_EXPERIMENT_CLUSTER: 'cluster',
  /** A probe's provider failed (a timeout, a refused connection, no leader). */
  KEEL_EXPERIMENT_PROBE: 'probe',
} as const);

export type ExperimentErrorCode = keyof typeof EXPERIMENT_ERROR_CODES;

export class ExperimentError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: ExperimentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ExperimentError';
  }

  static is(value: unknown): value is ExperimentError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A file that does not parse or validate: `file: path: message`. */
export function badExperiment(file: string, message: string): ExperimentError {
  return new ExperimentError('KEEL_EXPERIMENT_BAD_INPUT', `${file}: ${message}`);
}
