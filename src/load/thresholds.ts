/**
 * Thresholds as k6 writes them (`http_req_duration: ['p(99)<200']`,
 * `checks: ['rate>0.99']`), plus sliding windows (`p(99)<200 over 30s`)
 * judged once a second during the run. A windowed threshold fails if any
 * window judged during the run failed; a whole-run threshold is judged on the
 * totals at the end (and during the run when it has abortOnFail).
 */
import { parseDurationMs } from './duration.js';
import { badInput } from './errors.js';
import { percentileMs } from './histogram.js';
import { WINDOW_SECONDS_MAX } from './limits.js';
import { BUILTIN_METRICS, MetricTotals, type MetricKind, type MetricsSnapshot } from './metrics.js';
import type { Options } from './options.js';

export type Aggregation = { readonly kind: 'avg' | 'min' | 'max' | 'med' | 'count' | 'rate' | 'value' } | { readonly kind: 'p'; readonly percentile: number };
type Operator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  /** The metric, possibly a sub-metric: `http_req_duration{name:home}`. */
  readonly metric: string;
  /** As written: `p(99)<200 over 30s`. */
  readonly source: string;
  readonly aggregation: Aggregation;
  readonly operator: Operator;
  readonly bound: number;
  readonly windowSeconds: number | undefined;
  readonly abortOnFail: boolean;
  readonly delayAbortEvalMs: number;
}

const EXPRESSION = /^\s*(avg|min|max|med|count|rate|value|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(?:over\s+(\S+))?\s*$/;

/** Parses the `thresholds` option; errors name the metric and the expression. */
export function parseThresholds(raw: Options['thresholds']): Threshold[] {
  const thresholds: Threshold[] = [];
  for (const [metric, entries] of Object.entries(raw ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\{[^{}]+\})?$/.test(metric)) throw badInput(`thresholds.${metric}: not a metric name (write http_req_duration or http_req_duration{name:home})`);
    entries.forEach((entry, index) => {
      const spec = typeof entry === 'string' ? { threshold: entry, abortOnFail: false, delayAbortEval: undefined } : entry;
      thresholds.push(parseOne(metric, spec.threshold, spec.abortOnFail, spec.delayAbortEval, `thresholds.${metric}.${index}`));
    });
  }
  return thresholds;
}

function parseOne(metric: string, source: string, abortOnFail: boolean, delayAbortEval: string | undefined, field: string): Threshold {
  const match = EXPRESSION.exec(source);
  if (match === null) throw badInput(`${field}: '${source}' is not a threshold (write p(99)<200, avg<100, rate>0.99, count<10, optionally 'over 30s')`);
  const aggregation: Aggregation = match[2] !== undefined ? { kind: 'p', percentile: Number(match[2]) } : { kind: match[1] as 'avg' };
  if (aggregation.kind === 'p' && (aggregation.percentile < 0 || aggregation.percentile > 100)) throw badInput(`${field}: percentile ${aggregation.percentile} is outside 0-100`);
  const kind = metricKind(metric);
  if (kind !== undefined && !allowed(kind).includes(aggregation.kind)) throw badInput(`${field}: ${aggregation.kind} does not apply to ${metric} (a ${kind}: use ${allowed(kind).join(', ')})`);
  let windowSeconds: number | undefined;
  if (match[5] !== undefined) {
    const windowMs = parseDurationMs(match[5], `${field} window`);
    windowSeconds = Math.round(windowMs / 1000);
    if (windowSeconds < 1 || windowSeconds > WINDOW_SECONDS_MAX) throw badInput(`${field}: the window must be 1s to ${WINDOW_SECONDS_MAX}s`);
  }
  return {
    metric,
    source,
    aggregation,
    operator: match[3] as Operator,
    bound: Number(match[4]),
    windowSeconds,
    abortOnFail,
    delayAbortEvalMs: delayAbortEval === undefined ? 0 : parseDurationMs(delayAbortEval, `${field}.delayAbortEval`),
  };
}

