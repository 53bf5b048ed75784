/**
 * CoDel's standing-queue detector (Nichols & Jacobson, "Controlling Queue
 * Delay", 2012), as Facebook's adaptive queue uses it: the shortest sojourn
 * seen over an interval says whether the queue is standing. A queue that
 * empties even once in an interval (a sojourn near zero) is a good queue that
 * absorbed a burst; one whose shortest wait stays above the target for a
 * whole interval holds work that will not drain by itself.
 *
 * Pure: it reads no clock, callers pass `nowMs`.
 */
export class SojournMonitor {
  readonly targetDelayMs: number;
  readonly #intervalMs: number;
  #intervalStartMs: number;
  #minDelayMs = Infinity;
  #standing = false;

  constructor(targetDelayMs: number, intervalMs: number, nowMs: number) {
    this.targetDelayMs = targetDelayMs;
    this.#intervalMs = intervalMs;
    this.#intervalStartMs = nowMs;
  }

  /** True while the last full interval's shortest sojourn exceeded the target. */
  get standing(): boolean {
    return this.#standing;
  }

  /** Records one request's wait (0 for one admitted without queueing). */
  observe(delayMs: number, nowMs: number): void {
    this.#minDelayMs = Math.min(this.#minDelayMs, delayMs);
    if (nowMs - this.#intervalStartMs < this.#intervalMs) return;
    this.#standing = this.#minDelayMs > this.targetDelayMs;
    this.#minDelayMs = Infinity;
    this.#intervalStartMs = nowMs;
  }
}
