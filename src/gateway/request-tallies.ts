import type { Counter, Histogram } from 'prom-client';
import { addToHistogram, bucketIndex } from '../observe/histogram-record.js';

/**
 * The per-request metrics (requests by route, cluster and status class; the
 * duration histogram by route and cluster) kept as plain numbers on the
 * request path and handed to prom-client when the registry is read (its
 * `collect` hook, which runs on every scrape, `get()` and worker
 * aggregation). prom-client hashes the label object on every `inc` and
 * `observe` (about 1.2 µs a request on the fast path, a prebound child
 * included); a tally is two Map lookups on the route and cluster names and
 * an array slot. The scraped series are the same as calling prom-client
 * directly: same names, labels, buckets, sums and counts.
 *
 * Bounded: one tally per (route, cluster) pair seen, and both come from the
 * config (`ROUTES_MAX`, `CLUSTERS_MAX`) or are 'none'.
 */

/** Status classes 1xx to 5xx have a slot; anything else goes to prom-client directly (it never happens on a proxied request). */
const CLASSES_MAX = 5;

class Tally {
  /** Requests since the last handover, by status class (index 1 = 1xx). */
  readonly requests = new Array<number>(CLASSES_MAX + 1).fill(0);
  pendingRequests = 0;
  /** Observations since the last handover, by bucket (index = the bucket's upper bound's index; past the last: +Inf only). */
  readonly buckets: number[];
  durationSum = 0;
  durationCount = 0;

  constructor(readonly route: string, readonly cluster: string, bucketCount: number) {
    this.buckets = new Array<number>(bucketCount).fill(0);
  }
}

export class RequestTallies {
  readonly #byRoute = new Map<string, Map<string, Tally>>();
  readonly #upperBounds: readonly number[];
  readonly #requests: Counter<'route' | 'cluster' | 'code_class'>;
  readonly #duration: Histogram<'route' | 'cluster'>;

  /** `upperBounds`: the histogram's buckets, ascending, as given to prom-client. */
  constructor(requests: Counter<'route' | 'cluster' | 'code_class'>, duration: Histogram<'route' | 'cluster'>, upperBounds: readonly number[]) {
    this.#requests = requests;
    this.#duration = duration;
    this.#upperBounds = upperBounds;
  }

  /** One answered request (`status`: the HTTP status it was answered with). */
  countRequest(route: string, cluster: string, status: number): void {
    const statusClass = Math.floor(status / 100);
    if (statusClass < 1 || statusClass > CLASSES_MAX) {
      this.#requests.inc({ route, cluster, code_class: `${statusClass}xx` });
      return;
    }
    const tally = this.#tally(route, cluster);
    tally.requests[statusClass]!++;
    tally.pendingRequests++;
  }

  /** One request's time to its response head, in seconds (as `Histogram#observe`: a bucket is `value <= bound`). */
  observeDuration(route: string, cluster: string, seconds: number): void {
    // As prom-client's observe: a non-finite value is a caller's bug, refused before it corrupts the sum.
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const tally = this.#tally(route, cluster);
    const index = bucketIndex(this.#upperBounds, seconds);
    if (index < this.#upperBounds.length) tally.buckets[index]!++;
    tally.durationSum += seconds;
    tally.durationCount++;
  }

  #tally(route: string, cluster: string): Tally {
    let byCluster = this.#byRoute.get(route);
    if (byCluster === undefined) {
      byCluster = new Map();
      this.#byRoute.set(route, byCluster);
    }
    let tally = byCluster.get(cluster);
    if (tally === undefined) {
      tally = new Tally(route, cluster, this.#upperBounds.length);
      byCluster.set(cluster, tally);
    }
    return tally;
  }

  /** Hands the request counts to the counter (its `collect`). */
  flushRequests(): void {
    for (const tally of this.#tallies()) {
      if (tally.pendingRequests === 0) continue;
      for (let statusClass = 1; statusClass <= CLASSES_MAX; statusClass++) {
        const count = tally.requests[statusClass]!;
        if (count === 0) continue;
        this.#requests.inc({ route: tally.route, cluster: tally.cluster, code_class: `${statusClass}xx` }, count);
        tally.requests[statusClass] = 0;
      }
      tally.pendingRequests = 0;
    }
  }

  /** Hands the observations to the histogram (its `collect`). */
  flushDurations(): void {
    for (const tally of this.#tallies()) {
      if (tally.durationCount === 0) continue;
      addToHistogram(this.#duration, { route: tally.route, cluster: tally.cluster }, this.#upperBounds, tally.buckets, tally.durationSum, tally.durationCount);
      tally.buckets.fill(0);
      tally.durationSum = 0;
      tally.durationCount = 0;
    }
  }

  *#tallies(): Generator<Tally> {
    for (const byCluster of this.#byRoute.values()) yield* byCluster.values();
  }
}
