import { Counter, Registry } from 'prom-client';
import type { Clock, KeyedRateLimiter, RateLimitDecision, TimerHandle } from '../../resilience/index.js';
import type { RateLimitConfig } from '../config.js';
import {
  LEASE_FALLBACK_MS, LEASE_PERMITS_MAX, LEASE_REQUESTS_PENDING_MAX, LEASE_ROUNDS_MAX, LEASE_RULES_MAX, LEASE_TIMEOUT_MS, LEASE_TTL_MS, LEASES_HELD_MAX,
} from '../limits.js';
import { createRuleLimiter, type PermitSource } from '../rate-limits.js';
import type { LeaseGrant, LeaseRequest, LeaseReturn } from './messages.js';

/** Permits a worker holds for one rule and key, from one grant. */
interface Lease {
  readonly signature: string;
  readonly key: string;
  permits: number;
  /** Permits taken from this lease so far (the demand estimate for the next one). */
  taken: number;
  readonly grantedMs: number;
  readonly expiresMs: number;
  /** The primary's permits left for the key when it granted this lease. */
  readonly remaining: number;
  /** Gives the unspent permits back at expiry. */
  readonly lapse: TimerHandle;
}

type Outcome = LeaseGrant | 'timeout';

/** The primary's last refusal for a key, remembered for a while so that a flood does not become a flood of lease requests. */
interface Refusal {
  readonly permits: number;
  readonly untilMs: number;
  readonly retryAtMs: number;
  readonly remaining: number;
}

export interface LeaseClientOptions {
  /** Sends a request (or unspent permits) to the primary; false when the channel is gone. */
  readonly send: (request: LeaseRequest | LeaseReturn) => boolean;
  readonly clock: Clock;
  /** Workers sharing the limits (each one's fallback share is limit / workers). */
  readonly workers: number;
}

function allowed(remaining: number): RateLimitDecision {
  return { allowed: true, retryAfterMs: 0, remaining };
}

/** A worker's fallback share of a rule: limit / N and burst / N (at least 1), so N workers on their shares never admit more than the limit. */
export function shareOf(rule: RateLimitConfig, workers: number): RateLimitConfig {
  const burst = rule.burst ?? rule.limit;
  return { ...rule, limit: Math.max(1, Math.floor(rule.limit / workers)), burst: Math.max(1, Math.floor(burst / workers)) };
}

/**
 * A worker's side of rate-limit leasing (PermitSource): permits come from
 * the primary's LeaseLedger in small leases. A request spends permits its
 * worker already holds without a round trip; otherwise it asks the primary
 * for a lease sized to the worker's recent demand for the key (what it spent
 * per LEASE_TTL_MS, capped at limit × LEASE_TTL_MS / windowMs and
 * LEASE_PERMITS_MAX), and requests that find a lease already asked for wait
 * for it instead of asking again. Unspent permits lapse after LEASE_TTL_MS.
 *
 * When the primary does not answer within LEASE_TIMEOUT_MS, the worker
 * answers from its own share of each limit (limit / N) for LEASE_FALLBACK_MS
 * before asking again: degraded (uneven load is refused early) but never
 * above the limit once every worker is on its share.
 */
export class LeaseClient implements PermitSource {
  readonly registry = new Registry();
  readonly #leaseRequests = new Counter({
    name: 'keel_gateway_rate_limit_lease_requests_total', help: 'Rate-limit leases a worker asked the primary for, by result (granted, refused, timeout)',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly #options: LeaseClientOptions;
  readonly #leases = new Map<string, Lease>();
  readonly #asking = new Map<string, Promise<Outcome>>();
  readonly #pending = new Map<number, (outcome: Outcome) => void>();
  readonly #shares = new Map<string, KeyedRateLimiter>();
  /** Keys the primary refused lately: asked about again only after min(Retry-After, LEASE_TTL_MS). */
  readonly #refusals = new Map<string, Refusal>();
  #nextId = 1;
  #fallbackUntilMs = -Infinity;

  constructor(options: LeaseClientOptions) {
    this.#options = options;
  }