/** The kind of a built-in metric (sub-metrics take their parent's); undefined for custom metrics. */
export function metricKind(metric: string): MetricKind | undefined {
  return BUILTIN_METRICS[metric.replace(/\{.*$/, '')];
}

function allowed(kind: MetricKind): string[] {
  switch (kind) {
    case 'trend':
      return ['avg', 'min', 'max', 'med', 'p', 'count'];
    case 'counter':
      return ['count', 'rate'];
    case 'rate':
      return ['rate'];
    case 'gauge':
      return ['value', 'min', 'max'];
  }
}

/** The aggregated value a threshold compares, or undefined when there is nothing to judge yet. */
export function valueOf(threshold: Threshold, totals: MetricTotals, elapsedSeconds: number): number | undefined {
  const { metric, aggregation } = threshold;
  const histogram = totals.trends.get(metric);
  if (histogram !== undefined && histogram.totalCount > 0) {
    switch (aggregation.kind) {
      case 'avg':
        return histogram.mean / 1000;
      case 'min':
        return histogram.minNonZeroValue / 1000;
      case 'max':
        return histogram.maxValue / 1000;
      case 'med':
        return percentileMs(histogram, 50);
      case 'p':
        return percentileMs(histogram, aggregation.percentile);
      case 'count':
        return histogram.totalCount;
      default:
        return undefined;
    }
  }
  const pair = totals.rates.get(metric);
  if (pair !== undefined && aggregation.kind === 'rate') return pair[1] === 0 ? undefined : pair[0] / pair[1];
  if (totals.gauges.has(metric)) {
    if (aggregation.kind === 'value') return totals.gauges.get(metric);
    if (aggregation.kind === 'max') return totals.gaugeMax.get(metric);
  }
  // Counters judge as 0 when nothing was counted (dropped_iterations: ['count<1'] passes on a clean run).
  if (aggregation.kind === 'count' && histogram === undefined) return totals.counter(metric);
  if (aggregation.kind === 'rate' && metricKind(metric) === 'counter') return elapsedSeconds > 0 ? totals.counter(metric) / elapsedSeconds : undefined;
  return undefined;
}

export function compare(value: number, operator: Operator, bound: number): boolean {
  switch (operator) {
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
    case '==':
      return value === bound;
    case '!=':
      return value !== bound;
  }
}

export interface ThresholdResult {
  readonly threshold: Threshold;
  readonly ok: boolean;
  /** The value judged (the whole run's, or the failing window's). */
  readonly value: number | undefined;
  /** Seconds into the run a windowed threshold first failed. */
  readonly failedAtSeconds: number | undefined;
}

interface WindowState {
  failedAtSeconds: number | undefined;
  failedValue: number | undefined;
  lastValue: number | undefined;
}

/**
 * Judges thresholds during the run: fed one combined interval snapshot per
 * second, it evaluates the sliding windows and the abortOnFail thresholds and
 * says when to abort. Holds the last `max window` intervals, encoded.
 */
export class ThresholdJudge {
  readonly #thresholds: readonly Threshold[];
  readonly #intervals: MetricsSnapshot[] = [];
  readonly #windowSecondsMax: number;
  readonly #windows = new Map<Threshold, WindowState>();
  #abortedBy: Threshold | undefined;

  constructor(thresholds: readonly Threshold[]) {
    this.#thresholds = thresholds;
    this.#windowSecondsMax = Math.max(0, ...thresholds.map((threshold) => threshold.windowSeconds ?? 0));
    for (const threshold of thresholds) if (threshold.windowSeconds !== undefined) this.#windows.set(threshold, { failedAtSeconds: undefined, failedValue: undefined, lastValue: undefined });
  }

  get thresholds(): readonly Threshold[] {
    return this.#thresholds;
  }

  /** The threshold whose failure aborted the run, if one did. */
  get abortedBy(): Threshold | undefined {
    return this.#abortedBy;
  }

  /**
   * One second passed (`elapsedMs` into the run): judge the windows over the
   * intervals so far and the abortOnFail thresholds over `totals`. Returns the
   * threshold that asks to abort, if any.
   */
  tick(interval: MetricsSnapshot, totals: MetricTotals, elapsedMs: number): Threshold | undefined {
    if (this.#windowSecondsMax > 0) {
      this.#intervals.push(interval);
      if (this.#intervals.length > this.#windowSecondsMax) this.#intervals.shift();
    }
    const elapsedSeconds = elapsedMs / 1000;
    const windowTotals = new Map<number, MetricTotals>();
    try {
      for (const threshold of this.#thresholds) {
        const pastDelay = elapsedMs >= threshold.delayAbortEvalMs;
        let ok: boolean | undefined;
        if (threshold.windowSeconds !== undefined) {
          if (!pastDelay) continue;
          const totalsOfWindow = this.#windowTotals(threshold.windowSeconds, windowTotals);
          const value = valueOf(threshold, totalsOfWindow, Math.min(threshold.windowSeconds, this.#intervals.length));
          const state = this.#windows.get(threshold)!;
          state.lastValue = value;
          if (value === undefined) continue;
          ok = compare(value, threshold.operator, threshold.bound);
          if (!ok && state.failedAtSeconds === undefined) {
            state.failedAtSeconds = elapsedSeconds;
            state.failedValue = value;
          }
        } else if (threshold.abortOnFail && pastDelay) {
          const value = valueOf(threshold, totals, elapsedSeconds);
          if (value !== undefined) ok = compare(value, threshold.operator, threshold.bound);
        }
        if (ok === false && threshold.abortOnFail && this.#abortedBy === undefined) this.#abortedBy = threshold;
      }
    } finally {
      for (const totalsOfWindow of windowTotals.values()) totalsOfWindow.destroy();
    }
    return this.#abortedBy;
  }

  #windowTotals(seconds: number, cache: Map<number, MetricTotals>): MetricTotals {
    let totals = cache.get(seconds);
    if (totals === undefined) {
      totals = new MetricTotals();
      for (const interval of this.#intervals.slice(-seconds)) totals.add(interval);
      cache.set(seconds, totals);
    }
    return totals;
  }

  /** The verdicts at the end of the run. */
  results(totals: MetricTotals, elapsedMs: number): ThresholdResult[] {
    return this.#thresholds.map((threshold) => {
      const state = this.#windows.get(threshold);
      if (state !== undefined) {
        const failed = state.failedAtSeconds !== undefined;
        return { threshold, ok: !failed, value: failed ? state.failedValue : state.lastValue, failedAtSeconds: state.failedAtSeconds };
      }
      const value = valueOf(threshold, totals, elapsedMs / 1000);
      // Nothing recorded for a trend or rate: k6 passes it; so do we, and the summary shows "no data".
      const ok = value === undefined ? true : compare(value, threshold.operator, threshold.bound);
      return { threshold, ok, value, failedAtSeconds: undefined };
    });
  }

  /** Per threshold: passing so far (true), failing (false), no data yet (undefined) — for the progress line. */
  state(totals: MetricTotals, elapsedMs: number): (boolean | undefined)[] {
    return this.#thresholds.map((threshold) => {
      const window = this.#windows.get(threshold);
      if (window !== undefined) return window.failedAtSeconds !== undefined ? false : window.lastValue === undefined ? undefined : true;
      const value = valueOf(threshold, totals, elapsedMs / 1000);
      return value === undefined ? undefined : compare(value, threshold.operator, threshold.bound);
    });
  }
}
