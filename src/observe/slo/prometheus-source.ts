import { ObserveError } from './errors.js';
import { httpGetText } from './http-get.js';

/**
 * Instant queries against a Prometheus HTTP API (`/api/v1/query`). A query
 * must return at most one series (the SLI expressions sum everything);
 * an empty result reads as "no data" (null), as does NaN (no traffic).
 */
export class PrometheusSource {
  readonly #queryUrl: URL;

  constructor(readonly baseUrl: string) {
    this.#queryUrl = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  }

  async query(expr: string, timeMs: number): Promise<number | null> {
    const url = new URL(this.#queryUrl);
    url.searchParams.set('query', expr);
    url.searchParams.set('time', (timeMs / 1000).toFixed(3));
    const text = await httpGetText(url.toString(), 'Prometheus');
    let answer: { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown } };
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      throw new ObserveError('KEEL_OBSERVE_QUERY_FAILED', `Prometheus at ${this.baseUrl} answered something that is not JSON (is it a Prometheus?)`);
    }
    if (answer.status !== 'success') {
      throw new ObserveError('KEEL_OBSERVE_QUERY_FAILED', `Prometheus at ${this.baseUrl}: query failed (${answer.errorType ?? 'error'}: ${answer.error ?? 'no message'}): ${expr}`);
    }
    const result = answer.data?.result;
    if (answer.data?.resultType === 'scalar') return numberOf((result as [number, string])[1]);
    if (answer.data?.resultType !== 'vector' || !Array.isArray(result)) {
      throw new ObserveError('KEEL_OBSERVE_QUERY_FAILED', `Prometheus at ${this.baseUrl}: expected an instant vector from: ${expr}`);
    }
    if (result.length === 0) return null;
    if (result.length > 1) throw new ObserveError('KEEL_OBSERVE_QUERY_FAILED', `Prometheus at ${this.baseUrl}: ${result.length} series from an SLI query that must return one (sum it): ${expr}`);
    return numberOf((result[0] as { value: [number, string] }).value[1]);
  }
}

function numberOf(text: string): number | null {
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}
