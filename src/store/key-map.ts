import type { ByteString } from './bytes.js';

/** 2^SHARD_BITS Maps: at 8 bits a store of 4M keys grows each in steps of about 16K entries. */
const SHARD_BITS = 8;
const SHARD_MASK = (1 << SHARD_BITS) - 1;
/** Keys up to this length are hashed whole; longer ones by their head, their tail and their length. */
const WHOLE_KEY_CHARS_MAX = 64;
const HEAD_CHARS = 16;
const TAIL_CHARS = 48;

/**
 * A Map from key to value split over 256 Maps by a hash of the key.
 *
 * Why: a V8 Map grows by allocating a table twice its size and rehashing
 * every entry into it, in one synchronous step. The store's key index holds
 * every key, and at a million keys one such step took 75 ms, at two million
 * 155 ms (on this machine, a process of its own), so a member filling up
 * stalled its event loop for the growth of one Map, all members at the same
 * revision at once (bench/scale's fill B found a 420-500 ms stall there in a
 * CPU profile). Split 256 ways, each Map grows 1/256th as much at a time
 * and at different moments.
 *
 * The hash is FNV-1a over the key's characters (bytes; ByteStrings are
 * Latin-1). Keys longer than WHOLE_KEY_CHARS_MAX are hashed by their first
 * HEAD_CHARS, their last TAIL_CHARS and their length, so a lookup costs a
 * bounded loop whatever the key's size; keys that differ only in the middle
 * share a shard, which costs only what one big Map costs.
 */
export class KeyMap<V> {
  readonly #shards: Map<ByteString, V>[];
  #size = 0;

  constructor() {
    this.#shards = Array.from({ length: 1 << SHARD_BITS }, () => new Map<ByteString, V>());
  }

  get size(): number {
    return this.#size;
  }

  get(key: ByteString): V | undefined {
    return this.#shards[shardOf(key)]!.get(key);
  }

  has(key: ByteString): boolean {
    return this.#shards[shardOf(key)]!.has(key);
  }

  set(key: ByteString, value: V): this {
    const shard = this.#shards[shardOf(key)]!;
    const before = shard.size;
    shard.set(key, value);
    this.#size += shard.size - before;
    return this;
  }

  delete(key: ByteString): boolean {
    const deleted = this.#shards[shardOf(key)]!.delete(key);
    if (deleted) this.#size--;
    return deleted;
  }
}

/** The shard of `key`, in [0, 2^SHARD_BITS). Exported for the tests. */
export function shardOf(key: string): number {
  const length = key.length;
  let hash = 0x811c9dc5 ^ length;
  if (length <= WHOLE_KEY_CHARS_MAX) {
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < HEAD_CHARS; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    for (let i = length - TAIL_CHARS; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  }
  // Fold the high bits in: FNV's low bits alone mix poorly.
  return (hash ^ (hash >>> 16) ^ (hash >>> 24)) & SHARD_MASK;
}
