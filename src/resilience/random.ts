import { SeededRandom as CoreSeededRandom } from '../raft/random.js';
import { ConfigError } from './errors.js';

/** A source of uniform numbers in [0, 1). Policies draw jitter and throttling decisions from one. */
export interface Random {
  next(): number;
}

/** `Math.random`, for production. */
export const systemRandom: Random = Object.freeze({ next: () => Math.random() });

/**
 * A seeded PRNG (xoshiro128**, state seeded by splitmix32): the same seed
 * gives the same sequence on every platform, so a simulation or a test that
 * draws jitter replays exactly. It is the consensus core's generator (one
 * implementation for the whole project) with the `next()` this part draws from.
 */
export class SeededRandom extends CoreSeededRandom implements Random {
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new ConfigError('SeededRandom needs an integer seed');
    super(seed);
  }

  next(): number {
    return this.float();
  }
}

/** A seeded PRNG; shorthand for `new SeededRandom(seed)`. */
export function seededRandom(seed: number): SeededRandom {
  return new SeededRandom(seed);
}
