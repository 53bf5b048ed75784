import { Pool } from 'undici';
import type { ClusterConfig } from './config.js';

/**
 * undici connection pools, one per upstream address, shared by every
 * cluster that names the address and kept across reloads. A pool no longer
 * named is closed gracefully: undici's `close()` lets queued and in-flight
 * requests finish first (endpoint draining).
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();

  get(address: string, cluster: ClusterConfig): Pool {
    let pool = this.#pools.get(address);
    if (!pool) {
      pool = new Pool(`http://${address}`, {
        connections: cluster.circuitBreakers.maxConnections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        connectTimeout: 5_000,
      });
      this.#pools.set(address, pool);
    }
    return pool;
  }

  /** Requests waiting for a connection to `address`. */
  pending(address: string): number {
    return this.#pools.get(address)?.stats.pending ?? 0;
  }

  /** Closes pools of addresses not in `keep` (gracefully). */
  retain(keep: ReadonlySet<string>): void {
    for (const [address, pool] of this.#pools) {
      if (keep.has(address)) continue;
      this.#pools.delete(address);
      void pool.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => {})));
  }
}
