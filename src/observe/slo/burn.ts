import type { AlertSpec, BurnWindowPair, Severity } from './model.js';

/**
 * Multi-window, multi-burn-rate alerting (Google SRE Workbook, "Alerting
 * on SLOs", method 6). A burn rate of 1 spends the budget exactly over the
 * SLO period; 14.4 spends 2% of a 30-day budget in 1 hour. Each condition
 * needs the long window (significance) and the short one (the burn is still
 * going on, so the alert resolves soon after the burn stops).
 */

/** The windows Sloth records, in seconds: every burn rate `keel slo status` prints. */
export const STANDARD_WINDOWS_SECONDS: readonly number[] = [300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200];

export const PAGE_PAIRS: readonly BurnWindowPair[] = [
  { longSeconds: 3_600, shortSeconds: 300, factor: 14.4 },
  { longSeconds: 21_600, shortSeconds: 1_800, factor: 6 },
];

export const TICKET_PAIRS: readonly BurnWindowPair[] = [
  { longSeconds: 86_400, shortSeconds: 7_200, factor: 3 },
  { longSeconds: 259_200, shortSeconds: 21_600, factor: 1 },
];

export function standardPairs(severity: Severity): readonly BurnWindowPair[] {
  return severity === 'page' ? PAGE_PAIRS : TICKET_PAIRS;
}

/**
 * The short window for a long one: 1/12 of it, as the Workbook pairs them
 * (1h/5m, 6h/30m, 1d/2h), except 3d, which the Workbook pairs with 6h.
 */
export function shortWindowFor(longSeconds: number): number {
  return longSeconds === 259_200 ? 21_600 : longSeconds / 12;
}

/** Burn rate: how many times faster than "exactly the budget over the period" errors arrive. */
export function burnRate(errorRatio: number, target: number): number {
  return errorRatio / (1 - target);
}

/** Every window an SLO's alerts read, with the standard ones, sorted. */
export function windowsOf(alerts: readonly AlertSpec[]): number[] {
  const windows = new Set(STANDARD_WINDOWS_SECONDS);
  for (const alert of alerts) for (const pair of alert.pairs) windows.add(pair.longSeconds).add(pair.shortSeconds);
  return [...windows].sort((a, b) => a - b);
}

/** What the evaluator knows about one window. */
export interface WindowReading {
  readonly errorRatio: number | null;
  readonly events: number | null;
}

/**
 * Whether one alert fires given readings by window (unscaled seconds):
 * some pair has both windows above factor x budget, and the short window
 * saw at least `minEvents` events. Mirrors the generated rule exactly.
 */
export function alertFiring(alert: AlertSpec, target: number, minEvents: number, readings: ReadonlyMap<number, WindowReading>): boolean {
  const budget = 1 - target;
  return alert.pairs.some((pair) => {
    const long = readings.get(pair.longSeconds);
    const short = readings.get(pair.shortSeconds);
    if (long?.errorRatio == null || short?.errorRatio == null) return false;
    if ((short.events ?? 0) < minEvents) return false;
    return long.errorRatio > pair.factor * budget && short.errorRatio > pair.factor * budget;
  });
}
