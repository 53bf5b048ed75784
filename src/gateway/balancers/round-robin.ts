import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * Smooth weighted round robin (nginx): each pick adds every candidate's
 * weight to its current value, takes the largest, and subtracts the total
 * from the winner. Weights 5,1,1 give a,a,b,a,c,a,a: spread, not bursts.
 * State is a WeakMap, so removed endpoints leave nothing behind.
 */
export class RoundRobinBalancer implements Balancer {
  #current = new WeakMap<Endpoint, number>();

  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    let total = 0;
    let best: Endpoint | undefined;
    let bestValue = -Infinity;
    for (const endpoint of candidates) {
      const weight = context.weightOf(endpoint);
      total += weight;
      const value = (this.#current.get(endpoint) ?? 0) + weight;
      this.#current.set(endpoint, value);
      if (value > bestValue) {
        bestValue = value;
        best = endpoint;
      }
    }
    const winner = best as Endpoint; // candidates is non-empty
    this.#current.set(winner, bestValue - total);
    return winner;
  }
}
