/**
 * keel/resilience: policies that stop cascading failures, for clients and
 * servers. Every policy implements `Policy` (`execute(fn, { signal, ... })`),
 * emits typed events (`policy.events.on(type, listener)` returns a
 * `Disposable`), reports counters through `stats()`, takes an injected
 * `Clock` and `Random`, and composes with `wrap(outermost, ..., innermost)`.
 * See docs/resilience.md for every default and the reason for it.
 *
 * @packageDocumentation
 */

/** The Policy interface, the context every policy passes inward, and composition. */
export { type ExecuteOptions, noop, type Operation, type Policy, type PolicyContext, type RequestInfo, settle, toContext, wrap, type WrappedPolicy } from './policy.js';

/** Time: the Clock interface, the real clock, and a FakeClock for your tests. */
export { type Clock, FakeClock, flushMicrotasks, systemClock, type TimerHandle } from './clock.js';

/** Randomness: the Random interface, Math.random, and a seeded PRNG (xoshiro128**). */
export { type Random, SeededRandom, seededRandom, systemRandom } from './random.js';

/** Typed event streams that return disposables. */
export { type Disposable, EventSource } from './events.js';

/** The table of typed errors with stable KEEL_RES_* codes, and the code → HTTP status map. */
export {
  AbortedError, AssertionError, BrokenCircuitError, BulkheadQueueTimeoutError, BulkheadRejectedError, ConcurrencyLimitedError, ConfigError,
  DeadlineExceededError, HTTP_STATUS_BY_CODE, httpStatusFor, IsolatedCircuitError, RateLimitedError, ResilienceError, type ResilienceErrorCode,
  ThrottledError, TimeoutError,
} from './errors.js';

/** Named bounds on every queue, map, window and loop. */
export * as limits from './limits.js';

/** Request criticality: Google's four levels as a first-class attribute. */
export { Criticality, CRITICALITY_HEADER, CRITICALITY_LEVELS, criticalityRank, DEFAULT_CRITICALITY, isAtLeast, parseCriticality } from './criticality.js';

/** Outcome classification: statuses, headers, idempotency, transient errors, Retry-After and RateLimit fields. */
export {
  headersOf, type HeadersLike, headerValue, IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_METHODS, isDependencyFailure, isIdempotent, isLocalRejection,
  isNeverSentError, isOverloadRejection, isTransientError, NEVER_SENT_ERROR_CODES, type Outcome, parseRateLimitReset, parseRetryAfter,
  serverDelayMs, statusOf, TRANSIENT_ERROR_CODES,
} from './classify.js';

/** Immutable backoffs: constant, linear, exponential with full, equal or decorrelated jitter. */
export {
  type Backoff, type BackoffFactory, constantBackoff, EXPONENTIAL_BACKOFF_DEFAULTS, exponentialBackoff, type ExponentialBackoffOptions,
  type Jitter, linearBackoff, type LinearBackoffOptions,
} from './backoff.js';

/** Retry budgets: SRE-style ratio over a sliding window, and gRPC token throttling; shareable across policies. */
export {
  RATIO_BUDGET_DEFAULTS, ratioBudget, type RatioBudgetOptions, RatioRetryBudget, type RetryBudget, type RetryBudgetStats,
  TOKEN_BUDGET_DEFAULTS, tokenBudget, type TokenBudgetOptions, TokenRetryBudget,
} from './budget.js';

/** Retry: safe-only classification, backoff, Retry-After, budgets, deadline awareness. */
export {
  type AttemptFacts, retry, RETRY_DEFAULTS, type RetryDecision, type RetryEvent, type RetryOptions, RetryPolicy, type RetryStats,
  type RetryStopReason,
} from './retry.js';

/** Circuit breaker: consecutive, count-window and time-window strategies, slow calls, half-open probes, snapshots. */
export {
  BREAKER_DEFAULTS, type BreakerEvent, type BreakerPermit, type BreakerSnapshot, type BreakerState, type BreakerStats, type BreakerStrategy,
  circuitBreaker, type CircuitBreakerOptions, CircuitBreakerPolicy, consecutiveFailures, countWindow, type CountWindowOptions,
  type SlowCallOptions, TIME_WINDOW_DEFAULTS, timeWindow, type TimeWindowOptions,
} from './breaker.js';

