import { ConfigError } from './errors.js';
import { KEYED_ENTRIES_MAX, LRU_EVICTION_SCAN_MAX } from './limits.js';

/**
 * A map bounded by entry count that evicts the least recently used entry
 * (JavaScript Maps iterate in insertion order; a touched entry is moved to
 * the end). `canEvict` lets owners prefer entries that lose nothing when
 * dropped (an idle pool, a refilled bucket): the oldest `LRU_EVICTION_SCAN_MAX`
 * entries are scanned for one. If none qualifies, `force` evicts the oldest
 * anyway; otherwise `get` returns undefined and the map does not grow.
 */
export class BoundedLru<V> {
  readonly maxEntries: number;
  readonly #entries = new Map<string, V>();
  readonly #canEvict: (value: V) => boolean;
  readonly #force: boolean;
  #evictions = 0;
  /** The key last set, so last in iteration order: a hit on it needs no move (one hot key, as one client IP, is the common case). */
  #newest: string | undefined;

  constructor(maxEntries: number, canEvict: (value: V) => boolean = () => true, force = false) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > KEYED_ENTRIES_MAX) {
      throw new ConfigError(`maxKeys must be an integer in 1..${KEYED_ENTRIES_MAX}`);
    }
    this.maxEntries = maxEntries;
    this.#canEvict = canEvict;
    this.#force = force;
  }

  get size(): number {
    return this.#entries.size;
  }

  get evictions(): number {
    return this.#evictions;
  }

  /** The entry for `key`, created if absent; undefined when full of entries that cannot be evicted. */
  get(key: string, create: () => V): V | undefined {
    const existing = this.#entries.get(key);
    if (existing !== undefined) {
      if (key !== this.#newest) {
        this.#entries.delete(key);
        this.#entries.set(key, existing);
        this.#newest = key;
      }
      return existing;
    }
    if (this.#entries.size >= this.maxEntries && !this.#evictOne()) return undefined;
    const created = create();
    this.#entries.set(key, created);
    this.#newest = key;
    return created;
  }

  /** The entry without touching its recency. */
  peek(key: string): V | undefined {
    return this.#entries.get(key);
  }

  delete(key: string): boolean {
    if (key === this.#newest) this.#newest = undefined;
    return this.#entries.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  #evictOne(): boolean {
    let scanned = 0;
    let oldest: string | undefined;
    for (const [key, value] of this.#entries) {
      oldest ??= key;
      if (this.#canEvict(value)) return this.#evict(key);
      if (++scanned >= LRU_EVICTION_SCAN_MAX) break;
    }
    return this.#force && oldest !== undefined && this.#evict(oldest);
  }

  #evict(key: string): boolean {
    this.delete(key);
    this.#evictions++;
    return true;
  }
}
