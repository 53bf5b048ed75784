/**
 * The one table of errors the resilience library raises. Each class has a
 * stable `code` (`KEEL_RES_*`, never reused); callers and tests match on the
 * code, never the message. The `Symbol.for` brand survives duplicate installs
 * of the package, where `instanceof` would not.
 *
 * `local` is true when the request was refused on this side and never
 * reached the dependency: such errors do not count as dependency failures in
 * breakers or throttles, and retries do not retry them.
 */
const BRAND = Symbol.for('keel.resilience.error');

export abstract class ResilienceError extends Error {
  abstract readonly code: string;
  /** The request was refused locally and never reached the dependency. */
  readonly local: boolean = true;
  /** When the caller may try again, if known (milliseconds from now). */
  readonly retryAfterMs: number | undefined = undefined;
  readonly [BRAND] = true;
  static is(value: unknown): value is ResilienceError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Invalid options given to a policy; thrown at construction. */
export class ConfigError extends ResilienceError {
  readonly code = 'KEEL_RES_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** An internal invariant broke; a bug in keel, never an operating condition. */
export class AssertionError extends ResilienceError {
  readonly code = 'KEEL_RES_ASSERTION';
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

/** The caller's AbortSignal fired. `cause` holds the signal's reason. */
export class AbortedError extends ResilienceError {
  readonly code = 'KEEL_RES_ABORTED';
  constructor(reason?: unknown) {
    super('the operation was aborted', { cause: reason });
    this.name = 'AbortedError';
  }
}

/** The timeout policy's own time limit elapsed. */
export class TimeoutError extends ResilienceError {
  readonly code = 'KEEL_RES_TIMEOUT';
  override readonly local = false;
  constructor(readonly timeoutMs: number) {
    super(`the operation timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/** The request's deadline passed, or had passed before the work started. */
export class DeadlineExceededError extends ResilienceError {
  readonly code = 'KEEL_RES_DEADLINE_EXCEEDED';
  constructor(readonly deadlineMs: number, readonly nowMs: number) {
    super(`the deadline passed ${Math.max(0, nowMs - deadlineMs)} ms ago`);
    this.name = 'DeadlineExceededError';
  }
}

/** The circuit breaker is open (or a half-open probe is already running). */
export class BrokenCircuitError extends ResilienceError {
  readonly code = 'KEEL_RES_CIRCUIT_OPEN';
  override readonly retryAfterMs: number | undefined;
  constructor(retryAfterMs: number | undefined) {
    super('the circuit breaker is open');
    this.name = 'BrokenCircuitError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** The circuit breaker was isolated by hand and refuses every call. */
export class IsolatedCircuitError extends ResilienceError {
  readonly code = 'KEEL_RES_CIRCUIT_ISOLATED';
  constructor() {
    super('the circuit breaker is isolated');
    this.name = 'IsolatedCircuitError';
  }
}

/** The bulkhead's slots and queue are full, or a more critical request took the queue place. */
export class BulkheadRejectedError extends ResilienceError {
  readonly code = 'KEEL_RES_BULKHEAD_FULL';
  constructor(readonly executing: number, readonly queued: number, readonly reason: 'full' | 'displaced') {
    super(`bulkhead rejected the call (${reason}: ${executing} executing, ${queued} queued)`);
    this.name = 'BulkheadRejectedError';
  }
}

/** The call waited in the bulkhead queue longer than the queue timeout. */
export class BulkheadQueueTimeoutError extends ResilienceError {
  readonly code = 'KEEL_RES_BULKHEAD_QUEUE_TIMEOUT';
  constructor(readonly queueTimeoutMs: number) {
    super(`the call waited ${queueTimeoutMs} ms in the bulkhead queue`);
    this.name = 'BulkheadQueueTimeoutError';
  }
}

/** A rate limiter refused the call; `retryAfterMs` is when a permit will be free (Infinity: never). */
export class RateLimitedError extends ResilienceError {
  readonly code = 'KEEL_RES_RATE_LIMITED';
  override readonly retryAfterMs: number;
  constructor(retryAfterMs: number, readonly key: string | undefined) {
    super(`rate limited${key === undefined ? '' : ` (key ${key})`}; retry after ${retryAfterMs} ms`);
    this.name = 'RateLimitedError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** Adaptive client throttling rejected the call locally with `probability`. */
export class ThrottledError extends ResilienceError {
  readonly code = 'KEEL_RES_THROTTLED';
  constructor(readonly probability: number) {
    super(`throttled locally (rejection probability ${probability.toFixed(3)})`);
    this.name = 'ThrottledError';
  }
}

/** The adaptive concurrency limiter is at its limit for this request's partition. */
export class ConcurrencyLimitedError extends ResilienceError {
  readonly code = 'KEEL_RES_CONCURRENCY_LIMITED';
  constructor(readonly limit: number, readonly inflight: number, readonly partition: string) {
    super(`concurrency limit ${limit} reached (${inflight} in flight, partition ${partition})`);
    this.name = 'ConcurrencyLimitedError';
  }
}

/** Every error code this module can raise. */
export type ResilienceErrorCode = ResilienceError['code'];

/**
 * The one place that maps codes to HTTP statuses for servers that surface
 * these errors: 429 for per-caller limits, 503 for overload, 504 for time.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = Object.freeze({
  KEEL_RES_CONFIG_INVALID: 500,
  KEEL_RES_ASSERTION: 500,
  KEEL_RES_ABORTED: 499,
  KEEL_RES_TIMEOUT: 504,
  KEEL_RES_DEADLINE_EXCEEDED: 504,
  KEEL_RES_CIRCUIT_OPEN: 503,
  KEEL_RES_CIRCUIT_ISOLATED: 503,
  KEEL_RES_BULKHEAD_FULL: 503,
  KEEL_RES_BULKHEAD_QUEUE_TIMEOUT: 503,
  KEEL_RES_RATE_LIMITED: 429,
  KEEL_RES_THROTTLED: 503,
  KEEL_RES_CONCURRENCY_LIMITED: 503,
});

/** The HTTP status a server should answer with for `error` (500 for anything that is not ours). */
export function httpStatusFor(error: unknown): number {
  if (!ResilienceError.is(error)) return 500;
  return HTTP_STATUS_BY_CODE[error.code] ?? 500;
}
