import type { Random } from '../resilience/index.js';
import { type Balancer, createBalancer, type PickContext } from './balancers/index.js';
import type { ClusterConfig } from './config.js';
import { Endpoint } from './endpoint.js';
import { PRIORITY_LEVELS_MAX } from './limits.js';
import { poolAddress, type UpstreamTls } from './upstream-tls.js';

/** Who is asking: the client's zone and the hash key, for zone-aware and hashing balancers. */
export interface PickRequest {
  readonly zone: string;
  readonly hashKey: string | undefined;
  /** Endpoints to avoid (tried already by this request's earlier attempts), if others exist. */
  readonly exclude?: ReadonlySet<Endpoint>;
}

/** The load each priority level takes, in percent (sums to 100 unless nothing is healthy). */
export function priorityLoads(healthyFractions: readonly number[], overprovisioningFactor: number): number[] {
  const health = healthyFractions.map((fraction) => Math.min(100, fraction * overprovisioningFactor * 100));
  const total = Math.min(100, health.reduce((sum, value) => sum + value, 0));
  if (total === 0) return health.map((_, level) => (level === 0 ? 100 : 0));
  // Envoy: each level takes its health up to what is left; the shortfall is spread in proportion (normalized).
  const loads: number[] = [];
  let left = 100;
  for (const value of health) {
    const load = Math.min(left, (value * 100) / total);
    loads.push(load);
    left -= load;
  }
  return loads;
}

/**
 * A named set of endpoints and how to choose among them: Envoy's order —
 * priority level by the levels' health (overprovisioning factor, failover
 * to the next level as the healthy share drops), panic mode inside a level
 * whose healthy share falls below the threshold (route to all), then zone
 * preference (the client's zone first, spilling in proportion to the local
 * zone's missing capacity), then the balancer with slow-start weights.
 */
export class Cluster {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly endpoints: readonly Endpoint[];
  readonly #balancer: Balancer;

  /** The key connection pools file `address` under (TLS identity included). */
  poolAddress(address: string): string {
    return poolAddress(address, this.upstreamTls);
  }

  readonly #random: Random;
  /** Per level, the endpoints in it (index = priority). */
  readonly #levels: readonly (readonly Endpoint[])[];

  /** `previous` endpoints with the same address are reused, so health, ejections and in-flight counts survive a reload. */
  /** TLS to the endpoints, loaded (undefined: cleartext). */
  readonly upstreamTls: UpstreamTls | undefined;

  constructor(name: string, config: ClusterConfig, random: Random, nowMs: number, previous?: Cluster, upstreamTls?: UpstreamTls) {
    this.name = name;
    this.upstreamTls = upstreamTls;
    this.config = config;
    this.#random = random;
    this.#balancer = createBalancer(config.balancer);
    this.endpoints = config.endpoints.map((endpointConfig) => {
      const old = previous?.endpoints.find((e) => e.address === endpointConfig.address);
      if (old && old.zone === endpointConfig.zone && old.weight === endpointConfig.weight && old.priority === endpointConfig.priority) {
        old.draining = endpointConfig.drain;
        return old;
      }
      // as Envoy, endpoints present when the cluster is created skip slow start; those added by a later reload ramp up
      const fresh = new Endpoint(endpointConfig, previous === undefined ? -Infinity : nowMs);
      if (old) {
        fresh.healthy = old.healthy;
        fresh.ejectedUntilMs = old.ejectedUntilMs;
        fresh.ejectionCount = old.ejectionCount;
      }
      return fresh;
    });
    const levels: Endpoint[][] = [];
    for (let level = 0; level < PRIORITY_LEVELS_MAX; level++) levels.push([]);
    for (const endpoint of this.endpoints) levels[endpoint.priority]?.push(endpoint);
    while (levels.length > 1 && levels[levels.length - 1]?.length === 0) levels.pop();
    this.#levels = levels;
  }

  /** Chooses an endpoint, or undefined when no level has any endpoint that is not draining. */
  pick(request: PickRequest, nowMs: number): Endpoint | undefined {
    const level = this.#chooseLevel(nowMs);
    if (level === undefined) return undefined;
    let candidates = this.#candidatesIn(level, nowMs);
    if (candidates.length === 0) return undefined;
    if (request.exclude && request.exclude.size > 0) {
      const others = candidates.filter((e) => !request.exclude?.has(e));
      if (others.length > 0) candidates = others;
    }
    candidates = this.#preferZone(candidates, request.zone, nowMs);
    const context: PickContext = {
      nowMs,
      random: this.#random,
      hashKey: request.hashKey,
      weightOf: (endpoint) => endpoint.effectiveWeight(nowMs, this.config.slowStartMs, this.config.slowStartMinWeightPercent),
    };
    return this.#balancer.pick(candidates, context);
  }

  /** The healthy share of each level (draining endpoints count as not healthy). */
  healthyFractions(nowMs: number): number[] {
    return this.#levels.map((level) => (level.length === 0 ? 0 : level.filter((e) => e.isAvailable(nowMs)).length / level.length));
  }

  #chooseLevel(nowMs: number): readonly Endpoint[] | undefined {
    const loads = priorityLoads(this.healthyFractions(nowMs), this.config.overprovisioningFactor);
    let draw = this.#random.next() * 100;
    for (let index = 0; index < loads.length; index++) {
      draw -= loads[index] as number;
      if (draw < 0) return this.#levels[index];
    }
    return this.#levels.find((level) => level.some((e) => !e.draining));
  }

  /** Available endpoints of a level; in panic (healthy share below the threshold) every endpoint not draining. */
  #candidatesIn(level: readonly Endpoint[], nowMs: number): Endpoint[] {
    const available = level.filter((e) => e.isAvailable(nowMs));
    const healthyPercent = level.length === 0 ? 0 : (available.length / level.length) * 100;
    if (healthyPercent >= this.config.panicThresholdPercent && available.length > 0) return available;
    return level.filter((e) => !e.draining);
  }

  /**
   * Zone-aware routing: keep traffic in the client's zone while that zone's
   * endpoints are healthy enough (their healthy share × overprovisioning
   * factor), and spill the shortfall to the other zones.
   */
  #preferZone(candidates: Endpoint[], zone: string, nowMs: number): Endpoint[] {
    if (!this.config.zoneAware || zone === '') return candidates;
    const local = candidates.filter((e) => e.zone === zone);
    if (local.length === 0 || local.length === candidates.length) return candidates;
    const zoneTotal = this.endpoints.filter((e) => e.zone === zone && !e.draining).length;
    const zoneHealthy = this.endpoints.filter((e) => e.zone === zone && e.isAvailable(nowMs)).length;
    const localShare = zoneTotal === 0 ? 0 : Math.min(1, (zoneHealthy / zoneTotal) * this.config.overprovisioningFactor);
    if (this.#random.next() < localShare) return local;
    return candidates.filter((e) => e.zone !== zone);
  }

  /** For the admin endpoint. */
  toJSON(nowMs: number): Record<string, unknown> {
    return {
      name: this.name, balancer: this.config.balancer, healthyFractions: this.healthyFractions(nowMs),
      endpoints: this.endpoints.map((e) => e.toJSON(nowMs)),
    };
  }
}
