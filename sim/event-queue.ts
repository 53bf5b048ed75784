/**
 * A min-heap of events ordered by (time, sequence): ties resolve in insertion
 * order, so a run depends only on the seed.
 */
export interface Scheduled<T> {
  readonly time: number;
  readonly sequence: number;
  readonly event: T;
}

export class EventQueue<T> {
  readonly #heap: Scheduled<T>[] = [];
  #sequence = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, event: T): void {
    const item = { time, sequence: this.#sequence++, event };
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): Scheduled<T> | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
}
