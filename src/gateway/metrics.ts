import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RequestTallies } from './request-tallies.js';

const DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The gateway's Prometheus metrics, one Registry per gateway instance (two
 * gateways in one process, as in tests, do not collide). Label values are
 * bounded: route and cluster names come from the config (bounded by
 * `ROUTES_MAX` and `CLUSTERS_MAX`), reasons from the errors table.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Count requests with `countRequest`: its tallies reach this counter when the registry is read. */
  readonly requests: Counter<'route' | 'cluster' | 'code_class'> = new Counter({
    name: 'keel_gateway_requests_total', help: 'Requests answered, by route, cluster and status class', labelNames: ['route', 'cluster', 'code_class'] as const, registers: [this.registry],
    collect: () => this.#tallies.flushRequests(),
  });
  /** Observe with `observeDuration` on the request path (tallied, handed over when read); `observe` still works. */
  readonly duration: Histogram<'route' | 'cluster'> = new Histogram({
    name: 'keel_gateway_request_duration_seconds', help: 'Time from request to response head, by route and cluster', labelNames: ['route', 'cluster'] as const,
    buckets: DURATION_BUCKETS_SECONDS, registers: [this.registry], collect: () => this.#tallies.flushDurations(),
  });
  readonly #tallies = new RequestTallies(this.requests, this.duration, DURATION_BUCKETS_SECONDS);

  /** One answered request, by the HTTP status it was answered (or refused) with. */
  countRequest(route: string, cluster: string, status: number): void {
    this.#tallies.countRequest(route, cluster, status);
  }

  /** One request's time to its response head, in seconds. */
  observeDuration(route: string, cluster: string, seconds: number): void {
    this.#tallies.observeDuration(route, cluster, seconds);
  }

  readonly hedges = new Counter({
    name: 'keel_gateway_hedges_total', help: 'Hedged attempts by route and outcome: won (answered first), lost (cancelled or failed, another answered), budget_exhausted (due, refused by the hedge budget)',
    labelNames: ['route', 'outcome'] as const, registers: [this.registry],
  });
  readonly hedgeDelay = new Gauge({
    name: 'keel_gateway_hedge_delay_seconds', help: 'The delay after which a route sends a hedge (its latency percentile, floored, or fixed)', labelNames: ['route'] as const, registers: [this.registry],
  });
  readonly retries = new Counter({ name: 'keel_gateway_upstream_retries_total', help: 'Retries sent upstream', labelNames: ['cluster'] as const, registers: [this.registry] });
  readonly ejections = new Counter({
    name: 'keel_gateway_outlier_ejections_total', help: 'Endpoints ejected by outlier detection', labelNames: ['cluster', 'cause'] as const, registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'keel_gateway_rejections_total', help: 'Requests the gateway refused, by reason and criticality', labelNames: ['reason', 'criticality'] as const, registers: [this.registry],
  });
  readonly rateLimited = new Counter({ name: 'keel_gateway_rate_limited_total', help: 'Requests refused by a rate-limit rule', labelNames: ['rule'] as const, registers: [this.registry] });
  readonly connections = new Gauge({ name: 'keel_gateway_active_connections', help: 'Client connections open', registers: [this.registry] });
  readonly upgradedConnections = new Gauge({
    name: 'keel_gateway_upgraded_connections', help: 'Upgraded connections (WebSocket and other 101 Switching Protocols) open, spliced to an upstream', registers: [this.registry],
  });
  readonly upgrades = new Counter({
    name: 'keel_gateway_upgrades_total', help: 'Upgrade requests an upstream answered, by result: switched (101, spliced) or declined (any other answer, relayed)',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'keel_gateway_connections_refused_total', help: 'Client connections closed at once for exceeding a limit', labelNames: ['limit'] as const, registers: [this.registry],
  });
  readonly healthChanges = new Counter({
    name: 'keel_gateway_health_transitions_total', help: 'Active health-check transitions', labelNames: ['cluster', 'to'] as const, registers: [this.registry],
  });
  readonly tlsHandshakeErrors = new Counter({
    name: 'keel_gateway_tls_handshake_errors_total', help: 'TLS handshakes on listeners that failed, by reason: client_certificate (missing or untrusted), timeout, other (bad hello, no shared version or protocol)',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly reloads = new Counter({ name: 'keel_gateway_config_reloads_total', help: 'Config reloads', labelNames: ['result'] as const, registers: [this.registry] });
}
