import { assert } from './assert.js';

/** Items a block is sorted in at once before merging starts (one block is one bounded piece of work). */
const BLOCK_ITEMS = 1024;

/**
 * A stable sort done a bounded amount of work at a time, so that sorting a
 * million records (a snapshot restore's revision-ordered log) can be spread
 * over many event-loop turns: blocks of {@link BLOCK_ITEMS} are sorted with
 * `Array.prototype.sort` (stable), then merged bottom-up, pairs of runs per
 * pass, from one buffer into the other. Every call to `step` resumes where
 * the previous one stopped. Pure: no clock, the caller decides how much.
 */
export class IncrementalMergeSort<T> {
  readonly #compare: (a: T, b: T) => number;
  #from: T[];
  #to: T[];
  /** Items sorted into blocks so far (the first phase); the length once done. */
  #blocked = 0;
  /** Length of the sorted runs the current pass merges in pairs. */
  #width = BLOCK_ITEMS;
  /** Where the current pass's next pair of runs starts. */
  #pairStart = 0;
  /** Merge cursors inside the current pair: left run, right run, output; -1 when no pair is open. */
  #left = -1;
  #right = 0;
  #out = 0;
  #done = false;

  /** Takes `items` over (it is used as one of the two buffers): read the result from {@link sorted}. */
  constructor(items: T[], compare: (a: T, b: T) => number) {
    this.#compare = compare;
    this.#from = items;
    this.#to = new Array<T>(items.length);
    if (items.length <= 1) this.#done = true;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The sorted items; only once done. */
  get sorted(): T[] {
    assert(this.#done, 'IncrementalMergeSort: not done');
    return this.#from;
  }

  /**
   * Sorts on for about `workMax` units (one unit is one item compared and
   * moved; a block's sort counts its length). Returns true once sorted.
   */
  step(workMax: number): boolean {
    let work = 0;
    while (!this.#done && work < workMax) {
      work += this.#blocked < this.#from.length ? this.#sortBlock() : this.#merge(workMax - work);
    }
    return this.#done;
  }

  #sortBlock(): number {
    const start = this.#blocked;
    const end = Math.min(start + BLOCK_ITEMS, this.#from.length);
    const block = this.#from.slice(start, end).sort(this.#compare);
    for (let i = 0; i < block.length; i++) this.#from[start + i] = block[i]!;
    this.#blocked = end;
    if (end === this.#from.length && this.#width >= end) this.#done = true; // one block: already sorted
    return block.length;
  }

  /** Merges the current pair of runs for at most `workMax` items; opens the next pair (or pass) when one ends. */
  #merge(workMax: number): number {
    const length = this.#from.length;
    if (this.#left < 0) this.#openPair();
    const from = this.#from;
    const to = this.#to;
    const compare = this.#compare;
    const middle = Math.min(this.#pairStart + this.#width, length);
    const end = Math.min(this.#pairStart + 2 * this.#width, length);
    let left = this.#left;
    let right = this.#right;
    let out = this.#out;
    const stop = Math.min(end, out + Math.max(1, workMax));
    while (out < stop) {
      // Ties take the left run's item first: stable.
      if (left < middle && (right >= end || compare(from[left]!, from[right]!) <= 0)) to[out++] = from[left++]!;
      else to[out++] = from[right++]!;
    }
    const moved = out - this.#out;
    this.#left = left;
    this.#right = right;
    this.#out = out;
    if (out === end) this.#closePair(end);
    return moved;
  }

  #openPair(): void {
    this.#left = this.#pairStart;
    this.#right = Math.min(this.#pairStart + this.#width, this.#from.length);
    this.#out = this.#pairStart;
  }

  #closePair(end: number): void {
    this.#left = -1;
    this.#pairStart = end;
    if (end < this.#from.length) return;
    // The pass is over: the runs are twice as long, in the other buffer.
    [this.#from, this.#to] = [this.#to, this.#from];
    this.#width *= 2;
    this.#pairStart = 0;
    if (this.#width >= this.#from.length) this.#done = true;
  }
}
