/**
 * Metrics as k6 names them: trends (HDR histograms, milliseconds), counters,
 * rates (share of true samples) and gauges. A worker records into an
 * `IntervalRecorder` and ships a `MetricsSnapshot` (histograms encoded) once
 * a second; the coordinator adds snapshots into `MetricTotals`, exactly.
 */
import { addEncoded, encodeHistogram, newHistogram, recordMs, type Histogram } from './histogram.js';
import { CHECK_NAMES_MAX, ERROR_KINDS_MAX, METRIC_NAMES_MAX } from './limits.js';

export type MetricKind = 'trend' | 'counter' | 'rate' | 'gauge';

/** The built-in metrics and their kinds; custom metrics take their kind from how they are first recorded. */
export const BUILTIN_METRICS: Readonly<Record<string, MetricKind>> = Object.freeze({
  http_reqs: 'counter',
  http_req_duration: 'trend',
  http_req_failed: 'rate',
  grpc_reqs: 'counter',
  grpc_req_duration: 'trend',
  grpc_req_failed: 'rate',
  checks: 'rate',
  iterations: 'counter',
  iteration_duration: 'trend',
  interrupted_iterations: 'counter',
  dropped_iterations: 'counter',
  data_received: 'counter',
  data_sent: 'counter',
  vus: 'gauge',
  vus_max: 'gauge',
});

/** What a worker sends once a second: the interval's metrics, histograms encoded. */
export interface MetricsSnapshot {
  readonly trends: Record<string, string>;
  readonly counters: Record<string, number>;
  /** [samples that were true, all samples] */
  readonly rates: Record<string, [number, number]>;
  readonly gauges: Record<string, number>;
  /** check name → [passes, fails] */
  readonly checks: Record<string, [number, number]>;
  /** error kind (ECONNREFUSED, status 503, ...) → count */
  readonly errors: Record<string, number>;
}

export function emptySnapshot(): MetricsSnapshot {
  return { trends: {}, counters: {}, rates: {}, gauges: {}, checks: {}, errors: {} };
}

/** Adds to a bounded map: a new key past `max` keys is counted under `overflowKey`. */
function bump(map: Map<string, number>, key: string, by: number, max: number, overflowKey: string): void {
  const current = map.get(key);
  if (current !== undefined) map.set(key, current + by);
  else if (map.size < max) map.set(key, by);
  else map.set(overflowKey, (map.get(overflowKey) ?? 0) + by);
}

/** One worker's metrics since its last snapshot. */
export class IntervalRecorder {
  readonly #trends = new Map<string, Histogram>();
  readonly #counters = new Map<string, number>();
  readonly #rates = new Map<string, [number, number]>();
  readonly #gauges = new Map<string, number>();
  readonly #checks = new Map<string, [number, number]>();
  readonly #errors = new Map<string, number>();

