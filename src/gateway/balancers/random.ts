import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';

/** Picks `index` by weight: a draw in [0, total weight). */
export function weightedIndex(candidates: readonly Endpoint[], context: PickContext): number {
  let total = 0;
  for (const endpoint of candidates) total += context.weightOf(endpoint);
  let draw = context.random.next() * total;
  for (let index = 0; index < candidates.length; index++) {
    draw -= context.weightOf(candidates[index] as Endpoint);
    if (draw < 0) return index;
  }
  return candidates.length - 1;
}

/** Weighted random. */
export class RandomBalancer implements Balancer {
  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    return candidates[weightedIndex(candidates, context)] as Endpoint;
  }
}
