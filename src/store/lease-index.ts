import type { ByteString } from './bytes.js';
import type { KvRecord } from './record.js';
import type { Lease } from './types.js';

interface LeaseEntry {
  readonly id: bigint;
  readonly ttlSeconds: number;
  readonly keys: Set<ByteString>;
}

/**
 * Granted leases and the keys attached to each. A key is attached to the
 * lease of its newest record when that record is a put; the store keeps this
 * true on every write and undo by calling `relink`.
 */
export class LeaseIndex {
  #leases = new Map<bigint, LeaseEntry>();

  get size(): number {
    return this.#leases.size;
  }

  has(id: bigint): boolean {
    return this.#leases.has(id);
  }

  grant(id: bigint, ttlSeconds: number): void {
    this.#leases.set(id, { id, ttlSeconds, keys: new Set() });
  }

  /** Removes the lease; its keys must already be deleted. */
  remove(id: bigint): void {
    this.#leases.delete(id);
  }

  /** The attached keys, in byte order (the order a revoke deletes them, as etcd). */
  keysOf(id: bigint): ByteString[] {
    return this.keysUnordered(id).sort();
  }

  /**
   * The attached keys in no set order (the order they were attached in,
   * which differs between a member that applied the writes and one that
   * restored them): for a caller that sorts them itself, in steps.
   */
  keysUnordered(id: bigint): ByteString[] {
    const entry = this.#leases.get(id);
    return entry === undefined ? [] : [...entry.keys];
  }

  /** Leases by ascending id (a deterministic order for snapshots). */
  list(): Lease[] {
    const leases = [...this.#leases.values()].map(({ id, ttlSeconds }) => ({ id, ttlSeconds }));
    return leases.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The key's newest record changed from `before` to `after`: move its attachment. */
  relink(key: ByteString, before: KvRecord | undefined, after: KvRecord | undefined): void {
    if (before !== undefined && !before.tombstone && before.lease !== 0n) this.#leases.get(before.lease)?.keys.delete(key);
    if (after !== undefined && !after.tombstone && after.lease !== 0n) this.#leases.get(after.lease)?.keys.add(key);
  }
}
