/**
 * keel probe's errors, each with a stable code (never reused). A checks file
 * that cannot be read or does not validate maps to exit code 2; a bad flag
 * to exit code 1. A check that fails is not an error: it is a result. The
 * brand survives duplicate installs, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.probe.error');

export const PROBE_ERROR_CODES = Object.freeze({
  /** The checks file is missing, unreadable, not YAML, or fails validation (the message names the field path). */
  KEEL_PROBE_BAD_CHECKS_FILE: 'bad-checks-file',
  /** A command-line option is invalid (--listen, --interval, --concurrency ...). */
  KEEL_PROBE_USAGE: 'usage',
} as const);

export type ProbeErrorCode = keyof typeof PROBE_ERROR_CODES;

export class ProbeError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: ProbeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }

  static is(value: unknown): value is ProbeError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function badChecksFile(message: string): ProbeError {
  return new ProbeError('KEEL_PROBE_BAD_CHECKS_FILE', message);
}

export function probeUsage(message: string): ProbeError {
  return new ProbeError('KEEL_PROBE_USAGE', message);
}
