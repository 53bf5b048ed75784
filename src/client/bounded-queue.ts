/**
 * A bounded single-consumer queue between a stream reader and its consumer.
 * `push` waits while the queue is full, which stops the reader pulling from
 * the socket: that is the backpressure. `fail` and `end` wake everyone;
 * items queued before a failure are still delivered, then the error.
 */
export class BoundedQueue<T> {
  readonly #capacity: number;
  readonly #items: T[] = [];
  #error: unknown;
  #failed = false;
  #ended = false;
  #taker: { resolve: (result: IteratorResult<T, undefined>) => void; reject: (error: unknown) => void } | undefined;
  #spaceWaiters: Array<() => void> = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#items.length;
  }

  /** Queues `item`, first waiting for room. Resolves false (dropping the item) once the queue has ended or failed. */
  async push(item: T): Promise<boolean> {
    while (this.#items.length >= this.#capacity && !this.#closed) await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    if (this.#closed) return false;
    const taker = this.#taker;
    if (taker !== undefined) {
      this.#taker = undefined;
      taker.resolve({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
    return true;
  }

  /** The next item; done once ended and drained; rejects with the failure once failed and drained. One taker at a time. */
  take(): Promise<IteratorResult<T, undefined>> {
    if (this.#items.length > 0) {
      const value = this.#items.shift()!;
      this.#wakeOne();
      return Promise.resolve({ value, done: false });
    }
    if (this.#failed) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#taker !== undefined) return Promise.reject(new Error('only one consumer may read a stream at a time'));
    return new Promise((resolve, reject) => {
      this.#taker = { resolve, reject };
    });
  }

  /** No more items: the consumer gets what is queued, then done. */
  end(): void {
    if (this.#closed) return;
    this.#ended = true;
    this.#settleTaker();
  }

  /** The producer failed: the consumer gets what is queued, then `error`. */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.#failed = true;
    this.#error = error;
    this.#settleTaker();
  }

  /** Ends and drops what is queued (the consumer went away). */
  clear(): void {
    this.#items.length = 0;
    this.end();
  }

  get #closed(): boolean {
    return this.#ended || this.#failed;
  }

  #settleTaker(): void {
    for (const wake of this.#spaceWaiters.splice(0)) wake();
    const taker = this.#taker;
    if (taker === undefined) return;
    this.#taker = undefined;
    if (this.#failed) taker.reject(this.#error);
    else taker.resolve({ value: undefined, done: true });
  }

  #wakeOne(): void {
    this.#spaceWaiters.shift()?.();
  }
}
