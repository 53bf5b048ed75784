import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { Cluster } from './cluster.js';
import type { ClusterConfig } from './config.js';
import { H2Upstream } from './h2-upstream.js';
import { type RequestTrailers, sendWithTrailers } from './trailers.js';

/** How long an unused upstream connection is kept open. */
const UPSTREAM_IDLE_MS = 4_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;

/** Pools are per protocol and address: one backend may be reached both ways by different clusters. */
export function upstreamKey(protocol: ClusterConfig['protocol'], address: string): string {
  return `${protocol} ${address}`;
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable | null;
  readonly signal: AbortSignal;
  /** Time to the response head, then the longest silence between body chunks. */
  readonly timeoutMs: number;
  /** Trailers to send after the body (HTTP/1.1 clusters: the request then goes through node:http, see trailers.ts). */
  readonly trailers?: RequestTrailers | undefined;
}

/** A response head from either protocol; the body streams. */
export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable;
  /** HTTP/2 only: the head ended the stream (gRPC's "Trailers-Only" answer carries its status in it). */
  readonly trailersOnly: boolean;
  /** Reads and drops the body (an HTTP/1.1 connection can then be reused). */
  discard(): Promise<void>;
  /** The trailers (empty when none came), once the body has ended. */
  trailers(): Promise<Record<string, string | string[] | undefined>>;
}

/** A response read by node:http's client (requests undici cannot send: trailers, upgrades) as an UpstreamResponse. */
export function fromIncomingMessage(answer: IncomingMessage): UpstreamResponse {
  const ended = new Promise<void>((done) => {
    answer.once('end', done);
    answer.once('close', done);
  });
  return {
    statusCode: answer.statusCode ?? 502,
    headers: answer.headers,
    body: answer,
    trailersOnly: false,
    discard: async () => {
      answer.resume();
      await ended;
    },
    trailers: async () => {
      await ended;
      return answer.trailers;
    },
  };
}

/**
 * Connection pools, one per upstream (protocol and address), shared by
 * every cluster that names it and kept across reloads. HTTP/1.1 goes
 * through undici pools; h2c (cleartext or TLS) through node:http2 sessions (H2Upstream), whose
 * requests are streams multiplexed over at most maxConnections connections.
 * A pool no longer named is closed gracefully: queued and in-flight
 * requests finish first (endpoint draining).
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool | H2Upstream>();

  async send(address: string, cluster: Pick<Cluster, 'config' | 'upstreamTls' | 'poolAddress'>, request: UpstreamRequest): Promise<UpstreamResponse> {
    const pool = this.#get(address, cluster);
    if (pool instanceof H2Upstream) {
      const response = await pool.request(request);
      return {
        statusCode: response.statusCode,
        headers: response.headers,
        body: response.body,
        trailersOnly: response.endedWithHead,
        discard: async () => {
          response.body.resume();
          await response.trailers;
        },
        trailers: () => response.trailers,
      };
    }
    if (request.trailers !== undefined) return sendWithTrailers(address, cluster.upstreamTls, request, request.trailers);
    const data = await pool.request({
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
      bodyTimeout: request.timeoutMs,
      headersTimeout: request.timeoutMs,
    });
    return {
      statusCode: data.statusCode,
      headers: data.headers,
      body: data.body,
      trailersOnly: false,
      discard: () => data.body.dump().then(() => {}),
      // undici fills `trailers` before it ends the body.
      trailers: () => Promise.resolve(data.trailers),
    };
  }

  #get(address: string, target: Pick<Cluster, 'config' | 'upstreamTls' | 'poolAddress'>): Pool | H2Upstream {
    const cluster = target.config;
    const upstreamTls = target.upstreamTls;
    const key = upstreamKey(cluster.protocol, target.poolAddress(address));
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = cluster.protocol === 'h2c'
        ? new H2Upstream(address, { maxSessions: cluster.circuitBreakers.maxConnections, idleTimeoutMs: UPSTREAM_IDLE_MS, connectTimeoutMs: UPSTREAM_CONNECT_TIMEOUT_MS }, upstreamTls)
        : new Pool(`${upstreamTls ? 'https' : 'http'}://${address}`, {
          connections: cluster.circuitBreakers.maxConnections,
          pipelining: 1,
          keepAliveTimeout: UPSTREAM_IDLE_MS,
          connectTimeout: UPSTREAM_CONNECT_TIMEOUT_MS,
          ...(upstreamTls ? { connect: { ...upstreamTls.options } as Record<string, unknown> } : {}),
        });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Requests waiting for a connection to `address` over `protocol`. */
  pending(protocol: ClusterConfig['protocol'], address: string): number {
    const pool = this.#pools.get(upstreamKey(protocol, address));
    if (pool === undefined) return 0;
    return pool instanceof H2Upstream ? pool.pending : pool.stats.pending;
  }

  /** Closes pools of upstreams not in `keep` (gracefully). */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (keep.has(key)) continue;
      this.#pools.delete(key);
      void pool.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => (pool instanceof H2Upstream ? pool.destroy() : pool.destroy().catch(() => {}))));
  }
}
