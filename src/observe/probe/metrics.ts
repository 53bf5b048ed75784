/**
 * The series `keel probe serve` exports, named as blackbox_exporter names
 * them so dashboards, alerts and SLO rules written for it work unchanged:
 * probe_success (1 or 0), probe_duration_seconds and, for HTTP checks,
 * probe_http_status_code (0 when no response came), each with the label
 * probe="<check name>" plus the check's own labels. Keel's own counters
 * (runs by result, runs skipped because the previous one was still going)
 * carry the keel_ prefix.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Check } from './config.js';
import type { CheckResult } from './result.js';

export class ProbeMetrics {
  readonly registry = new Registry();
  readonly #labelNames: readonly string[];
  readonly #success: Gauge;
  readonly #duration: Gauge;
  readonly #httpStatus: Gauge;
  readonly #runs: Counter;
  readonly #skipped: Counter;

  /** Label names are declared up front: 'probe' and the union of every check's label names (a check without one exports it empty). */
  constructor(checks: readonly Check[]) {
    const custom = [...new Set(checks.flatMap((check) => Object.keys(check.labels)))].sort();
    this.#labelNames = ['probe', ...custom];
    const labelNames = this.#labelNames;
    const registers = [this.registry];
    this.#success = new Gauge({ name: 'probe_success', help: 'Whether the check passed on its last run (1) or failed (0).', labelNames, registers });
    this.#duration = new Gauge({ name: 'probe_duration_seconds', help: 'How long the check\'s last run took, in seconds.', labelNames, registers });
    this.#httpStatus = new Gauge({ name: 'probe_http_status_code', help: 'The HTTP status of the last response of an HTTP check (0 when none came).', labelNames, registers });
    this.#runs = new Counter({ name: 'keel_probe_runs_total', help: 'Check runs, by result (pass or fail).', labelNames: [...labelNames, 'result'], registers });
    this.#skipped = new Counter({ name: 'keel_probe_runs_skipped_total', help: 'Scheduled runs skipped because the check\'s previous run was still going.', labelNames, registers });
  }

  record(result: CheckResult): void {
    const labels = this.#labelsOf(result);
    this.#success.set(labels, result.ok ? 1 : 0);
    this.#duration.set(labels, result.durationMs / 1_000);
    if (result.kind === 'http') this.#httpStatus.set(labels, result.httpStatus ?? 0);
    this.#runs.inc({ ...labels, result: result.ok ? 'pass' : 'fail' });
  }

  recordSkipped(check: Check, count: number): void {
    this.#skipped.inc(this.#labelsOf(check), count);
  }

  #labelsOf(subject: { name: string; labels: Readonly<Record<string, string>> }): Record<string, string> {
    const labels: Record<string, string> = {};
    for (const name of this.#labelNames) labels[name] = name === 'probe' ? subject.name : (subject.labels[name] ?? '');
    return labels;
  }
}
