import { checkRange } from '../options.js';
import { clamp, type LimitAlgorithm, type LimitBounds, type LimitSample, resolveBounds } from './limit.js';

export interface AimdOptions extends LimitBounds {
  /** Multiplier on a drop or a slow sample (default 0.9, Netflix's AIMDLimit backoffRatio). */
  readonly backoffRatio?: number;
  /** A sample at least this slow counts as a drop (default 5 s, Netflix's AIMD timeout). */
  readonly timeoutMs?: number;
}

/** Additive increase (+1 while at least half the limit is in use), multiplicative decrease on drops (TCP Reno's rule). */
export class AimdLimit implements LimitAlgorithm {
  #limit: number;
  readonly #minLimit: number;
  readonly #maxLimit: number;
  readonly #backoffRatio: number;
  readonly #timeoutMs: number;

  constructor(options: AimdOptions = {}) {
    const bounds = resolveBounds(options, { minLimit: 1, maxLimit: 200 });
    this.#minLimit = bounds.minLimit;
    this.#maxLimit = bounds.maxLimit;
    this.#limit = bounds.initialLimit;
    this.#backoffRatio = checkRange('backoffRatio', options.backoffRatio ?? 0.9, 0.01, 0.99);
    this.#timeoutMs = checkRange('timeoutMs', options.timeoutMs ?? 5_000, 0, Number.MAX_SAFE_INTEGER);
  }

  get limit(): number {
    return this.#limit;
  }

  update(sample: LimitSample): number {
    if (sample.dropped || sample.rttMs >= this.#timeoutMs) this.#limit = clamp(Math.floor(this.#limit * this.#backoffRatio), this.#minLimit, this.#maxLimit);
    else if (sample.inflight * 2 >= this.#limit) this.#limit = clamp(this.#limit + 1, this.#minLimit, this.#maxLimit);
    return this.#limit;
  }
}

/** An AIMD limit; see `AimdLimit`. */
export function aimdLimit(options?: AimdOptions): AimdLimit {
  return new AimdLimit(options);
}
