/** A counting semaphore: at most `permits` holders at once; waiters queue in order (bounded by the callers: one waiter per check at most). */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(permits: number) {
    if (!(Number.isInteger(permits) && permits > 0)) throw new RangeError(`permits must be a positive integer, got ${permits}`);
    this.#free = permits;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}
