import type { Random } from '../../resilience/index.js';
import type { Endpoint } from '../endpoint.js';

/** What a balancer may use to pick: the time, a random source, a hash key and the weight function. */
export interface PickContext {
  readonly nowMs: number;
  readonly random: Random;
  /** For hashing balancers: the header value or client IP (undefined: fall back to random). */
  readonly hashKey: string | undefined;
  /** The endpoint's weight now (slow start applied). */
  readonly weightOf: (endpoint: Endpoint) => number;
}

/**
 * Picks one endpoint of a non-empty candidate list. Balancers keep state
 * between picks (current weights, rings) keyed by endpoint, and must cope
 * with the candidate list changing between calls.
 */
export interface Balancer {
  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint;
}
