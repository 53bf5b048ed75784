import { assert } from './assert.js';
import type { Clock, TimerHandle } from './clock.js';
import { DEADLINE_HEAP_ENTRIES_MAX } from './limits.js';

/** Keys of a deadline entry's fields: symbols, so an entry that is also a policy context shows none of them to `Object.keys` or JSON. */
export const DUE_MS: unique symbol = Symbol('keel.resilience.dueMs');
export const HEAP_INDEX: unique symbol = Symbol('keel.resilience.heapIndex');
export const SEQUENCE: unique symbol = Symbol('keel.resilience.sequence');
export const ON_DEADLINE: unique symbol = Symbol('keel.resilience.onDeadline');

/**
 * Something that must happen at its due time unless removed first. The heap
 * owns the index and the sequence; an entry sits in at most one heap at a time.
 */
export interface DeadlineEntry {
  /** Absolute due time on the heap's clock. */
  [DUE_MS]: number;
  /** Position in the heap, -1 when not in one. */
  [HEAP_INDEX]: number;
  /** Insertion order, which breaks ties between equal due times (the order a FakeClock fires timers in). */
  [SEQUENCE]: number;
  /** Called once, from the heap's timer, when the clock reaches the due time. */
  [ON_DEADLINE](): void;
}

/** Node's Timeout can stop holding the process open without being cleared. */
interface RefCountedTimer {
  ref(): unknown;
  unref(): unknown;
}

function isRefCounted(handle: TimerHandle): handle is RefCountedTimer {
  return typeof handle === 'object' && handle !== null && typeof (handle as RefCountedTimer).unref === 'function' && typeof (handle as RefCountedTimer).ref === 'function';
}

/**
 * One timer for many deadlines: a binary min-heap of entries ordered by due
 * time, with a single clock timer armed for the earliest. A timeout that
 * never fires then costs a heap insert and a removal instead of a
 * setTimeout/clearTimeout pair (about as dear as the whole fast path).
 *
 * Removing an entry leaves the clock timer armed: it may fire early, finds
 * nothing due and re-arms for the new earliest entry. With a fixed timeout
 * that costs one spurious wake-up per timeout period, not one per call. When
 * the heap empties, a Node timer is unref'd (so an idle heap never holds a
 * process open, as a cleared timer would not) and any other clock's timer is
 * cleared (so a FakeClock shows no pending timers once calls are done).
 */
export class DeadlineHeap {
  readonly #clock: Clock;
  readonly #entries: DeadlineEntry[] = [];
  #sequence = 0;
  #timer: TimerHandle | undefined;
  /** When the armed timer fires (Infinity when none is armed). */
  #armedDueMs = Infinity;
  #timerReferenced = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Entries waiting for their due time. */
  get size(): number {
    return this.#entries.length;
  }

  /** Schedules `entry` for its due time. */
  add(entry: DeadlineEntry): void {
    assert(entry[HEAP_INDEX] === -1, 'deadline entry is already scheduled');
    assert(this.#entries.length < DEADLINE_HEAP_ENTRIES_MAX, 'deadline heap is full');
    entry[SEQUENCE] = this.#sequence++;
    entry[HEAP_INDEX] = this.#entries.length;
    this.#entries.push(entry);
    this.#siftUp(entry[HEAP_INDEX]);
    if (entry[DUE_MS] < this.#armedDueMs) this.#arm(entry[DUE_MS]);
    else if (!this.#timerReferenced) this.#reference(true);
  }

  /** Unschedules `entry`; a no-op when it already fired or was removed. */
  remove(entry: DeadlineEntry): void {
    const index = entry[HEAP_INDEX];
    if (index < 0) return;
    entry[HEAP_INDEX] = -1;
    const last = this.#entries.pop() as DeadlineEntry;
    if (index < this.#entries.length) {
      this.#entries[index] = last;
      last[HEAP_INDEX] = index;
      this.#siftDown(index);
      this.#siftUp(last[HEAP_INDEX]);
    }
    if (this.#entries.length === 0) this.#idle();
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    this.#armedDueMs = Infinity;
    this.#timerReferenced = false;
    const nowMs = this.#clock.now();
    // Bounded by the heap's size on entry, so callbacks that schedule more
    // zero-delay work cannot keep this loop going.
    for (let fired = 0, limit = this.#entries.length; fired < limit; fired++) {
      const first = this.#entries[0];
      if (first === undefined || first[DUE_MS] > nowMs) break;
      this.remove(first);
      first[ON_DEADLINE]();
    }
    // A callback may have armed the timer for a later entry than the head.
    const next = this.#entries[0];
    if (next !== undefined && next[DUE_MS] < this.#armedDueMs) this.#arm(next[DUE_MS]);
  };

  #arm(dueMs: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, dueMs - this.#clock.now()));
    this.#armedDueMs = dueMs;
    this.#timerReferenced = true;
  }

  #idle(): void {
    if (this.#timer === undefined) return;
    if (isRefCounted(this.#timer)) {
      this.#reference(false);
      return;
    }
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedDueMs = Infinity;
  }

  #reference(referenced: boolean): void {
    const timer = this.#timer;
    if (timer === undefined || !isRefCounted(timer)) return;
    if (referenced) timer.ref();
    else timer.unref();
    this.#timerReferenced = referenced;
  }

  #before(a: DeadlineEntry, b: DeadlineEntry): boolean {
    return a[DUE_MS] < b[DUE_MS] || (a[DUE_MS] === b[DUE_MS] && a[SEQUENCE] < b[SEQUENCE]);
  }

  #siftUp(start: number): void {
    const entries = this.#entries;
    let index = start;
    const entry = entries[index] as DeadlineEntry;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = entries[parentIndex] as DeadlineEntry;
      if (!this.#before(entry, parent)) break;
      entries[index] = parent;
      parent[HEAP_INDEX] = index;
      index = parentIndex;
    }
    entries[index] = entry;
    entry[HEAP_INDEX] = index;
  }

  #siftDown(start: number): void {
    const entries = this.#entries;
    const length = entries.length;
    let index = start;
    const entry = entries[index] as DeadlineEntry;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.#before(entries[right] as DeadlineEntry, entries[left] as DeadlineEntry) ? right : left;
      const childEntry = entries[child] as DeadlineEntry;
      if (!this.#before(childEntry, entry)) break;
      entries[index] = childEntry;
      childEntry[HEAP_INDEX] = index;
      index = child;
    }
    entries[index] = entry;
    entry[HEAP_INDEX] = index;
  }
}

const heaps = new WeakMap<Clock, DeadlineHeap>();

/** The heap shared by every policy on `clock`, so they share one timer. */
export function deadlineHeapFor(clock: Clock): DeadlineHeap {
  let heap = heaps.get(clock);
  if (heap === undefined) {
    heap = new DeadlineHeap(clock);
    heaps.set(clock, heap);
  }
  return heap;
}
