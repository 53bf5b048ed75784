import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';
import { weightedIndex } from './random.js';

/** Decay time of the EWMA (Finagle's default 10 s). */
export const PEAK_EWMA_DECAY_MS = 10_000;

/**
 * Records a latency sample: peak EWMA (Finagle, Linkerd) jumps up to a
 * slower sample at once and decays towards faster ones with time constant
 * `PEAK_EWMA_DECAY_MS`, so a backend that turns slow is avoided quickly.
 */
export function recordLatency(endpoint: Endpoint, latencyMs: number, nowMs: number): void {
  if (endpoint.ewmaUpdatedMs === 0 || latencyMs > endpoint.ewmaMs) {
    endpoint.ewmaMs = latencyMs;
  } else {
    const elapsed = Math.max(0, nowMs - endpoint.ewmaUpdatedMs);
    const keep = Math.exp(-elapsed / PEAK_EWMA_DECAY_MS);
    endpoint.ewmaMs = endpoint.ewmaMs * keep + latencyMs * (1 - keep);
  }
  endpoint.ewmaUpdatedMs = nowMs;
}

/** Power of two choices by cost = EWMA latency × (in flight + 1) ÷ weight. */
export class PeakEwmaBalancer implements Balancer {
  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    const first = candidates[weightedIndex(candidates, context)] as Endpoint;
    if (candidates.length === 1) return first;
    const second = candidates[weightedIndex(candidates, context)] as Endpoint;
    const cost = (endpoint: Endpoint) => ((endpoint.ewmaMs || 1) * (endpoint.inflight + 1)) / Math.max(context.weightOf(endpoint), 1e-9);
    return cost(second) < cost(first) ? second : first;
  }
}