  acquire(rule: RateLimitConfig, signature: string, key: string, permits: number): RateLimitDecision | Promise<RateLimitDecision> {
    const leaseKey = `${signature}\n${key}`;
    const held = this.#take(leaseKey, permits) ?? this.#refused(leaseKey, permits);
    if (held !== undefined) return held;
    if (this.#options.clock.now() < this.#fallbackUntilMs || this.#pending.size >= LEASE_REQUESTS_PENDING_MAX) return this.#fromShare(rule, signature, key, permits);
    return this.#renew(rule, signature, key, permits);
  }

  /** Called with every grant the primary sends. */
  onGrant(grant: LeaseGrant): void {
    const resolve = this.#pending.get(grant.id);
    this.#pending.delete(grant.id);
    // JSON carries Infinity (more permits than the limiter ever holds) as null.
    resolve?.({ ...grant, retryAfterMs: grant.retryAfterMs ?? Infinity });
  }

  /** The primary is gone: every waiting request answers from the share. */
  disconnect(): void {
    for (const finish of [...this.#pending.values()]) finish('timeout');
  }

  /** Spends permits of a live lease, if it has enough. */
  #take(leaseKey: string, permits: number): RateLimitDecision | undefined {
    const lease = this.#leases.get(leaseKey);
    if (lease === undefined || lease.permits < permits || lease.expiresMs <= this.#options.clock.now()) return undefined;
    lease.permits -= permits;
    lease.taken += permits;
    return allowed(lease.permits + lease.remaining);
  }

  /** A refusal of at most these permits the primary gave lately, still standing. */
  #refused(leaseKey: string, permits: number): RateLimitDecision | undefined {
    const refusal = this.#refusals.get(leaseKey);
    if (refusal === undefined) return undefined;
    const nowMs = this.#options.clock.now();
    if (refusal.untilMs <= nowMs) {
      this.#refusals.delete(leaseKey);
      return undefined;
    }
    return permits >= refusal.permits ? { allowed: false, retryAfterMs: Math.max(1, refusal.retryAtMs - nowMs), remaining: refusal.remaining } : undefined;
  }

  #remember(leaseKey: string, permits: number, grant: LeaseGrant): void {
    this.#refusals.delete(leaseKey);
    if (grant.granted > 0) return;
    if (this.#refusals.size >= LEASES_HELD_MAX) this.#refusals.delete(this.#refusals.keys().next().value as string);
    const nowMs = this.#options.clock.now();
    this.#refusals.set(leaseKey, { permits, untilMs: nowMs + Math.min(grant.retryAfterMs, LEASE_TTL_MS), retryAtMs: nowMs + grant.retryAfterMs, remaining: grant.remaining });
  }

  async #renew(rule: RateLimitConfig, signature: string, key: string, permits: number): Promise<RateLimitDecision> {
    const leaseKey = `${signature}\n${key}`;
    for (let round = 0; round < LEASE_ROUNDS_MAX; round++) {
      const outcome = await this.#askShared(rule, signature, key, permits, leaseKey);
      if (outcome === 'timeout') return this.#fromShare(rule, signature, key, permits);
      if (outcome.granted === 0) return { allowed: false, retryAfterMs: outcome.retryAfterMs, remaining: outcome.remaining };
      const held = this.#take(leaseKey, permits);
      if (held !== undefined) return held;
      // Requests that waited on the same lease spent it first: wait for the next one.
    }
    // Still none left: ask for exactly this request's permits, its own.
    const outcome = await this.#ask(signature, key, permits, permits);
    if (outcome === 'timeout') return this.#fromShare(rule, signature, key, permits);
    if (outcome.granted === 0) return { allowed: false, retryAfterMs: outcome.retryAfterMs, remaining: outcome.remaining };
    return allowed(outcome.remaining);
  }

  /** The lease being asked for this key, or a new request for one (sized by demand), installed as the key's lease once granted. */
  #askShared(rule: RateLimitConfig, signature: string, key: string, permits: number, leaseKey: string): Promise<Outcome> {
    const asking = this.#asking.get(leaseKey);
    if (asking !== undefined) return asking;
    const batch = this.#batchFor(rule, this.#leases.get(leaseKey), permits);
    const request = this.#ask(signature, key, permits, batch).then((outcome) => {
      this.#asking.delete(leaseKey);
      if (outcome === 'timeout') return outcome;
      this.#remember(leaseKey, permits, outcome);
      if (outcome.granted > 0) this.#install(leaseKey, outcome, signature, key);
      return outcome;
    });
    this.#asking.set(leaseKey, request);
    return request;
  }

  /**
   * The next lease's size: what the last lease's demand would spend in
   * LEASE_TTL_MS, at least `permits`, at most limit × LEASE_TTL_MS / windowMs
   * (the over-admission bound) and LEASE_PERMITS_MAX.
   */
  #batchFor(rule: RateLimitConfig, last: Lease | undefined, permits: number): number {
    const ceiling = Math.max(permits, Math.min(LEASE_PERMITS_MAX, Math.floor((rule.limit * LEASE_TTL_MS) / rule.windowMs)));
    if (last === undefined) return permits;
    const elapsedMs = Math.max(1, this.#options.clock.now() - last.grantedMs);
    // Rounded down: a lease a little short costs one more round trip, one a little long strands permits.
    const demand = Math.floor((last.taken * LEASE_TTL_MS) / elapsedMs);
    return Math.min(ceiling, Math.max(permits, demand));
  }

  #install(leaseKey: string, grant: LeaseGrant, signature: string, key: string): void {
    const nowMs = this.#options.clock.now();
    const previous = this.#leases.get(leaseKey);
    if (previous !== undefined) this.#expire(leaseKey, previous);
    if (this.#leases.size >= LEASES_HELD_MAX) {
      const [oldestKey, oldest] = this.#leases.entries().next().value as [string, Lease];
      this.#expire(oldestKey, oldest);
    }
    const lease: Lease = {
      signature, key, permits: grant.granted, taken: 0, grantedMs: nowMs, expiresMs: nowMs + LEASE_TTL_MS, remaining: grant.remaining,
      lapse: this.#options.clock.setTimeout(() => this.#expire(leaseKey, lease), LEASE_TTL_MS),
    };
    this.#leases.set(leaseKey, lease);
  }

  /** A lease's time is up (or it makes room): its unspent permits go back to the primary, and it is forgotten. */
  #expire(leaseKey: string, lease: Lease): void {
    this.#options.clock.clearTimeout(lease.lapse);
    if (this.#leases.get(leaseKey) !== lease) return;
    this.#leases.delete(leaseKey);
    if (lease.permits > 0) this.#options.send({ keel: 'return', signature: lease.signature, key: lease.key, permits: lease.permits });
    lease.permits = 0;
  }

  #ask(signature: string, key: string, permits: number, batch: number): Promise<Outcome> {
    const id = this.#nextId++;
    return new Promise<Outcome>((resolve) => {
      const finish = (outcome: Outcome) => {
        this.#options.clock.clearTimeout(timer);
        this.#pending.delete(id);
        // No answer in time: answer from the share for a while rather than make every request wait the timeout.
        if (outcome === 'timeout') this.#fallbackUntilMs = this.#options.clock.now() + LEASE_FALLBACK_MS;
        this.#leaseRequests.inc({ result: outcome === 'timeout' ? 'timeout' : outcome.granted > 0 ? 'granted' : 'refused' });
        resolve(outcome);
      };
      const timer = this.#options.clock.setTimeout(() => finish('timeout'), LEASE_TIMEOUT_MS);
      this.#pending.set(id, finish);
      if (!this.#options.send({ keel: 'lease', id, signature, key, permits, batch })) finish('timeout');
    });
  }

  /** The fallback: this worker's share (limit / N) of the rule, from a limiter of its own. */
  #fromShare(rule: RateLimitConfig, signature: string, key: string, permits: number): RateLimitDecision {
    let limiter = this.#shares.get(signature);
    if (limiter === undefined) {
      if (this.#shares.size >= LEASE_RULES_MAX) this.#shares.delete(this.#shares.keys().next().value as string);
      limiter = createRuleLimiter(shareOf(rule, this.#options.workers), this.#options.clock);
      this.#shares.set(signature, limiter);
    }
    return limiter.tryAcquire(key, permits);
  }
}
