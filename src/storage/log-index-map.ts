/**
 * A value per log index for a contiguous run of indexes, under the log's own
 * rule: setting index i replaces i and forgets every index after it, and a
 * set that does not follow on (after an installed snapshot) starts a new
 * run. The WAL keeps where each entry's record lies in one (Wal.readEntry);
 * the simulator's storage keeps the entries it wrote.
 */
export class LogIndexMap<T> {
  /** Index of #values[0]. */
  #first = 0;
  #values: T[] = [];

  get size(): number {
    return this.#values.length;
  }

  set(index: number, value: T): void {
    const position = index - this.#first;
    if (this.#values.length === 0 || position < 0 || position > this.#values.length) {
      this.#first = index;
      this.#values = [value];
      return;
    }
    this.#values.length = position;
    this.#values.push(value);
  }

  get(index: number): T | undefined {
    return index >= this.#first ? this.#values[index - this.#first] : undefined;
  }

  /** Forgets every index up to `index`: the log no longer holds them. */
  releaseThrough(index: number): void {
    const count = index - this.#first + 1;
    if (count <= 0) return;
    this.#values = count >= this.#values.length ? [] : this.#values.slice(count);
    this.#first = index + 1;
  }

  /** Forgets everything (an installed snapshot replaced the log). */
  clear(): void {
    this.#values = [];
    this.#first = 0;
  }
}
