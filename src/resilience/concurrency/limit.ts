import { CONCURRENCY_LIMIT_MAX } from '../limits.js';
import { checkRange } from '../options.js';

/** One completed request, as an adaptive limit algorithm sees it. */
export interface LimitSample {
  /** Round-trip time of the request, ms. */
  readonly rttMs: number;
  /** Requests in flight when it started (itself included). */
  readonly inflight: number;
  /** True when it was dropped: timed out or refused for overload. */
  readonly dropped: boolean;
}

/**
 * An adaptive concurrency limit algorithm (Netflix concurrency-limits'
 * `Limit`): it holds a current limit and updates it from each sample.
 * Algorithms keep state between samples; use one instance per limiter.
 */
export interface LimitAlgorithm {
  readonly limit: number;
  update(sample: LimitSample): number;
}

export interface LimitBounds {
  /** Starting limit (default 20, Netflix's initialLimit). */
  readonly initialLimit?: number;
  /** Floor (default 20 for gradient, 1 otherwise). */
  readonly minLimit?: number;
  /** Ceiling (default 200, Netflix's maxConcurrency for Gradient2 and AIMD). */
  readonly maxLimit?: number;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Validates bounds and returns them with the starting limit clamped into them. */
export function resolveBounds(options: LimitBounds, defaults: { minLimit: number; maxLimit: number }): { minLimit: number; maxLimit: number; initialLimit: number } {
  const minLimit = checkRange('minLimit', options.minLimit ?? defaults.minLimit, 1, CONCURRENCY_LIMIT_MAX);
  const maxLimit = checkRange('maxLimit', options.maxLimit ?? defaults.maxLimit, minLimit, CONCURRENCY_LIMIT_MAX);
  return { minLimit, maxLimit, initialLimit: clamp(options.initialLimit ?? 20, minLimit, maxLimit) };
}
