import { KEYED_ENTRIES_MAX } from '../limits.js';
import { BoundedLru } from '../lru.js';
import type { RateLimitDecision, RateLimiter } from './limiter.js';

export interface KeyedRateLimiterOptions {
  /** Keys remembered at most (default 10,000). */
  readonly maxKeys?: number;
}

export const KEYED_DEFAULTS = Object.freeze({ maxKeys: 10_000 });

/**
 * One limiter per key (customer, user, IP) with bounded memory. When the map
 * is full, a key whose limiter is idle (back to its fresh state, so dropping
 * it changes nothing) is evicted first, else the least recently used one. An
 * evicted busy key starts afresh: under a flood of distinct keys the limit
 * per key can be exceeded, never the memory bound. Size `maxKeys` to the
 * active keys of a window.
 */
export class KeyedRateLimiter {
  readonly #limiters: BoundedLru<RateLimiter>;
  readonly #create: (key: string) => RateLimiter;

  constructor(create: (key: string) => RateLimiter, options: KeyedRateLimiterOptions = {}) {
    this.#create = create;
    this.#limiters = new BoundedLru<RateLimiter>(Math.min(options.maxKeys ?? KEYED_DEFAULTS.maxKeys, KEYED_ENTRIES_MAX), (limiter) => limiter.isIdle(), true);
  }

  tryAcquire(key: string, permits = 1): RateLimitDecision {
    const limiter = this.#limiters.get(key, () => this.#create(key)) as RateLimiter; // force-evicting map always yields an entry
    return limiter.tryAcquire(permits);
  }

  /** Gives `key`'s permits back if its limiter supports it and is still remembered (see RateLimiter.refund). */
  refund(key: string, permits = 1): void {
    this.#limiters.peek(key)?.refund?.(permits);
  }

  /** Keys currently remembered. */
  get size(): number {
    return this.#limiters.size;
  }

  /** Keys dropped to stay within `maxKeys`. */
  get evictions(): number {
    return this.#limiters.evictions;
  }
}

/** Per-key limiters; see `KeyedRateLimiter`. */
export function keyedLimiter(create: (key: string) => RateLimiter, options?: KeyedRateLimiterOptions): KeyedRateLimiter {
  return new KeyedRateLimiter(create, options);
}
