/**
 * Watches the store's use of its space quota: the ratio goes to a gauge on
 * every apply, and a warning is due once each time usage rises across the
 * threshold (not on every write above it), so an operator hears about it
 * before writes start failing with NOSPACE. Falling back under the
 * threshold re-arms the warning.
 */
export const QUOTA_WARN_RATIO = 0.8;

export class QuotaWatch {
  readonly #thresholdRatio: number;
  #above = false;

  constructor(thresholdRatio = QUOTA_WARN_RATIO) {
    this.#thresholdRatio = thresholdRatio;
  }

  /** The used ratio, and whether this observation crossed the threshold upwards. */
  observe(usedBytes: number, quotaBytes: number): { ratio: number; crossed: boolean } {
    const ratio = quotaBytes > 0 ? usedBytes / quotaBytes : 0;
    const above = ratio >= this.#thresholdRatio;
    const crossed = above && !this.#above;
    this.#above = above;
    return { ratio, crossed };
  }
}
