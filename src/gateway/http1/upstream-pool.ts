import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { UpstreamTls } from '../upstream-tls.js';
import { FAST_IDLE_CONNECTIONS_MAX } from '../limits.js';
import { hostAndPort } from '../address.js';
import { DeadlineSweep } from './deadline-sweep.js';
import { UpstreamConnection } from './upstream-connection.js';

/** How long an unused upstream connection is kept open (shorter than node:http's 5 s server keep-alive, so we close first). */
const UPSTREAM_IDLE_MS = 4_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;

/** Hands a caller a connection (reused: it carried a request before and may have been closed by the upstream since). */
export type ConnectionCallback = (error: Error | undefined, connection: UpstreamConnection | undefined, reused: boolean) => void;

/**
 * How often the pools check their connections' deadlines (per-try, idle and connect timeouts): each fires up to
 * this late. Fine enough beside timeouts of hundreds of ms and more; 100 checks a second cost nothing to speak of.
 */
const DEADLINE_TICK_MS = 10;

/**
 * Keep-alive HTTP/1.1 connections to one upstream address, one request at a
 * time each (no pipelining), at most `maxConnections` open; callers beyond
 * that wait in a FIFO (its length is what the cluster's maxPendingRequests
 * bounds: checked before a request gets here). Idle connections are kept
 * LIFO (the warmest first) and closed after UPSTREAM_IDLE_MS.
 */
class AddressPool {
  readonly #host: string;
  readonly #port: number;
  readonly #idle: UpstreamConnection[] = [];
  readonly #waiters: ConnectionCallback[] = [];
  readonly #sweep: DeadlineSweep;
  #open = 0;
  #closed = false;

  readonly #tls: UpstreamTls | undefined;

  /** `address` may carry a `#tls:<id>` suffix (the pool key); `tls` says how to connect then. */
  constructor(key: string, public maxConnections: number, tls: UpstreamTls | undefined, sweep: DeadlineSweep) {
    this.#tls = tls;
    this.#sweep = sweep;
    const { host, port } = hostAndPort(key.split('#')[0]!);
    this.#host = host;
    this.#port = port;
  }

  get pending(): number {
    return this.#waiters.length;
  }

  acquire(callback: ConnectionCallback): void {
    const connection = this.#idle.pop();
    if (connection !== undefined) {
      connection.park();
      callback(undefined, connection, true);
      return;
    }
    if (this.#open < this.maxConnections && !this.#closed) {
      this.#connect(callback);
      return;
    }
    this.#waiters.push(callback);
  }

  #connect(callback: ConnectionCallback): void {
    this.#open++;
    const tls = this.#tls;
    // A TLSSocket reads and writes as the TCP socket does; it is ready at 'secureConnect' (verified unless verify is off).
    const socket: Socket = tls === undefined
      ? connect({ host: this.#host, port: this.#port, noDelay: true })
      : tlsConnect({ ...tls.options, host: this.#host, port: this.#port, ...(tls.options.servername === undefined && !/^[\d.]+$|:/.test(this.#host) ? { servername: this.#host } : {}) });
    if (tls !== undefined) socket.setNoDelay(true);
    const connection: UpstreamConnection = new UpstreamConnection(
      socket, this.#sweep, tls === undefined ? 'connect' : 'secureConnect', UPSTREAM_CONNECT_TIMEOUT_MS,
      (error) => callback(error, error === undefined ? connection : undefined, false),
      () => {
        this.#open--;
        const index = this.#idle.indexOf(connection);
        if (index !== -1) this.#idle.splice(index, 1);
        this.#serveWaiter();
      },
    );
  }

  /** Gives a connection back: kept when it can carry another request, destroyed otherwise. */
  release(connection: UpstreamConnection, reusable: boolean): void {
    if (!reusable || this.#closed || connection.closed) {
      connection.destroy();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      connection.park();
      waiter(undefined, connection, true);
      return;
    }
    if (this.#idle.length >= FAST_IDLE_CONNECTIONS_MAX) {
      connection.destroy();
      return;
    }
    connection.idle(UPSTREAM_IDLE_MS);
    this.#idle.push(connection);
  }

  /** A connection closed: a waiter may now open one. */
  #serveWaiter(): void {
    if (this.#waiters.length === 0 || this.#closed) return;
    const waiter = this.#waiters.shift()!;
    this.acquire(waiter);
  }

  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.destroy();
    for (const waiter of this.#waiters.splice(0)) waiter(new Error('upstream pool closed'), undefined, false);
  }
}

/** The fast path's upstream connections, one pool per address, kept across reloads (closed when no cluster names them). */
export class FastUpstreamPools {
  readonly #pools = new Map<string, AddressPool>();
  /** Every pool's connections' deadlines, on one timer. */
  readonly #sweep = new DeadlineSweep(DEADLINE_TICK_MS);

  /** `address` is the pool key (Cluster.poolAddress); `tls` is used when the pool is created. */
  acquire(address: string, maxConnections: number, callback: ConnectionCallback, tls?: UpstreamTls): void {
    let pool = this.#pools.get(address);
    if (pool === undefined) {
      pool = new AddressPool(address, maxConnections, tls, this.#sweep);
      this.#pools.set(address, pool);
    }
    pool.maxConnections = maxConnections;
    pool.acquire(callback);
  }

  release(address: string, connection: UpstreamConnection, reusable: boolean): void {
    const pool = this.#pools.get(address);
    if (pool === undefined) connection.destroy();
    else pool.release(connection, reusable);
  }

  pending(address: string): number {
    return this.#pools.get(address)?.pending ?? 0;
  }

  /** Closes the idle connections of addresses not in `keep` (in-flight ones finish and are then closed). */
  retain(keep: ReadonlySet<string>): void {
    for (const [address, pool] of this.#pools) {
      if (keep.has(`http1 ${address}`)) continue;
      this.#pools.delete(address);
      pool.close();
    }
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
    // In-flight connections finish and leave the sweep as they close; it stops then.
  }
}
