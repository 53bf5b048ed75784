import type { CalendarUnit, WallTime } from './calendar.js';
import type { Selector } from './selector.js';

/**
 * The SLO model every part works on, after loading and resolving an
 * OpenSLO file: one objective of one SLO is one `Slo` here (an OpenSLO SLO
 * with two objectives becomes two, `<name>-<objective index>` unless the
 * objective is named).
 */

/** How one side of a ratio or a histogram is read. */
export type MetricQuery =
  /** A vector selector on counters: `sum(increase(sel[W]))`. Both sources evaluate it. */
  | { readonly kind: 'selector'; readonly selector: Selector }
  /** Raw PromQL with `{{.window}}` where the window goes, as Sloth writes it; a per-second rate. Prometheus only. */
  | { readonly kind: 'promql'; readonly query: string };

export type Sli =
  /** good/total or bad/total events. */
  | { readonly kind: 'ratio'; readonly good?: MetricQuery; readonly bad?: MetricQuery; readonly total: MetricQuery }
  /**
   * Latency under `thresholdSeconds`: good = the histogram's `le` bucket at
   * the threshold, total = its `_count`. `histogram` is the base name with
   * its matchers (`grpc_server_handling_seconds{grpc_service="..."}`).
   */
  | { readonly kind: 'threshold'; readonly histogram: Selector; readonly thresholdSeconds: number; readonly buckets?: readonly number[] };

export type TimeWindow =
  | { readonly kind: 'rolling'; readonly seconds: number; readonly text: string }
  /** A calendar period (`1M` from `startTime` in `timeZone`): the budget restarts at each period's start. */
  | { readonly kind: 'calendar'; readonly seconds: number; readonly text: string; readonly unit: CalendarUnit; readonly count: number; readonly start: WallTime; readonly timeZone: string };

export type Budgeting =
  | { readonly method: 'Occurrences' }
  /** A slice is good when its good ratio is at least `sliceTarget`; the objective counts good slices. */
  | { readonly method: 'Timeslices'; readonly sliceSeconds: number; readonly sliceTarget: number };

export type Severity = 'page' | 'ticket';

/** One burn-rate condition: error ratio above `factor` x budget over both windows. */
export interface BurnWindowPair {
  readonly longSeconds: number;
  readonly shortSeconds: number;
  readonly factor: number;
}

/** One alert rule: any of its pairs firing fires it. */
export interface AlertSpec {
  readonly severity: Severity;
  readonly name: string;
  readonly pairs: readonly BurnWindowPair[];
  /** Seconds the condition must hold (OpenSLO `alertAfter`); 0 = at once. */
  readonly forSeconds: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface Slo {
  /** `<service>-<slo>`: Sloth's `sloth_id`. */
  readonly id: string;
  readonly service: string;
  /** The SLO's name (with the objective's when it has several): `sloth_slo`. */
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  /** Where it came from, for messages: `file.yaml#2 (SLO api-availability)`. */
  readonly source: string;
  readonly target: number;
  readonly sli: Sli;
  readonly window: TimeWindow;
  readonly budgeting: Budgeting;
  readonly alerts: readonly AlertSpec[];
  /** The low-traffic guard: no alert unless the short window saw at least this many events (undefined = the generator's default). */
  readonly minEvents?: number;
  readonly runbookUrl?: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The error budget as a ratio (1 - target). */
export function errorBudget(slo: Slo): number {
  return 1 - slo.target;
}
