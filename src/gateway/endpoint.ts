import type { EndpointConfig } from './config.js';

/**
 * One upstream address and everything the gateway knows about it: health
 * (active checks), ejection (outlier detection), draining, requests in
 * flight, a peak-EWMA latency, and when it joined or recovered (slow start).
 * The connection pool lives beside it (see `UpstreamPool`), so this object
 * stays pure state that balancers and tests can drive with a fake clock.
 */
export class Endpoint {
  readonly address: string;
  readonly zone: string;
  readonly weight: number;
  readonly priority: number;
  /** Set by active health checks; true until a check says otherwise. */
  healthy = true;
  /** Until when outlier detection keeps it out (0: not ejected). */
  ejectedUntilMs = 0;
  /** How many times it has been ejected (ejection time grows with it). */
  ejectionCount = 0;
  /** No new requests; in-flight ones finish. */
  draining: boolean;
  inflight = 0;
  /** When it last became eligible (joined, recovered, un-ejected): slow start counts from here (-Infinity: never in slow start). */
  eligibleSinceMs: number;
  /** Peak EWMA of latency in ms (see balancers/peak-ewma.ts); 0 until the first sample. */
  ewmaMs = 0;
  ewmaUpdatedMs = 0;

  constructor(config: EndpointConfig, nowMs: number) {
    this.address = config.address;
    this.zone = config.zone;
    this.weight = config.weight;
    this.priority = config.priority;
    this.draining = config.drain;
    this.eligibleSinceMs = nowMs;
  }

  /** Ejected by outlier detection at `nowMs`. */
  isEjected(nowMs: number): boolean {
    return nowMs < this.ejectedUntilMs;
  }

  /** May take new requests: healthy, not ejected, not draining. */
  isAvailable(nowMs: number): boolean {
    return this.healthy && !this.draining && !this.isEjected(nowMs);
  }

  /**
   * The weight balancers use: during slow start it ramps linearly from
   * `minPercent` of the weight to all of it over `windowMs` (Envoy's slow
   * start with aggression 1).
   */
  effectiveWeight(nowMs: number, windowMs: number, minPercent: number): number {
    if (windowMs <= 0) return this.weight;
    // an ejection that has run out counts from its end even before outlier detection's next sweep notices it
    const elapsed = nowMs - Math.max(this.eligibleSinceMs, this.ejectedUntilMs);
    if (elapsed >= windowMs) return this.weight;
    const fraction = Math.max(minPercent / 100, Math.max(0, elapsed) / windowMs);
    return this.weight * fraction;
  }

  /** For the admin endpoint. */
  toJSON(nowMs: number): Record<string, unknown> {
    return {
      address: this.address, zone: this.zone, weight: this.weight, priority: this.priority, healthy: this.healthy,
      ejected: this.isEjected(nowMs), ejectionCount: this.ejectionCount, draining: this.draining, inflight: this.inflight,
      ewmaMs: Math.round(this.ewmaMs * 100) / 100,
    };
  }
}
