import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';
import { weightedIndex } from './random.js';

/**
 * Least request with the power of two choices (Envoy): draw two endpoints
 * (by weight), keep the one with fewer requests in flight relative to its
 * weight. Two draws avoid the herd that "always the least loaded" causes
 * when many gateways share the same stale view.
 */
export class LeastRequestBalancer implements Balancer {
  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    const first = candidates[weightedIndex(candidates, context)] as Endpoint;
    if (candidates.length === 1) return first;
    const second = candidates[weightedIndex(candidates, context)] as Endpoint;
    const load = (endpoint: Endpoint) => (endpoint.inflight + 1) / Math.max(context.weightOf(endpoint), 1e-9);
    return load(second) < load(first) ? second : first;
  }
}
