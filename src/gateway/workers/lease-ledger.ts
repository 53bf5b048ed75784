import type { KeyedRateLimiter } from '../../resilience/index.js';
import type { Clock } from '../../resilience/index.js';
import { assert } from '../../resilience/assert.js';
import type { RateLimitConfig } from '../config.js';
import { LEASE_RULES_MAX } from '../limits.js';
import { createRuleLimiter } from '../rate-limits.js';
import type { LeaseGrant, LeaseRequest, LeaseReturn } from './messages.js';

/**
 * The primary's side of rate-limit leasing: the one set of limiters every
 * worker's permits come from, keyed by rule signature (a rule whose config
 * a reload kept keeps its state, as in one process). A lease takes its
 * permits from the limiter when it is granted, so the permits granted across
 * all workers never exceed what one process would admit; a worker's unspent
 * permits are dropped after LEASE_TTL_MS, never given twice.
 */
export class LeaseLedger {
  readonly #clock: Clock;
  /** By rule signature, oldest first (a rule of a config two reloads ago goes first). */
  readonly #limiters = new Map<string, KeyedRateLimiter>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Grants `batch` permits if the key has them, else as many as it has if at least `permits`, else refuses. */
  grant(request: LeaseRequest): LeaseGrant {
    assert(request.permits >= 1 && request.batch >= request.permits, 'a lease asks for at least the permits it needs');
    const limiter = this.#limiterOf(request);
    const first = limiter.tryAcquire(request.key, request.batch);
    if (first.allowed) return { keel: 'grant', id: request.id, granted: request.batch, remaining: first.remaining, retryAfterMs: 0 };
    if (request.batch > request.permits && first.remaining >= request.permits) {
      const some = Math.min(first.remaining, request.batch);
      const second = limiter.tryAcquire(request.key, some);
      if (second.allowed) return { keel: 'grant', id: request.id, granted: some, remaining: second.remaining, retryAfterMs: 0 };
    }
    // Refused: the answer says when the permits the request needs (not the batch) would be there.
    const refusal = request.batch > request.permits ? limiter.tryAcquire(request.key, request.permits) : first;
    if (refusal.allowed) return { keel: 'grant', id: request.id, granted: request.permits, remaining: refusal.remaining, retryAfterMs: 0 };
    return { keel: 'grant', id: request.id, granted: 0, remaining: refusal.remaining, retryAfterMs: refusal.retryAfterMs };
  }

  /**
   * Takes back permits a worker leased and did not spend (token buckets
   * only; GCRA and sliding windows keep them spent). They were never
   * admitted, so the bucket's bound still holds; it never rises above capacity.
   */
  giveBack(returned: LeaseReturn): void {
    this.#limiters.get(returned.signature)?.refund(returned.key, returned.permits);
  }

  /** Rules with a limiter (for the admin view). */
  get rules(): number {
    return this.#limiters.size;
  }

  #limiterOf(request: LeaseRequest): KeyedRateLimiter {
    const known = this.#limiters.get(request.signature);
    if (known !== undefined) return known;
    if (this.#limiters.size >= LEASE_RULES_MAX) {
      const oldest = this.#limiters.keys().next().value as string;
      this.#limiters.delete(oldest);
    }
    const created = createRuleLimiter(JSON.parse(request.signature) as RateLimitConfig, this.#clock);
    this.#limiters.set(request.signature, created);
    return created;
  }
}
