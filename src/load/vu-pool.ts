/**
 * VUs kept from one in-process run to the next. A run given a pool takes
 * each scenario's VU n from it instead of making a new one, and gives it
 * back at the end instead of closing it, so the VU's keep-alive connections,
 * TLS sessions and `state` outlive the run: a warm-up run, then the measured
 * run over the same connections, as a benchmark's client pool would. k6 too
 * hands a VU that finished one scenario to the next.
 */
import { VUS_MAX } from './limits.js';
import type { VU } from './vu.js';

export class VuPool {
  readonly #vus = new Map<string, VU>();

  /** VUs held. */
  get size(): number {
    return this.#vus.size;
  }

  /**
   * @internal VU `index` of `scenario`: the one kept from an earlier run, or
   * `create()`'s (kept while the pool holds fewer than VUS_MAX).
   */
  take(scenario: string, index: number, create: () => VU): { readonly vu: VU; readonly pooled: boolean } {
    const key = `${scenario}#${index}`;
    const kept = this.#vus.get(key);
    if (kept !== undefined) return { vu: kept, pooled: true };
    const vu = create();
    if (this.#vus.size >= VUS_MAX) return { vu, pooled: false };
    this.#vus.set(key, vu);
    return { vu, pooled: true };
  }

  /** @internal A VU whose iteration was interrupted cannot run again (its signal stays aborted): drop and close it. */
  async release(scenario: string, index: number, vu: VU): Promise<void> {
    if (!vu.signal.aborted) return;
    this.#vus.delete(`${scenario}#${index}`);
    await vu.close();
  }

  /** Closes every VU's connections; the pool is empty after. */
  async close(): Promise<void> {
    const vus = [...this.#vus.values()];
    this.#vus.clear();
    await Promise.all(vus.map((vu) => vu.close()));
  }
}
