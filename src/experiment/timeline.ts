import type { Operation } from '../check/index.js';
import type { TimePoint } from '../load/index.js';

/**
 * The run's timeline, pure: one row per second of throughput, errors and
 * latency (from keel load's points when a load ran, else from the recorded
 * history), the leader and the SLO burn rate sampled as the run went, the
 * faults as spans; and the postmortem figures drawn from it (impact, time to
 * detect, time to recover).
 */

export interface FaultSpanMs {
  readonly name: string;
  readonly description: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface Sample<T> {
  readonly atMs: number;
  readonly value: T;
}

export interface TimelineRow {
  /** Second of the run (0 = the first second after the start). */
  readonly t: number;
  readonly ok: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly leader: string | null;
  readonly burnRate: number | null;
}

export interface FaultImpact extends FaultSpanMs {
  /** From the fault's start to the first second that shows it (errors, a throughput drop, a leader change); null if none did. */
  readonly detectMs: number | null;
  /** From the fault's start to the first second, after it showed, back at 80 % of the baseline with no errors; null if it never was. */
  readonly recoverMs: number | null;
}

export interface Timeline {
  /** 'load' or 'history': where throughput and latency come from. */
  readonly source: 'load' | 'history' | 'none';
  readonly rows: readonly TimelineRow[];
  readonly faults: readonly FaultImpact[];
  readonly leaderChanges: readonly Sample<string | null>[];
  readonly stoppedAtMs: number | null;
  /** Median ok per second before the first fault. */
  readonly baselinePerSecond: number;
  readonly totals: { readonly ok: number; readonly errors: number };
}

export interface TimelineInputs {
  readonly durationMs: number;
  /** keel load's points, and when (ms since the run started) the load started. */
  readonly load?: { readonly points: readonly TimePoint[]; readonly startMs: number };
  /** The recorded operations, times already in ms since the run started. */
  readonly operations?: readonly Pick<Operation, 'call' | 'ret' | 'type'>[];
  readonly leaders: readonly Sample<string | null>[];
  readonly burnRates: readonly Sample<number | null>[];
  readonly faults: readonly FaultSpanMs[];
  readonly stoppedAtMs?: number;
}

const RECOVERED_FRACTION = 0.8;
const DEGRADED_FRACTION = 0.5;

export function buildTimeline(inputs: TimelineInputs): Timeline {
  const seconds = Math.max(1, Math.ceil(inputs.durationMs / 1_000));
  const rows: { t: number; ok: number; errors: number; p50Ms: number; p99Ms: number; leader: string | null; burnRate: number | null }[] = Array.from({ length: seconds }, (_, t) => ({ t, ok: 0, errors: 0, p50Ms: 0, p99Ms: 0, leader: null, burnRate: null }));
  let source: Timeline['source'] = 'none';
  if (inputs.load !== undefined && inputs.load.points.length > 0) {
    source = 'load';
    for (const point of inputs.load.points) {
      const row = rows[Math.min(seconds - 1, Math.max(0, Math.floor((inputs.load.startMs + point.t * 1_000) / 1_000) - 1))]!;
      row.ok += point.requests - point.failed;
      row.errors += point.failed;
      row.p50Ms = Math.max(row.p50Ms, point.p50Ms);
      row.p99Ms = Math.max(row.p99Ms, point.p99Ms);
    }
  } else if (inputs.operations !== undefined && inputs.operations.length > 0) {
    source = 'history';
    const latencies: number[][] = rows.map(() => []);
    for (const operation of inputs.operations) {
      const end = Number.isFinite(operation.ret) ? operation.ret : operation.call;
      const index = Math.min(seconds - 1, Math.max(0, Math.floor(end / 1_000)));
      if (operation.type === 'ok') {
        rows[index]!.ok++;
        latencies[index]!.push(operation.ret - operation.call);
      } else {
        rows[index]!.errors++;
      }
    }
    latencies.forEach((values, index) => {
      values.sort((a, b) => a - b);
      rows[index]!.p50Ms = percentile(values, 0.5);
      rows[index]!.p99Ms = percentile(values, 0.99);
    });
  }
  for (const row of rows) {
    row.leader = lastAtOrBefore(inputs.leaders, (row.t + 1) * 1_000) ?? null;
    row.burnRate = lastAtOrBefore(inputs.burnRates, (row.t + 1) * 1_000) ?? null;
  }
  const leaderChanges = changes(inputs.leaders);
  const firstFaultMs = Math.min(...inputs.faults.map((fault) => fault.startMs), inputs.durationMs);
  const baseline = median(rows.filter((row) => (row.t + 1) * 1_000 <= firstFaultMs && row.t > 0).map((row) => row.ok));
  const faults = inputs.faults.map((fault) => impactOf(fault, rows, leaderChanges, baseline));
  const totals = rows.reduce((sum, row) => ({ ok: sum.ok + row.ok, errors: sum.errors + row.errors }), { ok: 0, errors: 0 });
  return { source, rows, faults, leaderChanges, stoppedAtMs: inputs.stoppedAtMs ?? null, baselinePerSecond: baseline, totals };
}

function impactOf(fault: FaultSpanMs, rows: readonly TimelineRow[], leaderChanges: readonly Sample<string | null>[], baseline: number): FaultImpact {
  const first = Math.floor(fault.startMs / 1_000);
  const degraded = (row: TimelineRow): boolean => row.errors > 0 || (baseline > 0 && row.ok < baseline * DEGRADED_FRACTION);
  let detectSecond: number | null = null;
  for (const row of rows.slice(first)) {
    if (degraded(row) || leaderChanges.some((change) => change.atMs >= fault.startMs && change.atMs < (row.t + 1) * 1_000)) {
      detectSecond = row.t;
      break;
    }
    if (row.t * 1_000 > fault.endMs) break;
  }
  if (detectSecond === null) return { ...fault, detectMs: null, recoverMs: null };
  const healthy = rows.slice(detectSecond + 1).find((row) => row.errors === 0 && row.ok >= baseline * RECOVERED_FRACTION && row.ok > 0);
  return {
    ...fault,
    detectMs: Math.max(0, (detectSecond + 1) * 1_000 - fault.startMs),
    recoverMs: healthy === undefined ? null : Math.max(0, healthy.t * 1_000 - fault.startMs),
  };
}

function lastAtOrBefore<T>(samples: readonly Sample<T>[], atMs: number): T | undefined {
  let found: T | undefined;
  for (const sample of samples) {
    if (sample.atMs > atMs) break;
    found = sample.value;
  }
  return found;
}

function changes(samples: readonly Sample<string | null>[]): Sample<string | null>[] {
  const out: Sample<string | null>[] = [];
  let previous: string | null | undefined;
  for (const sample of samples) {
    if (sample.value === null) continue; // no answer is not a new leader
    if (sample.value !== previous) out.push(sample);
    previous = sample.value;
  }
  return out;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
