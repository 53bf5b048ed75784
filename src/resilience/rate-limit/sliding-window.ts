import { type Clock, systemClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { SLIDING_LOG_ENTRIES_MAX } from '../limits.js';
import { checkInteger, checkRange } from '../options.js';
import { allowed, type RateLimitDecision, type RateLimiter, refused } from './limiter.js';

export interface SlidingWindowOptions {
  /** Permits per window. */
  readonly limit: number;
  readonly windowMs: number;
  /**
   * 'log' (default): exact; remembers each granted permit's time (memory
   * grows with `limit`, bounded by `SLIDING_LOG_ENTRIES_MAX`).
   * 'counter': Cloudflare's approximation from two fixed windows, two
   * numbers of state whatever the limit.
   */
  readonly mode?: 'log' | 'counter';
  readonly clock?: Clock;
}

/**
 * Sliding-log limiter: a request for n permits at t is allowed when the
 * permits granted in (t − window, t] plus n do not exceed the limit. Refused,
 * it may retry when enough of the oldest grants have left the window.
 */
export class SlidingLog implements RateLimiter {
  readonly capacity: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #times: Float64Array; // ring buffer of grant times, oldest at #head
  #head = 0;
  #count = 0;

  constructor(options: SlidingWindowOptions) {
    this.capacity = checkInteger('limit', options.limit, 1, SLIDING_LOG_ENTRIES_MAX);
    this.windowMs = checkRange('windowMs', options.windowMs, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
    this.#times = new Float64Array(this.capacity);
  }

  tryAcquire(permits = 1): RateLimitDecision {
    if (!Number.isInteger(permits) || permits < 1) throw new ConfigError('permits must be a positive integer');
    const nowMs = this.#clock.now();
    this.#expire(nowMs);
    if (permits > this.capacity) return refused(Infinity, this.capacity - this.#count);
    const excess = this.#count + permits - this.capacity;
    if (excess > 0) {
      const freedAtMs = this.#at(excess - 1) + this.windowMs; // the excess-th oldest grant leaves then
      return refused(freedAtMs - nowMs, this.capacity - this.#count);
    }
    for (let index = 0; index < permits; index++) {
      this.#times[(this.#head + this.#count) % this.capacity] = nowMs;
      this.#count++;
    }
    return allowed(this.capacity - this.#count);
  }

  isIdle(): boolean {
    this.#expire(this.#clock.now());
    return this.#count === 0;
  }

  #at(offset: number): number {
    return this.#times[(this.#head + offset) % this.capacity] ?? 0;
  }

  #expire(nowMs: number): void {
    while (this.#count > 0 && this.#at(0) <= nowMs - this.windowMs) {
      this.#head = (this.#head + 1) % this.capacity;
      this.#count--;
    }
  }
}

/**
 * Sliding-window counter (Cloudflare, "How we built rate limiting capable of
 * scaling to millions of domains", 2017): fixed windows aligned to the
 * limiter's creation; the estimate at t is
 * `previous × (window − elapsed) / window + current`, and n permits are
 * allowed when `estimate + n <= limit`. Approximate (it assumes the previous
 * window's requests were spread evenly) but O(1) in memory.
 */
export class SlidingWindowCounter implements RateLimiter {
  readonly capacity: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #originMs: number;
  #windowIndex = 0;
  #previous = 0;
  #current = 0;

  constructor(options: SlidingWindowOptions) {
    this.capacity = checkInteger('limit', options.limit, 1, Number.MAX_SAFE_INTEGER);
    this.windowMs = checkRange('windowMs', options.windowMs, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
    this.#originMs = this.#clock.now();
  }

  tryAcquire(permits = 1): RateLimitDecision {
    if (!Number.isInteger(permits) || permits < 1) throw new ConfigError('permits must be a positive integer');
    const nowMs = this.#clock.now();
    this.#roll(nowMs);
    const elapsedMs = nowMs - this.#windowStartMs();
    const estimate = (this.#previous * (this.windowMs - elapsedMs)) / this.windowMs + this.#current;
    const remaining = Math.max(0, Math.floor(this.capacity - estimate));
    if (permits > this.capacity) return refused(Infinity, remaining);
    if (estimate + permits <= this.capacity) {
      this.#current += permits;
      return allowed(Math.max(0, Math.floor(this.capacity - estimate - permits)));
    }
    return refused(this.#retryAfter(nowMs, permits), remaining);
  }

  isIdle(): boolean {
    this.#roll(this.#clock.now());
    return this.#previous === 0 && this.#current === 0;
  }

  #windowStartMs(): number {
    return this.#originMs + this.#windowIndex * this.windowMs;
  }

  /** Earliest time the request would pass if nothing else arrived: within this window, the next, or the one after. */
  #retryAfter(nowMs: number, permits: number): number {
    const startMs = this.#windowStartMs();
    const within = waitWithin(this.#previous, this.capacity - this.#current - permits, this.windowMs);
    if (within !== undefined && startMs + within > nowMs) return Math.ceil(startMs + within - nowMs);
    const next = waitWithin(this.#current, this.capacity - permits, this.windowMs);
    if (next !== undefined) return Math.ceil(startMs + this.windowMs + next - nowMs);
    return Math.ceil(startMs + 2 * this.windowMs - nowMs);
  }

  #roll(nowMs: number): void {
    const index = Math.floor((nowMs - this.#originMs) / this.windowMs);
    if (index <= this.#windowIndex) return;
    this.#previous = index === this.#windowIndex + 1 ? this.#current : 0;
    this.#current = 0;
    this.#windowIndex = index;
  }
}

/** Elapsed time into a window at which `previous × (W − e) / W <= room`, or undefined if not before the window ends. */
function waitWithin(previous: number, room: number, windowMs: number): number | undefined {
  if (room < 0) return undefined;
  if (previous <= room) return 0;
  const elapsed = windowMs * (1 - room / previous);
  return elapsed < windowMs ? elapsed : undefined;
}

/** A sliding-window limiter; `mode` picks the exact log (default) or the O(1) counter. */
export function slidingWindow(options: SlidingWindowOptions): SlidingLog | SlidingWindowCounter {
  return options.mode === 'counter' ? new SlidingWindowCounter(options) : new SlidingLog(options);
}
