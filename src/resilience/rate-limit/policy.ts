import { RateLimitedError } from '../errors.js';
import { EMIT, EventSource } from '../events.js';
import { type ExecuteOptions, invoke, type Operation, type Policy, type PolicyContext, toContext } from '../policy.js';
import type { KeyedRateLimiter } from './keyed.js';
import type { RateLimitDecision, RateLimiter } from './limiter.js';

export interface RateLimitOptions {
  /** Permits a call takes (default 1). */
  readonly permits?: (context: PolicyContext) => number;
  /** The key for a keyed limiter (default `context.key`, '' when absent). */
  readonly keyOf?: (context: PolicyContext) => string;
  /** Calls that skip the limiter, e.g. `c => c.criticality === 'CRITICAL_PLUS'` (default none). */
  readonly exempt?: (context: PolicyContext) => boolean;
}

export type RateLimitEvent = { readonly type: 'rejected'; readonly key: string | undefined; readonly retryAfterMs: number };

export interface RateLimitStats {
  readonly allowed: number;
  readonly rejected: number;
  readonly exempt: number;
}

/**
 * Runs calls through a rate limiter (one, or one per key) and refuses with
 * `RateLimitedError`, whose `retryAfterMs` is the limiter's own figure for
 * when a permit frees up; `rateLimitHeaders` turns it into response headers.
 */
export class RateLimitPolicy implements Policy {
  readonly events = new EventSource<RateLimitEvent>();
  readonly #limiter: RateLimiter | KeyedRateLimiter;
  readonly #options: RateLimitOptions;
  #allowed = 0;
  #rejected = 0;
  #exempt = 0;

  constructor(limiter: RateLimiter | KeyedRateLimiter, options: RateLimitOptions = {}) {
    this.#limiter = limiter;
    this.#options = options;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    if (this.#options.exempt?.(context) === true) {
      this.#exempt++;
      return invoke(fn, context);
    }
    const permits = this.#options.permits?.(context) ?? 1;
    const keyed = !('capacity' in this.#limiter);
    const key = keyed ? (this.#options.keyOf?.(context) ?? context.key ?? '') : undefined;
    const decision = key === undefined ? (this.#limiter as RateLimiter).tryAcquire(permits) : (this.#limiter as KeyedRateLimiter).tryAcquire(key, permits);
    if (!decision.allowed) {
      this.#rejected++;
      if (this.events.active) this.events[EMIT]({ type: 'rejected', key, retryAfterMs: decision.retryAfterMs });
      return Promise.reject(new RateLimitedError(decision.retryAfterMs, key));
    }
    this.#allowed++;
    return invoke(fn, context);
  }

  stats(): RateLimitStats {
    return { allowed: this.#allowed, rejected: this.#rejected, exempt: this.#exempt };
  }
}

/** A rate-limit policy; see `RateLimitPolicy`. */
export function rateLimit(limiter: RateLimiter | KeyedRateLimiter, options?: RateLimitOptions): RateLimitPolicy {
  return new RateLimitPolicy(limiter, options);
}

/**
 * Response headers for a decision: `Retry-After` (whole seconds, rounded up)
 * when refused, and the IETF `RateLimit` field (`"policy";r=remaining;t=reset`).
 */
export function rateLimitHeaders(decision: RateLimitDecision, policyName = 'default'): Record<string, string> {
  const resetSeconds = Number.isFinite(decision.retryAfterMs) ? Math.ceil(decision.retryAfterMs / 1000) : undefined;
  const headers: Record<string, string> = { ratelimit: `"${policyName}";r=${decision.remaining}${resetSeconds === undefined ? '' : `;t=${resetSeconds}`}` };
  if (!decision.allowed && resetSeconds !== undefined) headers['retry-after'] = String(resetSeconds);
  return headers;
}
