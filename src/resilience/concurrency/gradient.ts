import { checkRange } from '../options.js';
import { clamp, type LimitAlgorithm, type LimitBounds, type LimitSample, resolveBounds } from './limit.js';

export interface GradientOptions extends LimitBounds {
  /** How much the short-term RTT may exceed the long-term one before the limit shrinks (default 1.5, Netflix Gradient2's rttTolerance). */
  readonly rttTolerance?: number;
  /** Weight of the newest limit in the moving average (default 0.2, Gradient2's smoothing). */
  readonly smoothing?: number;
  /** Samples in the long-term RTT average (default 600, Gradient2's longWindow). */
  readonly longWindow?: number;
  /** Extra room for queueing as a function of the limit (default √limit, as Envoy's and Gradient2's). */
  readonly queueSize?: (limit: number) => number;
}

/**
 * Gradient limit, after Netflix's Gradient2 (the algorithm Envoy's adaptive
 * concurrency filter is modelled on). It compares a long-term exponential
 * average of RTT with the latest sample:
 * `gradient = clamp(tolerance × longRtt / rtt, 0.5, 1)`,
 * `newLimit = limit × gradient + queueSize(limit)`, smoothed. While the
 * system is idle (fewer than half the limit in flight) the limit holds, and
 * when the long average drifts far above the sample it decays so that it can
 * recover from a past overload. Unlike Gradient2, a dropped request (timeout,
 * 429/503) counts as the steepest gradient (0.5), so overload shrinks the
 * limit even when latency does not show it.
 */
export class GradientLimit implements LimitAlgorithm {
  #limit: number;
  #longRttMs: number | undefined;
  #samples = 0;
  readonly #minLimit: number;
  readonly #maxLimit: number;
  readonly #tolerance: number;
  readonly #smoothing: number;
  readonly #longWindow: number;
  readonly #queueSize: (limit: number) => number;

  constructor(options: GradientOptions = {}) {
    const bounds = resolveBounds(options, { minLimit: 20, maxLimit: 200 });
    this.#minLimit = bounds.minLimit;
    this.#maxLimit = bounds.maxLimit;
    this.#limit = bounds.initialLimit;
    this.#tolerance = checkRange('rttTolerance', options.rttTolerance ?? 1.5, 1, 100);
    this.#smoothing = checkRange('smoothing', options.smoothing ?? 0.2, 0, 1);
    this.#longWindow = checkRange('longWindow', options.longWindow ?? 600, 1, 1e9);
    this.#queueSize = options.queueSize ?? Math.sqrt;
  }

  get limit(): number {
    return this.#limit;
  }

  update(sample: LimitSample): number {
    const rtt = Math.max(sample.rttMs, 1e-3);
    this.#samples++;
    const warmup = Math.min(this.#samples, this.#longWindow); // a plain mean until the window fills
    this.#longRttMs = this.#longRttMs === undefined ? rtt : this.#longRttMs + (rtt - this.#longRttMs) / warmup;
    if (this.#longRttMs / rtt > 2) this.#longRttMs *= 0.95; // recover faster once a slow period has passed
    if (sample.inflight < this.#limit / 2 && !sample.dropped) return this.#limit;
    // Gradient2 ignores drops; we treat a drop as the steepest gradient, so timeouts and 503s shrink the limit.
    const gradient = sample.dropped ? 0.5 : clamp((this.#tolerance * this.#longRttMs) / rtt, 0.5, 1);
    const target = this.#limit * gradient + this.#queueSize(this.#limit);
    const smoothed = this.#limit * (1 - this.#smoothing) + target * this.#smoothing;
    this.#limit = clamp(smoothed, this.#minLimit, this.#maxLimit);
    return this.#limit;
  }
}

/** A gradient limit; see `GradientLimit`. */
export function gradientLimit(options?: GradientOptions): GradientLimit {
  return new GradientLimit(options);
}
