/**
 * A FIFO bounded in items and in bytes: a ring buffer that grows by doubling
 * up to its item bound, so an idle peer's queue costs little memory.
 * `push()` refuses (returns false) instead of growing past either bound.
 */
export class BoundedQueue<T> {
  #items: (T | undefined)[] = new Array(16);
  #sizes: number[] = new Array(16);
  #head = 0;
  #length = 0;
  #bytes = 0;

  constructor(readonly itemsMax: number, readonly bytesMax: number) {}

  get length(): number {
    return this.#length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends unless the queue is full in items or would exceed its byte bound. */
  push(item: T, sizeBytes: number): boolean {
    if (this.#length >= this.itemsMax || this.#bytes + sizeBytes > this.bytesMax) return false;
    if (this.#length === this.#items.length) this.#grow();
    const slot = (this.#head + this.#length) % this.#items.length;
    this.#items[slot] = item;
    this.#sizes[slot] = sizeBytes;
    this.#length++;
    this.#bytes += sizeBytes;
    return true;
  }

  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#bytes -= this.#sizes[this.#head]!;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length--;
    return item;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const all: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) all.push(item);
    return all;
  }

  #grow(): void {
    const capacity = this.#items.length * 2;
    const items: (T | undefined)[] = new Array(capacity);
    const sizes: number[] = new Array(capacity);
    for (let i = 0; i < this.#length; i++) {
      const from = (this.#head + i) % this.#items.length;
      items[i] = this.#items[from];
      sizes[i] = this.#sizes[from]!;
    }
    this.#items = items;
    this.#sizes = sizes;
    this.#head = 0;
  }
}
