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
 * draws jitter replays exactly.
 */
export class SeededRandom implements Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new ConfigError('SeededRandom needs an integer seed');
    let state = seed >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.#b, 5) >>> 0, 7), 9) >>> 0;
    const shifted = (this.#b << 9) >>> 0;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= shifted;
    this.#d = rotateLeft(this.#d, 11);
    this.#a >>>= 0;
    this.#b >>>= 0;
    this.#c >>>= 0;
    return result;
  }

  next(): number {
    return this.nextUint32() / 4294967296;
  }
}

function rotateLeft(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

/** A seeded PRNG; shorthand for `new SeededRandom(seed)`. */
export function seededRandom(seed: number): SeededRandom {
  return new SeededRandom(seed);
}
