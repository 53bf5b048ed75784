import { type Clock, systemClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { checkInteger, checkRange } from '../options.js';
import { allowed, type RateLimitDecision, type RateLimiter, refused } from './limiter.js';

export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst). */
  readonly capacity: number;
  /** Tokens added per refill (default 1). */
  readonly refillTokens?: number;
  /** Time between refills in ms. */
  readonly refillIntervalMs: number;
  /** Tokens at the start (default: full, as Guava's and Envoy's buckets). */
  readonly initialTokens?: number;
  readonly clock?: Clock;
}

/**
 * A token bucket with discrete refills: every `refillIntervalMs`, counted
 * from the bucket's creation, `refillTokens` tokens are added up to
 * `capacity`. Integer state, so it matches its reference simulation exactly
 * and reports the exact time until the next permit.
 */
export class TokenBucket implements RateLimiter {
  readonly capacity: number;
  readonly refillTokens: number;
  readonly refillIntervalMs: number;
  readonly #clock: Clock;
  readonly #originMs: number;
  #tokens: number;
  #tick = 0;

  constructor(options: TokenBucketOptions) {
    this.capacity = checkInteger('capacity', options.capacity, 1, Number.MAX_SAFE_INTEGER);
    this.refillTokens = checkInteger('refillTokens', options.refillTokens ?? 1, 1, Number.MAX_SAFE_INTEGER);
    this.refillIntervalMs = checkRange('refillIntervalMs', options.refillIntervalMs, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER);
    this.#tokens = checkInteger('initialTokens', options.initialTokens ?? this.capacity, 0, this.capacity);
    this.#clock = options.clock ?? systemClock;
    this.#originMs = this.#clock.now();
  }

  /** Tokens available now. */
  get tokens(): number {
    this.#refill(this.#clock.now());
    return this.#tokens;
  }

  tryAcquire(permits = 1): RateLimitDecision {
    if (!Number.isInteger(permits) || permits < 1) throw new ConfigError('permits must be a positive integer');
    const nowMs = this.#clock.now();
    this.#refill(nowMs);
    if (permits > this.capacity) return refused(Infinity, this.#tokens);
    if (this.#tokens >= permits) {
      this.#tokens -= permits;
      return allowed(this.#tokens);
    }
    const refills = Math.ceil((permits - this.#tokens) / this.refillTokens);
    const grantMs = this.#originMs + (this.#tick + refills) * this.refillIntervalMs;
    return refused(Math.max(1, Math.ceil(grantMs - nowMs)), this.#tokens);
  }

  /** Puts `permits` back, never above capacity (see RateLimiter.refund). */
  refund(permits = 1): void {
    if (!Number.isInteger(permits) || permits < 1) throw new ConfigError('permits must be a positive integer');
    this.#refill(this.#clock.now());
    this.#tokens = Math.min(this.capacity, this.#tokens + permits);
  }

  isIdle(): boolean {
    return this.tokens === this.capacity;
  }

  #refill(nowMs: number): void {
    const tick = Math.floor((nowMs - this.#originMs) / this.refillIntervalMs);
    if (tick <= this.#tick) return;
    this.#tokens = Math.min(this.capacity, this.#tokens + (tick - this.#tick) * this.refillTokens);
    this.#tick = tick;
  }
}

/** A token bucket; see `TokenBucket`. `ratePerSecond` is shorthand for one token every 1000 / rate ms. */
export function tokenBucket(options: TokenBucketOptions | { capacity: number; ratePerSecond: number; clock?: Clock }): TokenBucket {
  if ('ratePerSecond' in options) {
    const rate = checkRange('ratePerSecond', options.ratePerSecond, Number.MIN_VALUE, 1e9);
    return new TokenBucket({ capacity: options.capacity, refillIntervalMs: 1000 / rate, ...(options.clock ? { clock: options.clock } : {}) });
  }
  return new TokenBucket(options);
}
