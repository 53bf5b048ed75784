/**
 * Counters into rates between two polls, per key (a member, the gateway),
 * so a restarted process (its counters back at zero) gives a gap for one
 * poll instead of a negative rate.
 */
export class CounterRates {
  readonly #previous = new Map<string, { value: number; atMs: number }>();

  /** Per second since the last value under `key`; undefined on the first, after a reset, or when `value` is unknown. */
  rate(key: string, value: number | undefined, atMs: number): number | undefined {
    if (value === undefined) {
      this.#previous.delete(key);
      return undefined;
    }
    const previous = this.#previous.get(key);
    this.#previous.set(key, { value, atMs });
    if (!previous || value < previous.value || atMs <= previous.atMs) return undefined;
    return ((value - previous.value) * 1000) / (atMs - previous.atMs);
  }

  /** Forgets keys not in `live` (members no longer listed), so the map stays bounded by the targets. */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.#previous.keys()) if (!live.has(key)) this.#previous.delete(key);
  }
}
