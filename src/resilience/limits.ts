/**
 * Named bounds for every loop, queue, map and window in the resilience
 * library. A policy option beyond its bound is a `ConfigError` at
 * construction, so memory stays bounded whatever the caller passes.
 */

/** Attempts per call, first included (gRPC caps maxAttempts at 5 by default; we allow more, but not unbounded). */
export const RETRY_ATTEMPTS_MAX = 100;
/** The longest single backoff delay any backoff may produce (one hour). */
export const BACKOFF_DELAY_MS_MAX = 3_600_000;
/** The longest Retry-After a retry will honour by default before giving up instead. */
export const RETRY_AFTER_MS_DEFAULT_MAX = 60_000;
/** Buckets in any time-bucketed sliding window (budget, breaker time window, throttle). */
export const WINDOW_BUCKETS_MAX = 1_000;
/** Size of a breaker's count-based window. */
export const BREAKER_COUNT_WINDOW_MAX = 10_000;
/** Waiters in a bulkhead queue. */
export const BULKHEAD_QUEUE_MAX = 100_000;
/** Concurrent executions one bulkhead admits. */
export const BULKHEAD_CONCURRENCY_MAX = 1_000_000;
/** Keys a keyed limiter or keyed bulkhead keeps before evicting the least recently used. */
export const KEYED_ENTRIES_MAX = 1_000_000;
/** Oldest entries a full LRU map scans for one that is safe to drop before falling back. */
export const LRU_EVICTION_SCAN_MAX = 16;
/** Timestamps a sliding-log rate limiter keeps (its limit may not exceed this). */
export const SLIDING_LOG_ENTRIES_MAX = 100_000;
/** Latency samples a hedge policy keeps for its percentile delay. */
export const LATENCY_SAMPLES_MAX = 10_000;
/** Hedged attempts per call, first included. */
export const HEDGE_ATTEMPTS_MAX = 10;
/** Upper bound on any adaptive concurrency limit. */
export const CONCURRENCY_LIMIT_MAX = 1_000_000;
/** Timed calls in flight on one clock (timeouts share one deadline heap per clock). */
export const DEADLINE_HEAP_ENTRIES_MAX = 4_000_000;
/** Listeners on one event source; more is almost surely a leak. */
export const EVENT_LISTENERS_MAX = 1_000;
/** Timers a FakeClock fires in one `advance` before it assumes a timer loop. */
export const FAKE_CLOCK_TIMERS_PER_ADVANCE_MAX = 1_000_000;
