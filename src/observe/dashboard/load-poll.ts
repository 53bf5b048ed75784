import { fetchText } from './fetch-bounded.js';
import { parsePrometheusText, sumOf } from './prometheus-text.js';

/**
 * A running keel load test, read from its live metrics (`keel load
 * --metrics-port`, src/load/outputs/prometheus.ts). Nothing answering is
 * the normal state between runs, not an error.
 */
export interface LoadPoll {
  readonly running: boolean;
  readonly requests?: number;
  readonly failed?: number;
  readonly vus?: number;
  readonly p99Ms?: number;
  readonly droppedIterations?: number;
}

export async function pollLoad(metricsUrl: string): Promise<LoadPoll> {
  let text: string;
  try {
    text = await fetchText(metricsUrl);
  } catch {
    return { running: false };
  }
  const samples = parsePrometheusText(text);
  const requests = sumOf(samples, 'keel_load_http_requests_total');
  if (requests === undefined) return { running: false };
  const p99 = sumOf(samples, 'keel_load_http_request_duration_seconds', (labels) => labels.quantile === '0.99');
  const vus = sumOf(samples, 'keel_load_vus');
  const failed = sumOf(samples, 'keel_load_http_requests_failed_total');
  const dropped = sumOf(samples, 'keel_load_dropped_iterations_total');
  return {
    running: true,
    requests,
    ...(failed === undefined ? {} : { failed }),
    ...(vus === undefined ? {} : { vus }),
    ...(p99 === undefined ? {} : { p99Ms: p99 * 1000 }),
    ...(dropped === undefined ? {} : { droppedIterations: dropped }),
  };
}
