import { type Clock, systemClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { checkInteger, checkRange } from '../options.js';
import { allowed, type RateLimitDecision, type RateLimiter, refused } from './limiter.js';

export interface GcraOptions {
  /** Time between permits at the sustained rate, in ms (the emission interval T). */
  readonly emissionIntervalMs: number;
  /** Permits that may be taken at once from rest (default 1: no burst). */
  readonly burst?: number;
  readonly clock?: Clock;
}

/**
 * The generic cell rate algorithm (ITU-T I.371; redis-cell, Stripe, Envoy's
 * local rate limit descriptors), in its virtual-scheduling form: one number
 * of state, the theoretical arrival time (TAT). A request for n permits at
 * time t is allowed when `max(TAT, t) + n·T − t <= burst·T`, and then
 * `TAT = max(TAT, t) + n·T`. Refused, it may retry after
 * `max(TAT, t) + n·T − burst·T − t` ms.
 */
export class Gcra implements RateLimiter {
  readonly emissionIntervalMs: number;
  readonly capacity: number;
  readonly #clock: Clock;
  #tatMs = -Infinity;

  constructor(options: GcraOptions) {
    this.emissionIntervalMs = checkRange('emissionIntervalMs', options.emissionIntervalMs, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER);
    this.capacity = checkInteger('burst', options.burst ?? 1, 1, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
  }

  tryAcquire(permits = 1): RateLimitDecision {
    if (!Number.isInteger(permits) || permits < 1) throw new ConfigError('permits must be a positive integer');
    const nowMs = this.#clock.now();
    const toleranceMs = this.capacity * this.emissionIntervalMs;
    const base = Math.max(this.#tatMs, nowMs);
    const newTatMs = base + permits * this.emissionIntervalMs;
    if (permits > this.capacity) return refused(Infinity, this.#remaining(base, nowMs, toleranceMs));
    if (newTatMs - nowMs > toleranceMs) return refused(newTatMs - toleranceMs - nowMs, this.#remaining(base, nowMs, toleranceMs));
    this.#tatMs = newTatMs;
    return allowed(this.#remaining(newTatMs, nowMs, toleranceMs));
  }

  isIdle(): boolean {
    return this.#tatMs <= this.#clock.now();
  }

  #remaining(tatMs: number, nowMs: number, toleranceMs: number): number {
    return Math.max(0, Math.floor((toleranceMs - (tatMs - nowMs)) / this.emissionIntervalMs));
  }
}

/** A GCRA limiter; see `Gcra`. `ratePerSecond` is shorthand for an emission interval of 1000 / rate ms. */
export function gcra(options: GcraOptions | { ratePerSecond: number; burst?: number; clock?: Clock }): Gcra {
  if ('ratePerSecond' in options) {
    const rate = checkRange('ratePerSecond', options.ratePerSecond, Number.MIN_VALUE, 1e9);
    const { ratePerSecond: _rate, ...rest } = options;
    return new Gcra({ ...rest, emissionIntervalMs: 1000 / rate });
  }
  return new Gcra(options);
}
