/**
 * The dashboard's errors, each with a stable code (never reused). Bad input
 * (a URL, a port, an SLO file, a cluster.json that does not parse) is
 * reported before anything starts, naming the flag or file; a target that
 * goes away later is not an error but a red row.
 */
const BRAND = Symbol.for('keel.dashboard.error');

export const DASHBOARD_ERROR_CODES = Object.freeze({
  /** A flag's value is invalid: a URL, a port, an interval. */
  KEEL_DASH_BAD_INPUT: 'bad-input',
  /** The cluster file (keel up's cluster.json) is missing or does not list members. */
  KEEL_DASH_NO_TARGETS: 'no-targets',
  /** The SLO file cannot be read or evaluated. */
  KEEL_DASH_BAD_SLO: 'bad-slo',
  /** The dashboard's own port cannot be bound. */
  KEEL_DASH_LISTEN: 'listen',
} as const);

export type DashboardErrorCode = keyof typeof DASHBOARD_ERROR_CODES;

export class DashboardError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: DashboardErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DashboardError';
  }
}

export function isDashboardError(value: unknown): value is DashboardError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
