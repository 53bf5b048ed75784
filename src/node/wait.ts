/**
 * Requests waiting for something the member will see: a write for its entry
 * to apply, a read for its read index to be applied, a membership change for
 * its entry (etcd's `wait` package). Each waiter holds its deadline timer;
 * whatever removes it (answered, failed, timed out, cancelled) clears the
 * timer, so a settled request leaves nothing behind. The size is bounded by
 * the callers' admission checks, which read `size`.
 */
export class Wait<T, Note extends object = Record<never, never>> {
  readonly #waiters = new Map<string, Waiter<T, Note>>();
  readonly #onRemove: ((note: Note) => void) | undefined;

  /** `onRemove` sees each waiter as it leaves, however it leaves (counts kept beside the registry stay right). */
  constructor(onRemove?: (note: Note) => void) {
    this.#onRemove = onRemove;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Waits for `id`. After `timeoutMs` the waiter leaves and the promise
   * rejects with what `onTimeout` returns. `note` is the caller's mutable
   * bookkeeping for this waiter (see `notes`).
   */
  register(id: string, timeoutMs: number, onTimeout: () => unknown, note: Note): Promise<T> {
    if (this.#waiters.has(id)) throw new Error(`wait: ${id} is already registered`);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#remove(id)) reject(onTimeout());
      }, Math.max(1, timeoutMs));
      this.#waiters.set(id, { resolve, reject, timer, note });
    });
  }

  /** The note of a waiting `id`, or undefined. */
  note(id: string): Note | undefined {
    return this.#waiters.get(id)?.note;
  }

  /** Every waiter's id and note, oldest first. Settling the one at hand while iterating is fine (a Map skips what was deleted). */
  *notes(): IterableIterator<[string, Note]> {
    for (const [id, waiter] of this.#waiters) yield [id, waiter.note];
  }

  /** Answers `id`; false when it is not waiting (already answered, failed or timed out). */
  trigger(id: string, value: T): boolean {
    const waiter = this.#remove(id);
    waiter?.resolve(value);
    return waiter !== undefined;
  }

  /** Fails `id`; false when it is not waiting. */
  fail(id: string, error: unknown): boolean {
    const waiter = this.#remove(id);
    waiter?.reject(error);
    return waiter !== undefined;
  }

  /** Removes `id` without settling its promise (the caller settles the request another way). */
  cancel(id: string): boolean {
    return this.#remove(id) !== undefined;
  }

  /** Fails every waiter, each with its own error (one error object shared by many callers would be mutated by each). */
  failAll(error: () => unknown): void {
    for (const id of [...this.#waiters.keys()]) this.fail(id, error());
  }

  #remove(id: string): Waiter<T, Note> | undefined {
    const waiter = this.#waiters.get(id);
    if (waiter === undefined) return undefined;
    this.#waiters.delete(id);
    clearTimeout(waiter.timer);
    this.#onRemove?.(waiter.note);
    return waiter;
  }
}

interface Waiter<T, Note> {
  resolve(value: T): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
  readonly note: Note;
}
