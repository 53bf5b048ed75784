/** What a rate limiter answers for a request of some permits. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** 0 when allowed; otherwise ms until the permits would be granted (Infinity: never, more than the limiter holds). */
  readonly retryAfterMs: number;
  /** Permits left right after this decision (whole permits). */
  readonly remaining: number;
}

/**
 * A rate limiter over the clock it was built with. `tryAcquire` is the whole
 * protocol: it grants and counts the permits or refuses and says when they
 * would be granted, so a server can answer 429 with `Retry-After`.
 */
export interface RateLimiter {
  tryAcquire(permits?: number): RateLimitDecision;
  /** True when the limiter's state equals a fresh one's: dropping it loses nothing (keyed limiters evict these first). */
  isIdle(): boolean;
  /** The most permits it can ever grant at once. */
  readonly capacity: number;
  /**
   * Gives back permits granted earlier that turned out not to count (an
   * attempt that succeeded, where only failures are limited). Optional:
   * limiters without it keep the permits spent.
   */
  refund?(permits?: number): void;
}

export function allowed(remaining: number): RateLimitDecision {
  return { allowed: true, retryAfterMs: 0, remaining };
}

export function refused(retryAfterMs: number, remaining: number): RateLimitDecision {
  return { allowed: false, retryAfterMs, remaining };
}