  trend(name: string, valueMs: number): void {
    let histogram = this.#trends.get(name);
    if (histogram === undefined) {
      if (this.#trends.size >= METRIC_NAMES_MAX) return;
      histogram = newHistogram();
      this.#trends.set(name, histogram);
    }
    recordMs(histogram, valueMs);
  }

  counter(name: string, by = 1): void {
    bump(this.#counters, name, by, METRIC_NAMES_MAX, 'other_counters');
  }

  rate(name: string, value: boolean): void {
    let pair = this.#rates.get(name);
    if (pair === undefined) {
      if (this.#rates.size >= METRIC_NAMES_MAX) return;
      pair = [0, 0];
      this.#rates.set(name, pair);
    }
    if (value) pair[0]++;
    pair[1]++;
  }

  gauge(name: string, value: number): void {
    if (this.#gauges.has(name) || this.#gauges.size < METRIC_NAMES_MAX) this.#gauges.set(name, value);
  }

  check(name: string, passed: boolean): void {
    let pair = this.#checks.get(name);
    if (pair === undefined) {
      pair = [0, 0];
      if (this.#checks.size < CHECK_NAMES_MAX) this.#checks.set(name, pair);
      else pair = this.#checks.get('other checks') ?? this.#checks.set('other checks', [0, 0]).get('other checks')!;
    }
    pair[passed ? 0 : 1]++;
    this.rate('checks', passed);
  }

  error(kind: string): void {
    bump(this.#errors, kind, 1, ERROR_KINDS_MAX, 'other');
  }

  /** The interval's metrics, encoded; resets everything but the gauges (they hold a level, not a count). */
  snapshot(): MetricsSnapshot {
    const trends: Record<string, string> = {};
    for (const [name, histogram] of this.#trends) {
      if (histogram.totalCount === 0) continue;
      trends[name] = encodeHistogram(histogram);
      histogram.reset();
    }
    const snapshot: MetricsSnapshot = {
      trends,
      counters: Object.fromEntries(this.#counters),
      rates: Object.fromEntries([...this.#rates].map(([name, pair]) => [name, [pair[0], pair[1]]])),
      gauges: Object.fromEntries(this.#gauges),
      checks: Object.fromEntries([...this.#checks].map(([name, pair]) => [name, [pair[0], pair[1]]])),
      errors: Object.fromEntries(this.#errors),
    };
    this.#counters.clear();
    this.#rates.clear();
    this.#checks.clear();
    this.#errors.clear();
    return snapshot;
  }

  destroy(): void {
    for (const histogram of this.#trends.values()) histogram.destroy();
    this.#trends.clear();
  }
}

/**
 * Metrics added up from snapshots: the whole run's, or one window's. Gauges
 * hold the latest value added (snapshots of one interval from several workers
 * are first combined with `combineSnapshots`, which sums them) and their max.
 */
export class MetricTotals {
  readonly trends = new Map<string, Histogram>();
  readonly counters = new Map<string, number>();
  readonly rates = new Map<string, [number, number]>();
  readonly gauges = new Map<string, number>();
  readonly gaugeMax = new Map<string, number>();
  readonly checks = new Map<string, [number, number]>();
  readonly errors = new Map<string, number>();

  add(snapshot: MetricsSnapshot): void {
    for (const [name, encoded] of Object.entries(snapshot.trends)) {
      let histogram = this.trends.get(name);
      if (histogram === undefined) {
        if (this.trends.size >= METRIC_NAMES_MAX) continue;
        histogram = newHistogram();
        this.trends.set(name, histogram);
      }
      addEncoded(histogram, encoded);
    }
    for (const [name, by] of Object.entries(snapshot.counters)) bump(this.counters, name, by, METRIC_NAMES_MAX, 'other_counters');
    for (const [name, [trues, total]] of Object.entries(snapshot.rates)) addPair(this.rates, name, trues, total);
    for (const [name, [passes, fails]] of Object.entries(snapshot.checks)) addPair(this.checks, name, passes, fails);
    for (const [name, value] of Object.entries(snapshot.gauges)) {
      this.gauges.set(name, value);
      this.gaugeMax.set(name, Math.max(value, this.gaugeMax.get(name) ?? value));
    }
    for (const [kind, count] of Object.entries(snapshot.errors)) bump(this.errors, kind, count, ERROR_KINDS_MAX, 'other');
  }

  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  destroy(): void {
    for (const histogram of this.trends.values()) histogram.destroy();
    this.trends.clear();
  }
}

function addPair(map: Map<string, [number, number]>, name: string, first: number, second: number): void {
  const pair = map.get(name);
  if (pair !== undefined) {
    pair[0] += first;
    pair[1] += second;
  } else if (map.size < METRIC_NAMES_MAX) map.set(name, [first, second]);
}

/** Combines snapshots of the same interval from several workers into one: counts add, histograms merge exactly, gauges sum. */
export function combineSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  if (snapshots.length === 1) return snapshots[0]!;
  const totals = new MetricTotals();
  const gauges: Record<string, number> = {};
  for (const snapshot of snapshots) {
    totals.add(snapshot);
    for (const [name, value] of Object.entries(snapshot.gauges)) gauges[name] = (gauges[name] ?? 0) + value;
  }
  const combined: MetricsSnapshot = {
    trends: Object.fromEntries([...totals.trends].map(([name, histogram]) => [name, encodeHistogram(histogram)])),
    counters: Object.fromEntries(totals.counters),
    rates: Object.fromEntries(totals.rates),
    gauges,
    checks: Object.fromEntries(totals.checks),
    errors: Object.fromEntries(totals.errors),
  };
  totals.destroy();
  return combined;
}
