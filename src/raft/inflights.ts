import { assert } from './assert.js';

/**
 * The append messages sent to one follower and not yet acknowledged, as a
 * bounded ring buffer. Flow control: the leader stops sending to a follower
 * when this is full (by count or by bytes) and resumes as acks free slots.
 */
export class Inflights {
  readonly #indexes: number[];
  readonly #sizes: number[];
  #start = 0;
  #count = 0;
  #bytes = 0;

  constructor(
    readonly capacity: number,
    readonly bytesMax: number,
  ) {
    assert(capacity > 0, 'inflight capacity must be positive');
    this.#indexes = new Array<number>(capacity).fill(0);
    this.#sizes = new Array<number>(capacity).fill(0);
  }

  /** Records a message whose last entry is `index`; indexes must increase. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'add to full inflights');
    const slot = (this.#start + this.#count) % this.capacity;
    this.#indexes[slot] = index;
    this.#sizes[slot] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged up to it). */
  freeLE(index: number): void {
    while (this.#count > 0 && this.#indexes[this.#start]! <= index) {
      this.#bytes -= this.#sizes[this.#start]!;
      this.#start = (this.#start + 1) % this.capacity;
      this.#count--;
    }
    if (this.#count === 0) this.#start = 0;
  }

  /** Frees the oldest message, if any (see Raft's heartbeat response handling). */
  freeFirst(): void {
    if (this.#count === 0) return;
    this.freeLE(this.#indexes[this.#start]!);
  }

  full(): boolean {
    return this.#count === this.capacity || (this.bytesMax > 0 && this.#bytes >= this.bytesMax);
  }

  count(): number {
    return this.#count;
  }

  bytes(): number {
    return this.#bytes;
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}
