/**
 * keel observe's errors, each with a stable code (never reused). The brand
 * survives duplicate installs, where `instanceof` would not. Bad definitions
 * and options are exit code 2 in `keel slo`; unreachable sources exit 1.
 */
const BRAND = Symbol.for('keel.observe.error');

export const OBSERVE_ERROR_CODES = Object.freeze({
  /** An SLO file does not parse or does not validate (the message names file, document and field path). */
  KEEL_OBSERVE_BAD_SLO: 'bad-slo',
  /** An option (time scale, URL, window, ...) is invalid. */
  KEEL_OBSERVE_BAD_OPTION: 'bad-option',
  /** A Prometheus server or a /metrics target could not be reached or answered with an HTTP error. */
  KEEL_OBSERVE_UNREACHABLE: 'unreachable',
  /** Prometheus answered a query with an error, or with a result of the wrong shape. */
  KEEL_OBSERVE_QUERY_FAILED: 'query-failed',
  /** The SLO cannot be evaluated by this source (raw PromQL without a Prometheus). */
  KEEL_OBSERVE_UNSUPPORTED: 'unsupported',
} as const);

export type ObserveErrorCode = keyof typeof OBSERVE_ERROR_CODES;

export class ObserveError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: ObserveErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ObserveError';
  }

  static is(value: unknown): value is ObserveError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function badSlo(message: string): ObserveError {
  return new ObserveError('KEEL_OBSERVE_BAD_SLO', message);
}

export function badOption(message: string): ObserveError {
  return new ObserveError('KEEL_OBSERVE_BAD_OPTION', message);
}
