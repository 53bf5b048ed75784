/**
 * keel load's errors, each with a stable code (never reused). Bad input
 * (a scenario, options or thresholds that do not parse) maps to exit code 2;
 * everything else is a runtime error (exit code 1). The brand survives
 * duplicate installs, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.load.error');

export const LOAD_ERROR_CODES = Object.freeze({
  /** A scenario module, YAML file, option, threshold or duration is invalid. */
  KEEL_LOAD_BAD_INPUT: 'bad-input',
  /** A target outside loopback was not named with --allow-remote. */
  KEEL_LOAD_TARGET_REFUSED: 'target-refused',
  /** A worker process or agent exited, vanished or spoke garbage. */
  KEEL_LOAD_WORKER_LOST: 'worker-lost',
  /** A frame of the agent protocol is malformed, truncated or too large. */
  KEEL_LOAD_PROTOCOL: 'protocol',
  /** The scenario's setup() threw, timed out, was interrupted or returned a value that cannot be sent to workers (no VU ran). */
  KEEL_LOAD_SETUP_FAILED: 'setup-failed',
  /** The scenario's teardown() threw or timed out (the summary is still printed). */
  KEEL_LOAD_TEARDOWN_FAILED: 'teardown-failed',
} as const);

export type LoadErrorCode = keyof typeof LOAD_ERROR_CODES;

export class LoadError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: LoadErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

export function isLoadError(value: unknown): value is LoadError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Bad input: a scenario, option or threshold that does not parse (exit code 2). */
export function badInput(message: string): LoadError {
  return new LoadError('KEEL_LOAD_BAD_INPUT', message);
}

/** A short, bounded name for why a request failed: the error's code (ECONNREFUSED) rather than its message. */
export function errorKind(error: unknown): string {
  const value = error as { code?: unknown; cause?: { code?: unknown }; name?: string };
  if (typeof value?.cause?.code === 'string') return value.cause.code;
  if (typeof value?.code === 'string') return value.code;
  return value?.name ?? 'Error';
}
