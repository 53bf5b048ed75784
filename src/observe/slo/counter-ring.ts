/**
 * A bounded ring of (time, cumulative count) points for one tracked
 * selector: the running sum of every increase seen in every matching series
 * of every target (resets already folded in by the scrape source). Increase
 * over a window is then one subtraction, however many series and targets
 * feed it. When full, the oldest point is overwritten.
 */
export class CounterRing {
  readonly #times: Float64Array;
  readonly #values: Float64Array;
  #start = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#times = new Float64Array(capacity);
    this.#values = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a point; times must not go backwards (a point at an earlier time is ignored). */
  push(timeMs: number, value: number): void {
    if (this.#size > 0 && timeMs < this.#times[this.#index(this.#size - 1)]!) return;
    if (this.#size === this.capacity) {
      this.#start = (this.#start + 1) % this.capacity;
      this.#size--;
    }
    const index = this.#index(this.#size);
    this.#times[index] = timeMs;
    this.#values[index] = value;
    this.#size++;
  }

  /** Drops points older than `timeMs`, keeping the last one before it (the baseline for a window starting there). */
  dropBefore(timeMs: number): void {
    while (this.#size > 1 && this.#times[this.#index(1)]! <= timeMs) {
      this.#start = (this.#start + 1) % this.capacity;
      this.#size--;
    }
  }

  /** Time of the oldest point kept, or null when empty. */
  get oldestMs(): number | null {
    return this.#size === 0 ? null : this.#times[this.#start]!;
  }

  #index(offset: number): number {
    return (this.#start + offset) % this.capacity;
  }

  /** Position of the last point at or before `timeMs`, or -1 (binary search: points are in time order). */
  #lastAtOrBefore(timeMs: number): number {
    let low = 0;
    let high = this.#size - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (this.#times[this.#index(middle)]! <= timeMs) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /**
   * The increase between `fromMs` and `toMs`, from the points at or before
   * each end; when no point is that old, from the oldest point (a partial
   * window). `coveredMs` says how much of the window the points span;
   * null when there are fewer than two points in reach.
   */
  increase(fromMs: number, toMs: number): { increase: number; coveredMs: number } | null {
    const end = this.#lastAtOrBefore(toMs);
    if (end < 0) return null;
    const begin = Math.max(0, this.#lastAtOrBefore(fromMs));
    if (begin >= end) return begin === end && this.#lastAtOrBefore(fromMs) >= 0 ? { increase: 0, coveredMs: toMs - fromMs } : null;
    const beginTime = this.#times[this.#index(begin)]!;
    return { increase: this.#values[this.#index(end)]! - this.#values[this.#index(begin)]!, coveredMs: this.#times[this.#index(end)]! - Math.max(beginTime, fromMs) };
  }
}
