/** One point per second of the run: what the NDJSON output, the live display and the HTML report show. */
import { decodeHistogram, percentileMs } from './histogram.js';
import type { MetricsSnapshot } from './metrics.js';

export interface TimePoint {
  /** Seconds since the start. */
  readonly t: number;
  readonly requests: number;
  readonly failed: number;
  readonly iterations: number;
  readonly dropped: number;
  readonly vus: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly checksFailed: number;
}

/** The request-latency metric of an interval: HTTP's, else gRPC's, else the iteration's. */
const LATENCY_METRICS = ['http_req_duration', 'grpc_req_duration', 'iteration_duration'];

export function timePoint(t: number, interval: MetricsSnapshot): TimePoint {
  const latencyName = LATENCY_METRICS.find((name) => interval.trends[name] !== undefined);
  let p50Ms = 0;
  let p90Ms = 0;
  let p99Ms = 0;
  let maxMs = 0;
  if (latencyName !== undefined) {
    const histogram = decodeHistogram(interval.trends[latencyName]!);
    p50Ms = percentileMs(histogram, 50);
    p90Ms = percentileMs(histogram, 90);
    p99Ms = percentileMs(histogram, 99);
    maxMs = histogram.maxValue / 1000;
    histogram.destroy();
  }
  const failedPair = interval.rates.http_req_failed ?? interval.rates.grpc_req_failed;
  const checks = interval.rates.checks;
  return {
    t,
    requests: (interval.counters.http_reqs ?? 0) + (interval.counters.grpc_reqs ?? 0),
    failed: failedPair?.[0] ?? 0,
    iterations: interval.counters.iterations ?? 0,
    dropped: interval.counters.dropped_iterations ?? 0,
    vus: interval.gauges.vus ?? 0,
    p50Ms,
    p90Ms,
    p99Ms,
    maxMs,
    checksFailed: checks === undefined ? 0 : checks[1] - checks[0],
  };
}
