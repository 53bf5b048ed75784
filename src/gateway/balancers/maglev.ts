import type { Endpoint } from '../endpoint.js';
import type { Balancer, PickContext } from './balancer.js';
import { hash32 } from './hash.js';
import { RandomBalancer } from './random.js';

/** Maglev table size: a prime, as the paper requires (Envoy's default 65537). */
export const MAGLEV_TABLE_SIZE = 65_537;

/**
 * Maglev consistent hashing (Google's Maglev paper, Envoy's maglev lb): a
 * lookup table of `MAGLEV_TABLE_SIZE` slots filled by each endpoint's
 * permutation in turn (weighted: an endpoint takes turns in proportion to
 * its weight). O(1) lookups, minimal disruption when membership changes.
 */
export class MaglevBalancer implements Balancer {
  #members: readonly Endpoint[] = [];
  #table: Int32Array = new Int32Array(0);
  readonly #fallback = new RandomBalancer();

  pick(candidates: readonly Endpoint[], context: PickContext): Endpoint {
    if (context.hashKey === undefined) return this.#fallback.pick(candidates, context);
    if (!(this.#members.length === candidates.length && this.#members.every((member, index) => member === candidates[index]))) this.#build(candidates);
    const slot = this.#table[hash32(context.hashKey) % MAGLEV_TABLE_SIZE] as number;
    return this.#members[slot] as Endpoint;
  }

  #build(candidates: readonly Endpoint[]): void {
    const size = MAGLEV_TABLE_SIZE;
    const table = new Int32Array(size).fill(-1);
    const offsets = candidates.map((e) => hash32(`${e.address}#offset`) % size);
    const skips = candidates.map((e) => (hash32(`${e.address}#skip`) % (size - 1)) + 1);
    const next = candidates.map(() => 0);
    const maxWeight = Math.max(...candidates.map((e) => e.weight));
    const credit = candidates.map(() => 0);
    let filled = 0;
    // Each round, every endpoint earns weight/maxWeight of a turn; bounded: the table fills in at most size × maxWeight rounds.
    for (let round = 0; filled < size && round < size * maxWeight; round++) {
      for (let index = 0; index < candidates.length && filled < size; index++) {
        credit[index] = (credit[index] as number) + (candidates[index] as Endpoint).weight / maxWeight;
        if ((credit[index] as number) < 1) continue;
        credit[index] = (credit[index] as number) - 1;
        let slot = ((offsets[index] as number) + (next[index] as number) * (skips[index] as number)) % size;
        while (table[slot] !== -1) {
          next[index] = (next[index] as number) + 1;
          slot = ((offsets[index] as number) + (next[index] as number) * (skips[index] as number)) % size;
        }
        table[slot] = index;
        next[index] = (next[index] as number) + 1;
        filled++;
      }
    }
    this.#members = [...candidates];
    this.#table = table;
  }
}
