import { checkRange } from '../options.js';
import { clamp, type LimitAlgorithm, type LimitBounds, type LimitSample, resolveBounds } from './limit.js';

export interface VegasOptions extends LimitBounds {
  /** Weight of the newest limit (default 1: no smoothing, as Netflix's VegasLimit). */
  readonly smoothing?: number;
}

/**
 * TCP Vegas applied to concurrency (Netflix's VegasLimit). With `rttNoLoad`
 * the smallest RTT seen, the estimated queue is
 * `limit × (1 − rttNoLoad / rtt)`; with `l = log10(limit)`, the limit grows
 * by 6l while the queue is under l, by l while it is under 3l, shrinks by l
 * when it is over 6l, and shrinks by l on a drop.
 */
export class VegasLimit implements LimitAlgorithm {
  #limit: number;
  #rttNoLoadMs = Infinity;
  readonly #minLimit: number;
  readonly #maxLimit: number;
  readonly #smoothing: number;

  constructor(options: VegasOptions = {}) {
    const bounds = resolveBounds(options, { minLimit: 1, maxLimit: 1000 });
    this.#minLimit = bounds.minLimit;
    this.#maxLimit = bounds.maxLimit;
    this.#limit = bounds.initialLimit;
    this.#smoothing = checkRange('smoothing', options.smoothing ?? 1, 0, 1);
  }

  get limit(): number {
    return this.#limit;
  }

  update(sample: LimitSample): number {
    const rtt = Math.max(sample.rttMs, 1e-3);
    this.#rttNoLoadMs = Math.min(this.#rttNoLoadMs, rtt);
    const log = Math.max(1, Math.log10(this.#limit));
    let target = this.#limit;
    if (sample.dropped) target = this.#limit - log;
    else if (sample.inflight * 2 < this.#limit) return this.#limit; // app-limited: no evidence either way
    else {
      const queue = Math.ceil(this.#limit * (1 - this.#rttNoLoadMs / rtt));
      if (queue <= log) target = this.#limit + 6 * log;
      else if (queue < 3 * log) target = this.#limit + log;
      else if (queue > 6 * log) target = this.#limit - log;
    }
    const smoothed = this.#limit * (1 - this.#smoothing) + target * this.#smoothing;
    this.#limit = clamp(smoothed, this.#minLimit, this.#maxLimit);
    return this.#limit;
  }
}

/** A Vegas limit; see `VegasLimit`. */
export function vegasLimit(options?: VegasOptions): VegasLimit {
  return new VegasLimit(options);
}