/** Bulkhead: a concurrency limit with a bounded, criticality-ordered queue; per-key pools. */
export {
  bulkhead, BULKHEAD_DEFAULTS, type BulkheadEvent, type BulkheadOptions, BulkheadPolicy, type BulkheadStats, keyedBulkhead,
  type KeyedBulkheadOptions, KeyedBulkheadPolicy,
} from './bulkhead.js';

/** Timeout: cooperative or aggressive, bounded by the context's deadline. */
export { timeout, type TimeoutEvent, type TimeoutMode, type TimeoutOptions, TimeoutPolicy, type TimeoutStats } from './timeout.js';

/** Deadlines: remaining budget, keel-deadline / grpc-timeout headers, and a deadline-enforcing policy. */
export {
  assertBeforeDeadline, deadline, DEADLINE_HEADER, deadlineFromHeaders, deadlineHeaders, deadlineHeadersAt, type DeadlineOptions, encodeGrpcTimeout,
  GRPC_TIMEOUT_HEADER, parseDeadlineHeader, parseGrpcTimeout, remainingMs,
} from './deadline.js';

/** Rate limiters: token bucket, GCRA, sliding log and counter; keyed with bounded memory; a policy and response headers. */
export { type RateLimitDecision, type RateLimiter } from './rate-limit/limiter.js';
export { TokenBucket, tokenBucket, type TokenBucketOptions } from './rate-limit/token-bucket.js';
export { Gcra, gcra, type GcraOptions } from './rate-limit/gcra.js';
export { SlidingLog, slidingWindow, SlidingWindowCounter, type SlidingWindowOptions } from './rate-limit/sliding-window.js';
export { KEYED_DEFAULTS, keyedLimiter, KeyedRateLimiter, type KeyedRateLimiterOptions } from './rate-limit/keyed.js';
export { rateLimit, type RateLimitEvent, rateLimitHeaders, type RateLimitOptions, RateLimitPolicy, type RateLimitStats } from './rate-limit/policy.js';

/** Adaptive client throttling (Google SRE), per criticality. */
export {
  ADAPTIVE_THROTTLE_DEFAULTS, adaptiveThrottle, type AdaptiveThrottleOptions, AdaptiveThrottlePolicy, type ThrottleEvent, type ThrottleStats,
} from './throttle.js';

/** Adaptive concurrency limits: gradient, Vegas and AIMD algorithms; a limiter optionally partitioned by criticality. */
export { type LimitAlgorithm, type LimitBounds, type LimitSample } from './concurrency/limit.js';
export { GradientLimit, gradientLimit, type GradientOptions } from './concurrency/gradient.js';
export { VegasLimit, vegasLimit, type VegasOptions } from './concurrency/vegas.js';
export { AimdLimit, aimdLimit, type AimdOptions } from './concurrency/aimd.js';
export { criticalityPartitions, type Partition } from './concurrency/partitioned.js';
export {
  adaptiveConcurrency, type AdaptiveConcurrencyOptions, AdaptiveConcurrencyPolicy, type ConcurrencyEvent, type ConcurrencyPermit,
  type ConcurrencyStats,
} from './concurrency/limiter.js';

/** Hedging: a second attempt after a fixed or percentile delay, budgeted; the loser is cancelled. */
export { hedge, HEDGE_DEFAULTS, type HedgeDelay, type HedgeEvent, HedgeLostReason, type HedgeOptions, HedgePolicy, type HedgeStats, percentileOf } from './hedge.js';

/** Fallback: a value, a function, or the last good result with its age. */
export { fallback, type FallbackEvent, type FallbackOptions, FallbackPolicy, type FallbackResult, type FallbackSource, type FallbackStats } from './fallback.js';
