/**
 * The observe stack's errors (`keel up --observe`: Prometheus, Alertmanager
 * and the alert receiver), each with a stable code, never reused. The brand
 * survives duplicate installs, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.observe.stack.error');

export const OBSERVE_STACK_ERROR_CODES = Object.freeze({
  /** /usr/bin/prometheus or /usr/bin/prometheus-alertmanager is not installed. */
  KEEL_OBSERVE_STACK_BINARY_MISSING: 'binary-missing',
  /** An option (a target, a duration, a URL, an SLO file) does not parse. */
  KEEL_OBSERVE_STACK_BAD_INPUT: 'bad-input',
  /** Prometheus or Alertmanager exited or did not answer /-/ready in time. */
  KEEL_OBSERVE_STACK_NOT_READY: 'not-ready',
} as const);

export type ObserveStackErrorCode = keyof typeof OBSERVE_STACK_ERROR_CODES;

export class ObserveStackError extends Error {
  readonly [BRAND] = true;
  constructor(readonly code: ObserveStackErrorCode, message: string) {
    super(message);
    this.name = 'ObserveStackError';
  }

  static is(value: unknown): value is ObserveStackError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function badObserveInput(message: string): ObserveStackError {
  return new ObserveStackError('KEEL_OBSERVE_STACK_BAD_INPUT', message);
}
