import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { UpstreamTls } from '../upstream-tls.js';
import { FAST_IDLE_CONNECTIONS_MAX } from '../limits.js';
import { hostAndPort } from '../address.js';

/** How long an unused upstream connection is kept open (shorter than node:http's 5 s server keep-alive, so we close first). */
const UPSTREAM_IDLE_MS = 4_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;

export type SocketCallback = (error: Error | undefined, socket: Socket | undefined, reused: boolean) => void;

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
  readonly #idle: Socket[] = [];
  readonly #waiters: SocketCallback[] = [];
  #open = 0;
  #closed = false;

  readonly #tls: UpstreamTls | undefined;

  /** `address` may carry a `#tls:<id>` suffix (the pool key); `tls` says how to connect then. */
  constructor(key: string, public maxConnections: number, tls: UpstreamTls | undefined) {
    this.#tls = tls;
    const { host, port } = hostAndPort(key.split('#')[0]!);
    this.#host = host;
    this.#port = port;
  }

  get pending(): number {
    return this.#waiters.length;
  }

  acquire(callback: SocketCallback): void {
    const socket = this.#idle.pop();
    if (socket !== undefined) {
      socket.setTimeout(0);
      callback(undefined, socket, true);
      return;
    }
    if (this.#open < this.maxConnections && !this.#closed) {
      this.#connect(callback);
      return;
    }
    this.#waiters.push(callback);
  }

  #connect(callback: SocketCallback): void {
    this.#open++;
    const tls = this.#tls;
    // A TLSSocket reads and writes as the TCP socket does; it is ready at 'secureConnect' (verified unless verify is off).
    const socket: Socket = tls === undefined
      ? connect({ host: this.#host, port: this.#port, noDelay: true })
      : tlsConnect({ ...tls.options, host: this.#host, port: this.#port, ...(tls.options.servername === undefined && !/^[\d.]+$|:/.test(this.#host) ? { servername: this.#host } : {}) });
    if (tls !== undefined) socket.setNoDelay(true);
    let settled = false;
    const onError = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      callback(error, undefined, false);
    };
    const onConnectTimeout = () => onError(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    socket.setTimeout(UPSTREAM_CONNECT_TIMEOUT_MS);
    socket.once('timeout', onConnectTimeout);
    socket.once('error', onError);
    socket.once('close', () => {
      this.#open--;
      const index = this.#idle.indexOf(socket);
      if (index !== -1) this.#idle.splice(index, 1);
      this.#serveWaiter();
    });
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      settled = true;
      socket.off('error', onError);
      // Errors after connecting reach whoever holds the socket; this keeps an idle socket's error from crashing the process.
      socket.on('error', () => {});
      socket.off('timeout', onConnectTimeout);
      socket.setTimeout(0);
      // An idle socket timing out is closed; one in use has its holder's own 'timeout' listener (the per-try timeout).
      socket.on('timeout', () => {
        if (this.#idle.includes(socket)) socket.destroy();
      });
      callback(undefined, socket, false);
    });
  }

  /** Gives a socket back: kept when it can carry another request, destroyed otherwise. */
  release(socket: Socket, reusable: boolean): void {
    if (!reusable || this.#closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter(undefined, socket, true);
      return;
    }
    if (this.#idle.length >= FAST_IDLE_CONNECTIONS_MAX) {
      socket.destroy();
      return;
    }
    socket.setTimeout(UPSTREAM_IDLE_MS);
    this.#idle.push(socket);
  }

  /** A connection closed: a waiter may now open one. */
  #serveWaiter(): void {
    if (this.#waiters.length === 0 || this.#closed) return;
    const waiter = this.#waiters.shift()!;
    this.acquire(waiter);
  }

  close(): void {
    this.#closed = true;
    for (const socket of this.#idle.splice(0)) socket.destroy();
    for (const waiter of this.#waiters.splice(0)) waiter(new Error('upstream pool closed'), undefined, false);
  }
}

/** The fast path's upstream connections, one pool per address, kept across reloads (closed when no cluster names them). */
export class FastUpstreamPools {
  readonly #pools = new Map<string, AddressPool>();

  /** `address` is the pool key (Cluster.poolAddress); `tls` is used when the pool is created. */
  acquire(address: string, maxConnections: number, callback: SocketCallback, tls?: UpstreamTls): void {
    let pool = this.#pools.get(address);
    if (pool === undefined) {
      pool = new AddressPool(address, maxConnections, tls);
      this.#pools.set(address, pool);
    }
    pool.maxConnections = maxConnections;
    pool.acquire(callback);
  }

  release(address: string, socket: Socket, reusable: boolean): void {
    const pool = this.#pools.get(address);
    if (pool === undefined) socket.destroy();
    else pool.release(socket, reusable);
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
  }
}
