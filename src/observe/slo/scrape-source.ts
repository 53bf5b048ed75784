import { CounterRing } from './counter-ring.js';
import { ObserveError } from './errors.js';
import { parseExposition, seriesKey } from './exposition.js';
import { httpGetText } from './http-get.js';
import { SAMPLES_PER_SELECTOR_MAX, SERIES_PER_TARGET_MAX } from './limits.js';
import { formatSelector, matches, type Selector } from './selector.js';

/**
 * Scrapes keel /metrics endpoints itself, for `keel slo status --scrape`
 * and for callers (the load generator) that run without a Prometheus.
 * Each tracked selector keeps one CounterRing of the running sum of the
 * increases of its series across targets.
 *
 * Counter semantics, per target and series:
 * - a value lower than the last one is a reset (the process restarted):
 *   the new value is all increase, as Prometheus' increase() counts it;
 * - a series present at the target's first scrape is the baseline (its
 *   past is not in any window);
 * - a series first seen later, or seen again after it vanished, started
 *   from 0 after the previous scrape: prom-client creates a labelled
 *   series at its first increment, so the first 5xx arrives as a new
 *   series with value 1, which must count (Prometheus' rate() would mostly
 *   miss it);
 * - a target that cannot be scraped keeps its last values: when it comes
 *   back its increase (or, after a restart, its new values) is counted.
 */

export interface TargetHealth {
  readonly url: string;
  readonly up: boolean;
  readonly lastError?: string;
  readonly lastScrapeMs?: number;
}

interface TargetState {
  readonly url: string;
  /** Last value of every tracked series; undefined until the first successful scrape. */
  last: Map<string, number> | undefined;
  up: boolean;
  lastError?: string;
  lastScrapeMs?: number;
}

export class ScrapeSource {
  readonly #targets: TargetState[];
  readonly #selectors = new Map<string, { selector: Selector; ring: CounterRing; total: number }>();
  readonly #retentionMs: number;

  /** `retentionMs`: how far back windows reach (the longest window or period); older points are dropped. */
  constructor(urls: readonly string[], selectors: readonly Selector[], retentionMs: number) {
    this.#targets = urls.map((url) => ({ url, last: undefined, up: false }));
    this.#retentionMs = retentionMs;
    for (const selector of selectors) {
      const key = formatSelector(selector);
      if (!this.#selectors.has(key)) this.#selectors.set(key, { selector, ring: new CounterRing(SAMPLES_PER_SELECTOR_MAX), total: 0 });
    }
  }

  get targets(): TargetHealth[] {
    return this.#targets.map((target) => ({
      url: target.url, up: target.up, ...(target.lastError === undefined ? {} : { lastError: target.lastError }), ...(target.lastScrapeMs === undefined ? {} : { lastScrapeMs: target.lastScrapeMs }),
    }));
  }

  /**
   * Scrapes every target once (concurrently) and appends one point per
   * selector at `nowMs`. Returns the targets that failed; a failure never
   * throws, except when `requireAll` is set (the first scrape of a CLI run,
   * where an unreachable URL is a mistake to report at once).
   */
  async scrape(nowMs: number, requireAll = false): Promise<ObserveError[]> {
    const bodies = await Promise.all(this.#targets.map(async (target) => {
      try {
        return await httpGetText(target.url, 'scrape target');
      } catch (error) {
        if (!ObserveError.is(error)) throw error;
        return error;
      }
    }));
    const failures: ObserveError[] = [];
    bodies.forEach((body, index) => {
      const target = this.#targets[index]!;
      target.lastScrapeMs = nowMs;
      if (typeof body === 'string') {
        this.#absorb(target, body);
        target.up = true;
        delete target.lastError;
      } else {
        target.up = false;
        target.lastError = body.message;
        failures.push(body);
      }
    });
    if (requireAll && failures.length > 0) throw failures[0]!;
    for (const tracked of this.#selectors.values()) {
      tracked.ring.push(nowMs, tracked.total);
      tracked.ring.dropBefore(nowMs - this.#retentionMs);
    }
    return failures;
  }

  #absorb(target: TargetState, body: string): void {
    const firstScrape = target.last === undefined;
    const previous = target.last ?? new Map<string, number>();
    const next = new Map<string, number>();
    for (const sample of parseExposition(body).samples) {
      if (!Number.isFinite(sample.value)) continue;
      let key: string | undefined;
      for (const tracked of this.#selectors.values()) {
        if (!matches(tracked.selector, sample.metric, sample.labels)) continue;
        key ??= seriesKey(sample.metric, sample.labels);
        const last = previous.get(key);
        const increase = last === undefined ? (firstScrape ? 0 : sample.value) : sample.value >= last ? sample.value - last : sample.value;
        tracked.total += Math.max(0, increase);
      }
      if (key !== undefined && next.size < SERIES_PER_TARGET_MAX) next.set(key, sample.value);
    }
    target.last = next;
  }

  /** How far back the samples reach from `nowMs` (seconds), or null before the first scrape. */
  observedSeconds(nowMs: number): number | null {
    let oldest = Infinity;
    for (const tracked of this.#selectors.values()) oldest = Math.min(oldest, tracked.ring.oldestMs ?? Infinity);
    return Number.isFinite(oldest) ? Math.max(0, (nowMs - oldest) / 1000) : null;
  }

  /** Time of the selector's oldest point, or null before the first scrape. */
  oldestMs(selector: Selector): number | null {
    return this.#tracked(selector).ring.oldestMs;
  }

  #tracked(selector: Selector): { ring: CounterRing } {
    const tracked = this.#selectors.get(formatSelector(selector));
    if (tracked === undefined) throw new Error(`selector ${formatSelector(selector)} is not tracked`);
    return tracked;
  }

  /** Increase of the selector's series between the two times, or null without two points in reach. */
  increase(selector: Selector, fromMs: number, toMs: number): { increase: number; coveredMs: number } | null {
    return this.#tracked(selector).ring.increase(fromMs, toMs);
  }
}
