import { RING_ENTRIES_PER_ENDPOINT, RING_SIZE_MAX } from '../limits.js';
import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';
import { hash32 } from './hash.js';
import { RandomBalancer } from './random.js';

interface Ring {
  readonly members: readonly Endpoint[];
  readonly points: Uint32Array;
  readonly owners: readonly Endpoint[];
}

/**
 * Consistent hashing on a ring (Ketama / Envoy ring_hash): each endpoint
 * gets `RING_ENTRIES_PER_ENDPOINT × weight` points; a key goes to the first
 * point at or after its hash. Removing one endpoint moves only its keys.
 * The ring is rebuilt when the candidate list changes (cached by identity
 * of its members). Requests without a key are spread at random.
 */
export class RingHashBalancer implements Balancer {
  #ring: Ring | undefined;
  readonly #fallback = new RandomBalancer();

  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    if (context.hashKey === undefined) return this.#fallback.pick(candidates, context);
    const ring = this.#ringFor(candidates);
    const key = hash32(context.hashKey);
    let low = 0;
    let high = ring.points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((ring.points[middle] as number) < key) low = middle + 1;
      else high = middle;
    }
    return ring.owners[low === ring.points.length ? 0 : low] as Endpoint;
  }

  #ringFor(candidates: readonly Endpoint[]): Ring {
    const cached = this.#ring;
    if (cached && cached.members.length === candidates.length && cached.members.every((member, index) => member === candidates[index])) return cached;
    const perWeight = Math.max(1, Math.min(RING_ENTRIES_PER_ENDPOINT, Math.floor(RING_SIZE_MAX / candidates.reduce((sum, e) => sum + e.weight, 0))));
    const entries: Array<[number, Endpoint]> = [];
    for (const endpoint of candidates) {
      for (let replica = 0; replica < perWeight * endpoint.weight; replica++) entries.push([hash32(`${endpoint.address}_${replica}`), endpoint]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.#ring = { members: [...candidates], points: Uint32Array.from(entries, (entry) => entry[0]), owners: entries.map((entry) => entry[1]) };
    return this.#ring;
  }
}
