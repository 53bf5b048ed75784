import { promDuration } from './duration.js';
import type { MetricQuery, Sli, Slo } from './model.js';
import { formatSelector, withMatchers } from './selector.js';

/**
 * PromQL for an SLI over a window, shared by the rule generator and the
 * Prometheus evaluator, so the alert rule and `keel slo status` compute the
 * same number. Windows here are real seconds (already divided by any time
 * scale).
 */

/** A number as PromQL text, without binary-fraction noise (1 - 0.999 is 0.001, not 0.0010000000000000009). */
export function promNumber(value: number): string {
  return String(Number(value.toPrecision(12)));
}

function rateOf(query: MetricQuery, window: string): string {
  return query.kind === 'selector'
    ? `sum(rate(${formatSelector(query.selector)}[${window}]))`
    : query.query.replaceAll('{{.window}}', window);
}

/** good (or bad) and total per-second rates of the SLI over `seconds`. */
function rates(sli: Sli, seconds: number): { good?: string; bad?: string; total: string } {
  const window = promDuration(seconds);
  if (sli.kind === 'threshold') {
    const le = { label: 'le', op: '=' as const, value: promNumber(sli.thresholdSeconds) };
    return {
      good: rateOf({ kind: 'selector', selector: withMatchers(sli.histogram, [le], `${sli.histogram.metric}_bucket`) }, window),
      total: rateOf({ kind: 'selector', selector: withMatchers(sli.histogram, [], `${sli.histogram.metric}_count`) }, window),
    };
  }
  return {
    ...(sli.good === undefined ? {} : { good: rateOf(sli.good, window) }),
    ...(sli.bad === undefined ? {} : { bad: rateOf(sli.bad, window) }),
    total: rateOf(sli.total, window),
  };
}

/** The fraction of events that were bad over the last `seconds` (NaN without traffic). */
export function eventErrorRatio(sli: Sli, seconds: number): string {
  const r = rates(sli, seconds);
  return r.bad !== undefined ? `(${r.bad})\n/\n(${r.total})` : `1 - (\n  (${r.good!})\n  /\n  (${r.total})\n)`;
}

/** Events per second over the last `seconds` (the low-traffic guard multiplies by the window). */
export function eventRate(sli: Sli, seconds: number): string {
  return rates(sli, seconds).total;
}

/**
 * The SLO's error ratio over `seconds`: bad events / events for
 * Occurrences; bad slices / slices for Timeslices, where a slice is bad
 * when its own error ratio is above 1 - timeSliceTarget. A slice without
 * events counts as good (NaN > x is false in PromQL); a slice without
 * samples does not count. The subquery's step aligns slices to multiples
 * of the slice length, as the scrape evaluator does.
 */
export function windowErrorRatio(slo: Slo, seconds: number, timeScale: number): string {
  if (slo.budgeting.method === 'Occurrences') return eventErrorRatio(slo.sli, seconds);
  const slice = slo.budgeting.sliceSeconds / timeScale;
  return `avg_over_time((\n(${eventErrorRatio(slo.sli, slice)}) > bool ${promNumber(1 - slo.budgeting.sliceTarget)}\n)[${promDuration(seconds)}:${promDuration(slice)}])`;
}
