import type { Clock } from '../../resilience/index.js';
import type { OutlierConfig } from '../config.js';
import type { Endpoint } from '../endpoint.js';

/** What one proxied attempt ended with, as outlier detection sees it. */
export type AttemptResult = { readonly kind: 'status'; readonly status: number } | { readonly kind: 'error' };

interface Counters {
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  successes: number;
  total: number;
}

export type OutlierEvent = { readonly type: 'ejected' | 'uneject'; readonly endpoint: Endpoint; readonly cause: string };

/**
 * Passive health (Envoy outlier detection) for one cluster: consecutive
 * 5xx, consecutive gateway errors (502/503/504 and connection failures),
 * and success-rate outliers (below mean − factor × stdev among endpoints
 * with enough requests, checked every interval). An ejection lasts
 * `baseEjectionTime × times ejected` (capped); at most `maxEjectionPercent`
 * of the endpoints are out at once (at least one may always be ejected
 * when the percentage allows a fraction, as Envoy). Pure state on an
 * injected clock: `sweep()` is the interval's work, called by a timer in
 * production and by hand in tests.
 */
export class OutlierDetector {
  readonly #config: OutlierConfig;
  readonly #clock: Clock;
  readonly #counters = new WeakMap<Endpoint, Counters>();
  #endpoints: readonly Endpoint[];
  #listener: ((event: OutlierEvent) => void) | undefined;

  constructor(config: OutlierConfig, endpoints: readonly Endpoint[], clock: Clock) {
    this.#config = config;
    this.#endpoints = endpoints;
    this.#clock = clock;
  }

  /** One listener (the gateway's metrics and logs). */
  onEvent(listener: (event: OutlierEvent) => void): void {
    this.#listener = listener;
  }

  #countersOf(endpoint: Endpoint): Counters {
    let counters = this.#counters.get(endpoint);
    if (!counters) {
      counters = { consecutive5xx: 0, consecutiveGatewayErrors: 0, successes: 0, total: 0 };
      this.#counters.set(endpoint, counters);
    }
    return counters;
  }

  /** Records an attempt's outcome; may eject the endpoint. */
  record(endpoint: Endpoint, result: AttemptResult): void {
    const counters = this.#countersOf(endpoint);
    counters.total++;
    const status = result.kind === 'status' ? result.status : 0;
    const is5xx = result.kind === 'error' || status >= 500;
    const isGatewayError = result.kind === 'error' || status === 502 || status === 503 || status === 504;
    if (!is5xx) {
      counters.successes++;
      counters.consecutive5xx = 0;
      counters.consecutiveGatewayErrors = 0;
      return;
    }
    counters.consecutive5xx++;
    counters.consecutiveGatewayErrors = isGatewayError ? counters.consecutiveGatewayErrors + 1 : 0;
    if (counters.consecutive5xx >= this.#config.consecutive5xx) this.#eject(endpoint, 'consecutive-5xx');
    else if (counters.consecutiveGatewayErrors >= this.#config.consecutiveGatewayErrors) this.#eject(endpoint, 'consecutive-gateway-errors');
  }

  /** The interval's work: success-rate ejections, then fresh counts. Un-ejection is by time (see `Endpoint.isEjected`). */
  sweep(): void {
    const nowMs = this.#clock.now();
    for (const endpoint of this.#endpoints) {
      if (endpoint.ejectedUntilMs !== 0 && !endpoint.isEjected(nowMs)) {
        endpoint.eligibleSinceMs = endpoint.ejectedUntilMs;
        endpoint.ejectedUntilMs = 0;
        this.#listener?.({ type: 'uneject', endpoint, cause: 'timer' });
      }
    }
    const sampled = this.#endpoints.filter((e) => !e.isEjected(nowMs) && this.#countersOf(e).total >= this.#config.successRateRequestVolume);
    if (sampled.length >= this.#config.successRateMinimumHosts) {
      const rates = sampled.map((e) => this.#countersOf(e).successes / this.#countersOf(e).total);
      const mean = rates.reduce((sum, rate) => sum + rate, 0) / rates.length;
      const stdev = Math.sqrt(rates.reduce((sum, rate) => sum + (rate - mean) ** 2, 0) / rates.length);
      const threshold = mean - this.#config.successRateStdevFactor * stdev;
      sampled.forEach((endpoint, index) => {
        if ((rates[index] as number) < threshold) this.#eject(endpoint, 'success-rate');
      });
    }
    for (const endpoint of this.#endpoints) {
      const counters = this.#countersOf(endpoint);
      counters.successes = 0;
      counters.total = 0;
    }
  }

  #eject(endpoint: Endpoint, cause: string): void {
    const nowMs = this.#clock.now();
    if (endpoint.isEjected(nowMs)) return;
    const ejected = this.#endpoints.filter((e) => e.isEjected(nowMs)).length;
    const allowed = Math.max(this.#config.maxEjectionPercent > 0 ? 1 : 0, Math.floor((this.#endpoints.length * this.#config.maxEjectionPercent) / 100));
    if (ejected >= allowed) return;
    endpoint.ejectionCount++;
    const durationMs = Math.min(this.#config.baseEjectionTimeMs * endpoint.ejectionCount, Math.max(this.#config.baseEjectionTimeMs, this.#config.maxEjectionTimeMs));
    endpoint.ejectedUntilMs = nowMs + durationMs;
    const counters = this.#countersOf(endpoint);
    counters.consecutive5xx = 0;
    counters.consecutiveGatewayErrors = 0;
    this.#listener?.({ type: 'ejected', endpoint, cause });
  }
}
