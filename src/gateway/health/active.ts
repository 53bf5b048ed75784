import { Client, request } from 'undici';
import type { Clock, Random, TimerHandle } from '../../resilience/index.js';
import type { HealthCheckConfig } from '../config.js';
import type { Endpoint } from '../endpoint.js';
import type { UpstreamTls } from '../upstream-tls.js';
import { grpcProbe } from './grpc-probe.js';

/** Probes one endpoint (over TLS with `tls`, the cluster's): true when it answered 2xx within the timeout. */
export type Probe = (endpoint: Endpoint, config: HealthCheckConfig, tls?: UpstreamTls) => Promise<boolean>;

/**
 * The real probe: `GET http://address/path`, or `https://` with the
 * cluster's TLS (the same verify, CA, SNI and client certificate as its
 * requests: an endpoint whose certificate the proxy would refuse is
 * unhealthy), reading at most the start of the body. A TLS probe opens its
 * own connection and closes it after, so a rotated CA or client certificate
 * is used from the next probe on.
 */
export const httpProbe: Probe = async (endpoint, config, tls) => {
  const origin = `${tls === undefined ? 'http' : 'https'}://${endpoint.address}`;
  const dispatcher = tls === undefined ? undefined : new Client(origin, { connect: { ...tls.options } as Record<string, unknown>, connectTimeout: config.timeoutMs, pipelining: 0 });
  try {
    const response = await request(`${origin}${config.path}`, {
      method: 'GET', signal: AbortSignal.timeout(config.timeoutMs), headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs,
      headers: { 'user-agent': 'keel-gateway-health' }, ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    await response.body.dump({ limit: 64 * 1024 });
    return response.statusCode >= 200 && response.statusCode < 300;
  } catch {
    return false;
  } finally {
    void dispatcher?.destroy().catch(() => {});
  }
};

/** The probe a cluster's `healthCheck.type` names: an HTTP GET, or gRPC's Health/Check (h2c clusters). */
export const defaultProbe: Probe = (endpoint, config, tls) => (config.type === 'grpc' ? grpcProbe(endpoint, config, tls) : httpProbe(endpoint, config, tls));

interface State {
  successes: number;
  failures: number;
  timer: TimerHandle | undefined;
}

export type HealthTransition = { readonly endpoint: Endpoint; readonly healthy: boolean };

/**
 * Active health checks for one cluster's endpoints: every `intervalMs` ±
 * `jitter` (so checks from many gateways do not synchronise), an endpoint
 * turns unhealthy after `unhealthyThreshold` failed probes in a row and
 * healthy after `healthyThreshold` good ones; a recovered endpoint starts
 * its slow start. The probe, clock and random source are injected.
 */
export class ActiveHealthChecker {
  readonly #states = new Map<Endpoint, State>();
  #stopped = false;

  constructor(
    readonly config: HealthCheckConfig,
    readonly endpoints: readonly Endpoint[],
    readonly clock: Clock,
    readonly random: Random,
    readonly probe: Probe = httpProbe,
    readonly onTransition: (transition: HealthTransition) => void = () => {},
  ) {}

  start(): void {
    for (const endpoint of this.endpoints) {
      const state: State = { successes: 0, failures: 0, timer: undefined };
      this.#states.set(endpoint, state);
      this.#schedule(endpoint, state, this.random.next() * this.config.intervalMs);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const state of this.#states.values()) if (state.timer !== undefined) this.clock.clearTimeout(state.timer);
    this.#states.clear();
  }

  #schedule(endpoint: Endpoint, state: State, delayMs: number): void {
    if (this.#stopped) return;
    state.timer = this.clock.setTimeout(() => void this.#check(endpoint, state), delayMs);
  }

  async #check(endpoint: Endpoint, state: State): Promise<void> {
    const ok = await this.probe(endpoint, this.config);
    if (this.#stopped) return;
    this.record(endpoint, state, ok);
    const jitter = (this.random.next() * 2 - 1) * this.config.jitter * this.config.intervalMs;
    this.#schedule(endpoint, state, Math.max(1, this.config.intervalMs + jitter));
  }

  /** Applies one probe result (public for tests that drive results by hand). */
  record(endpoint: Endpoint, state: { successes: number; failures: number }, ok: boolean): void {
    if (ok) {
      state.successes++;
      state.failures = 0;
      if (!endpoint.healthy && state.successes >= this.config.healthyThreshold) {
        endpoint.healthy = true;
        endpoint.eligibleSinceMs = this.clock.now();
        this.onTransition({ endpoint, healthy: true });
      }
      return;
    }
    state.failures++;
    state.successes = 0;
    if (endpoint.healthy && state.failures >= this.config.unhealthyThreshold) {
      endpoint.healthy = false;
      this.onTransition({ endpoint, healthy: false });
    }
  }
}
