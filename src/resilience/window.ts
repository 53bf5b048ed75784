import { WINDOW_BUCKETS_MAX } from './limits.js';
import { ConfigError } from './errors.js';

/**
 * A sliding window of counters split into time buckets: a bucket covers
 * `windowMs / bucketCount` ms aligned to `originMs`, and the window is the
 * current bucket plus the `bucketCount - 1` before it. Adding and summing
 * are O(1) amortised; memory is `bucketCount × fields` numbers.
 *
 * The window slides by whole buckets, as Resilience4j's and opossum's
 * rolling windows do; finer buckets approximate a true sliding window.
 */
export class BucketedWindow {
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly bucketCount: number;
  readonly #fields: number;
  readonly #originMs: number;
  readonly #counts: Float64Array;
  readonly #totals: Float64Array;
  #currentIndex = 0;

  constructor(options: { windowMs: number; bucketCount: number; fields: number; originMs: number }) {
    const { windowMs, bucketCount, fields, originMs } = options;
    if (!Number.isInteger(bucketCount) || bucketCount < 1 || bucketCount > WINDOW_BUCKETS_MAX) {
      throw new ConfigError(`bucketCount must be an integer in 1..${WINDOW_BUCKETS_MAX}`);
    }
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new ConfigError('windowMs must be positive');
    this.windowMs = windowMs;
    this.bucketCount = bucketCount;
    this.bucketMs = windowMs / bucketCount;
    this.#fields = fields;
    this.#originMs = originMs;
    this.#counts = new Float64Array(bucketCount * fields);
    this.#totals = new Float64Array(fields);
  }

  /** Adds `amount` to counter `field` at time `nowMs`. */
  add(nowMs: number, field: number, amount = 1): void {
    this.#advance(nowMs);
    const slot = (this.#currentIndex % this.bucketCount) * this.#fields + field;
    this.#counts[slot] = (this.#counts[slot] ?? 0) + amount;
    this.#totals[field] = (this.#totals[field] ?? 0) + amount;
  }

  /** The sum of counter `field` over the window ending at `nowMs`. */
  sum(nowMs: number, field: number): number {
    this.#advance(nowMs);
    return this.#totals[field] ?? 0;
  }

  /** Forgets everything. */
  clear(): void {
    this.#counts.fill(0);
    this.#totals.fill(0);
  }

  #advance(nowMs: number): void {
    const index = Math.floor((nowMs - this.#originMs) / this.bucketMs);
    if (index <= this.#currentIndex) return; // time never moves a window backwards
    const steps = Math.min(index - this.#currentIndex, this.bucketCount);
    for (let step = 1; step <= steps; step++) {
      const base = ((this.#currentIndex + step) % this.bucketCount) * this.#fields;
      for (let field = 0; field < this.#fields; field++) {
        this.#totals[field] = (this.#totals[field] ?? 0) - (this.#counts[base + field] ?? 0);
        this.#counts[base + field] = 0;
      }
    }
    if (steps === this.bucketCount) this.#totals.fill(0); // avoid float drift after a full turn
    this.#currentIndex = index;
  }
}
