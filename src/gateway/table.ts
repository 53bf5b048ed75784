import type { Clock, Random } from '../resilience/index.js';
import { ratioBudget, type RetryBudget } from '../resilience/index.js';
import { Admission } from './admission.js';
import { Cluster } from './cluster.js';
import type { GatewayConfig } from './config.js';
import { type HedgeObserver, RouteHedge } from './hedging.js';
import { type PermitSource, RateLimits } from './rate-limits.js';
import { Router } from './router.js';
import { upstreamKey } from './upstream.js';
import type { UpstreamTls } from './upstream-tls.js';

/**
 * Everything a request needs to be routed, built from one config and
 * swapped atomically on reload. Built from the previous table, it keeps
 * endpoint state (health, ejections, in-flight), unchanged rate-limit
 * buckets and concurrency limits.
 */
export class RoutingTable {
  readonly config: GatewayConfig;
  readonly router: Router;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly rateLimits: RateLimits;
  readonly admission: Admission;
  /** One retry budget per route. */
  readonly budgets: ReadonlyMap<string, RetryBudget>;
  /** Hedging of the routes that ask for it; kept from the previous table (latency samples, budget) while a route's hedge settings are unchanged. */
  readonly hedges: ReadonlyMap<string, RouteHedge>;

  /**
   * `permits`: where rate-limit permits come from instead of this process's limiters (see PermitSource).
   * `hedgeObserver`: where the routes' hedging reports (the gateway's metrics).
   */
  constructor(
    config: GatewayConfig, clock: Clock, random: Random, previous?: RoutingTable, upstreamTls: ReadonlyMap<string, UpstreamTls> = new Map(),
    options: { readonly permits?: PermitSource; readonly hedgeObserver?: HedgeObserver } = {},
  ) {
    this.config = config;
    this.router = new Router(config, random);
    const clusters = new Map<string, Cluster>();
    for (const [name, clusterConfig] of Object.entries(config.clusters)) {
      clusters.set(name, new Cluster(name, clusterConfig, random, clock.now(), previous?.clusters.get(name), upstreamTls.get(name)));
    }
    this.clusters = clusters;
    this.rateLimits = new RateLimits(config.rateLimits, clock, previous?.rateLimits, options.permits);
    this.admission = new Admission(config.clusters, clock, previous?.admission);
    this.budgets = new Map(config.routes.map((route) => [route.name, ratioBudget({ ratio: route.retry.budgetRatio, minRetriesPerSecond: route.retry.minRetriesPerSecond, clock })]));
    const hedges = new Map<string, RouteHedge>();
    for (const route of config.routes) {
      if (route.hedge === undefined) continue;
      const kept = previous?.hedges.get(route.name);
      hedges.set(route.name, kept?.sameAs(route.name, route.hedge) === true ? kept : new RouteHedge(route.name, route.hedge, clock, options.hedgeObserver));
    }
    this.hedges = hedges;
  }

  /** Every upstream address named by the config. */
  /** Every upstream the table can send to, as UpstreamPools keys it (protocol and address). */
  upstreams(): Set<string> {
    const set = new Set<string>();
    for (const cluster of this.clusters.values()) for (const endpoint of cluster.endpoints) set.add(upstreamKey(cluster.config.protocol, cluster.poolAddress(endpoint.address)));
    return set;
  }
}
