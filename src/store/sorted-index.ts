import { assert } from './assert.js';
import type { ByteString } from './bytes.js';
import { INDEX_CHUNK_ENTRIES_MAX } from './limits.js';

export interface Keyed {
  readonly key: ByteString;
}

/**
 * Items kept in key order, for range scans (etcd keeps its treeIndex in a
 * B-tree). This is a two-level sorted list: an array of sorted chunks of at
 * most INDEX_CHUNK_ENTRIES_MAX items. Finding a key is two binary searches;
 * inserting moves at most one chunk's items; a scan walks chunks in order.
 * It stays simple because the store removes keys only on compaction.
 */
export class SortedIndex<T extends Keyed> {
  #chunks: T[][] = [];
  #size = 0;

  static fromSorted<T extends Keyed>(items: readonly T[]): SortedIndex<T> {
    const index = new SortedIndex<T>();
    for (const item of items) index.appendSorted(item);
    return index;
  }

  /**
   * Adds an item whose key is above every key held (a restore builds the
   * index this way, a bounded piece at a time). Chunks are filled to half
   * their bound, leaving room for inserts.
   */
  appendSorted(item: T): void {
    const last = this.#chunks[this.#chunks.length - 1];
    assert(last === undefined || last[last.length - 1]!.key < item.key, 'appendSorted: keys not strictly ascending');
    if (last !== undefined && last.length < INDEX_CHUNK_ENTRIES_MAX >>> 1) last.push(item);
    else this.#chunks.push([item]);
    this.#size++;
  }

  get size(): number {
    return this.#size;
  }

  insert(item: T): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([item]);
      this.#size = 1;
      return;
    }
    const chunkPosition = this.#chunkFor(item.key);
    const chunk = this.#chunks[chunkPosition]!;
    const position = lowerBound(chunk, item.key);
    assert(chunk[position]?.key !== item.key, 'insert: key already present');
    chunk.splice(position, 0, item);
    this.#size++;
    if (chunk.length > INDEX_CHUNK_ENTRIES_MAX) this.#overflow(chunkPosition, position === chunk.length - 1);
  }

  /**
   * A chunk went past its bound. Split in halves, a chunk that keys keep
   * arriving at the end of (fresh keys in ascending order, each prefix's
   * run of them) would leave every chunk behind half full, for good: 16
   * bytes of chunk per key where 8 do. So an insert at a chunk's end moves
   * only that item on, to the front of the next chunk if it has room, else
   * into a new chunk, and the chunk it left stays full.
   */
  #overflow(chunkPosition: number, atEnd: boolean): void {
    const chunk = this.#chunks[chunkPosition]!;
    if (!atEnd) {
      this.#chunks.splice(chunkPosition + 1, 0, chunk.splice(chunk.length >>> 1));
      return;
    }
    const next = this.#chunks[chunkPosition + 1];
    const moved = chunk.pop()!;
    if (next !== undefined && next.length < INDEX_CHUNK_ENTRIES_MAX) next.unshift(moved);
    else this.#chunks.splice(chunkPosition + 1, 0, [moved]);
  }

  /** Puts `item` in the place of the item with its key (which must be held). */
  replace(item: T): void {
    const chunk = this.#chunks.length === 0 ? undefined : this.#chunks[this.#chunkFor(item.key)]!;
    const position = chunk === undefined ? 0 : lowerBound(chunk, item.key);
    assert(chunk !== undefined && chunk[position]?.key === item.key, 'replace: key not present');
    chunk[position] = item;
  }

  remove(key: ByteString): boolean {
    if (this.#chunks.length === 0) return false;
    const chunkPosition = this.#chunkFor(key);
    const chunk = this.#chunks[chunkPosition]!;
    const position = lowerBound(chunk, key);
    if (chunk[position]?.key !== key) return false;
    chunk.splice(position, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(chunkPosition, 1);
    return true;
  }

  /** Every item's chunk in key order, for a pass over the whole index without a call per item. Read-only: the arrays are the index's own. */
  chunks(): readonly (readonly T[])[] {
    return this.#chunks;
  }

  /** Calls `visit` on each item with start <= key < end (end null: no bound) in key order, until it returns false. */
  scan(start: ByteString, end: ByteString | null, visit: (item: T) => boolean): void {
    if (this.#chunks.length === 0) return;
    let chunkPosition = this.#chunkFor(start);
    let position = lowerBound(this.#chunks[chunkPosition]!, start);
    for (; chunkPosition < this.#chunks.length; chunkPosition++, position = 0) {
      const chunk = this.#chunks[chunkPosition]!;
      for (; position < chunk.length; position++) {
        const item = chunk[position]!;
        if (end !== null && item.key >= end) return;
        if (!visit(item)) return;
      }
    }
  }

  /** The last chunk whose first key is <= key, or the first chunk. */
  #chunkFor(key: ByteString): number {
    let low = 0;
    let high = this.#chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.#chunks[middle]![0]!.key <= key) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}

function lowerBound(chunk: readonly Keyed[], key: ByteString): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (chunk[middle]!.key < key) low = middle + 1;
    else high = middle;
  }
  return low;
}
