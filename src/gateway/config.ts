import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CRITICALITY_LEVELS, type Criticality } from '../resilience/index.js';
import { GatewayConfigError } from './errors.js';
import * as limits from './limits.js';

/**
 * The gateway's YAML config, validated with zod. Unknown keys are errors
 * (a typo must not silently become a default), and every error names its
 * field (`clusters.api.endpoints.1.weight: ...`). Durations are in ms.
 */

const criticality = z.enum(CRITICALITY_LEVELS as unknown as [Criticality, ...Criticality[]]);
const positiveInt = z.number().int().positive();
const durationMs = z.number().int().positive().max(3_600_000 * 24);

const tlsCertificate = z.strictObject({
  /** Host names (SNI) this certificate serves; `*.example.com` matches one label. None: the default certificate. */
  serverNames: z.array(z.string().min(1).max(253).transform((name) => name.toLowerCase())).max(limits.TLS_CERTIFICATES_PER_LISTENER_MAX).default([]),
  /** PEM certificate (chain) and private key; read at start and on every reload. */
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
});

/** Client certificates (mTLS from clients), as nginx's ssl_client_certificate and ssl_verify_client on|optional. */
const clientCertificate = z.strictObject({
  /** PEM CA bundle client certificates must chain to; read at start and on every reload. */
  caFile: z.string().min(1),
  /**
   * true: a client without a certificate this CA trusts is refused at the handshake.
   * false: such clients are served, with no identity forwarded (only verified ones get x-forwarded-client-cert).
   */
  required: z.boolean().default(true),
});

/** TLS termination on a listener; ALPN follows `protocol` (auto: h2 and http/1.1; http1: http/1.1; h2c: h2). */
const listenerTls = z.strictObject({
  /** The first certificate without serverNames (else the first) answers clients that send an unknown name or none. */
  certificates: z.array(tlsCertificate).min(1).max(limits.TLS_CERTIFICATES_PER_LISTENER_MAX),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** Ask clients for a certificate (absent: none is asked for). */
  clientCertificate: clientCertificate.optional(),
});

const listener = z.strictObject({
  name: z.string().min(1).default('http'),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535),
  /**
   * http1: HTTP/1.1 with keep-alive. h2c: HTTP/2 over cleartext with prior
   * knowledge (gRPC-style clients, multiplexing). auto: both on one port,
   * told apart by the HTTP/2 connection preface.
   */
  protocol: z.enum(['http1', 'h2c', 'auto']).default('http1'),
  /**
   * http1 listeners only. fast: raw-socket HTTP/1.1 (src/gateway/http1), handing Upgrade,
   * Expect, HTTP/1.0 and h2c-cluster configs to node:http. node: node:http and undici for everything.
   */
  engine: z.enum(['fast', 'node']).default('fast'),
  /** Terminate TLS here (see docs/gateway.md, "TLS"); cleartext when absent. */
  tls: listenerTls.optional(),
});

const headerMatch = z.strictObject({
  name: z.string().min(1).transform((name) => name.toLowerCase()),
  exact: z.string().optional(),
  regex: z.string().optional(),
  present: z.boolean().optional(),
});

const routeMatch = z.strictObject({
  host: z.string().optional(),
  prefix: z.string().startsWith('/').optional(),
  regex: z.string().optional(),
  methods: z.array(z.string().transform((method) => method.toUpperCase())).optional(),
  headers: z.array(headerMatch).max(32).optional(),
  /** Client addresses in CIDR notation (IPv4 or IPv6). */
  sourceCidrs: z.array(z.string()).max(256).optional(),
});

const weightedCluster = z.strictObject({ cluster: z.string().min(1), weight: z.number().int().min(0).max(10_000) });

const retryPolicy = z.strictObject({
  maxAttempts: z.number().int().min(1).max(limits.RETRIES_MAX + 1).default(2),
  /** Retry statuses beyond connection failures (default 502, 503, 504 from an endpoint). */
  onStatuses: z.array(z.number().int().min(400).max(599)).default([502, 503, 504]),
  /** Retries allowed per request over 10 s (SRE ratio budget). */
  budgetRatio: z.number().min(0).max(1).default(0.2),
  minRetriesPerSecond: z.number().min(0).max(1_000).default(10),
});

/** When to send a hedge: after a percentile of the route's recent attempt latencies, or after a fixed delay. */
const hedgeDelay = z.strictObject({
  /** Percentile of recent winning-attempt latencies, in (0, 100) exclusive ("The Tail at Scale" uses 95). */
  percentile: z.number().gt(0).lt(100).optional(),
  /** A fixed delay instead. */
  fixedMs: z.number().int().min(0).max(limits.HEDGE_DELAY_MS_MAX).optional(),
}).refine((d) => (d.percentile === undefined) !== (d.fixedMs === undefined), { message: 'give exactly one of percentile or fixedMs' });

/**
 * Hedged requests (Envoy's hedge_policy, Finagle's backup requests): when an
 * idempotent request has not had a response head after the delay, another
 * attempt goes out (to another endpoint when there is one) without
 * cancelling the first; the first response head wins and the others are
 * cancelled. See docs/gateway.md, "Hedging".
 */
const hedgePolicy = z.strictObject({
  delay: hedgeDelay.default({ percentile: 95 }),
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(2).max(limits.HEDGE_ATTEMPTS_MAX).default(2),
  /** Hedges may add at most this percentage to the route's hedgeable requests over a 10 s window. */
  budgetPercent: z.number().min(0).max(100).default(10),
  /** Hedges always allowed per second of window, so a quiet route can still hedge (the budget's floor). */
  minHedgesPerSecond: z.number().min(0).max(1_000).default(0.1),
  /** For a percentile delay: never hedge sooner than this. */
  minDelayMs: z.number().int().min(0).max(limits.HEDGE_DELAY_MS_MAX).default(5),
  /** For a percentile delay: the delay used until `minSamples` latencies are in. */
  initialDelayMs: z.number().int().min(0).max(limits.HEDGE_DELAY_MS_MAX).default(100),
  minSamples: z.number().int().min(1).max(limits.HEDGE_SAMPLES_MAX).default(20),
  /** Latencies kept (the most recent answered requests): the window the percentile is taken over. */
  sampleSize: z.number().int().min(1).max(limits.HEDGE_SAMPLES_MAX).default(1_000),
  /** Also hedge these methods (idempotent by RFC 9110, but only the route knows whether its backend makes them so). GET, HEAD and OPTIONS always are. */
  extraMethods: z.array(z.enum(['PUT', 'DELETE'])).max(2).default([]),
  /** Requests with a Content-Length body up to this size are buffered and hedged; larger or chunked bodies are not hedged. */
  maxBodyBytes: z.number().int().min(0).max(limits.HEDGE_BODY_BYTES_MAX).default(64 * 1024),
});

const route = z.strictObject({
  name: z.string().min(1),
  match: routeMatch.default({}),
  cluster: z.string().min(1).optional(),
  weightedClusters: z.array(weightedCluster).min(1).max(16).optional(),
  /** Per-try timeout (default 15 s). */
  perTryTimeoutMs: durationMs.default(15_000),
  /** The deadline given to requests that arrive without one (default 30 s). */
  timeoutMs: durationMs.default(30_000),
  retry: retryPolicy.default({ maxAttempts: 2, onStatuses: [502, 503, 504], budgetRatio: 0.2, minRetriesPerSecond: 10 }),
  criticality: criticality.default('CRITICAL'),
  /** Permits one request takes from rate limits (request cost weight). */
  cost: z.number().int().min(1).max(1_000_000).default(1),
  /** Strip this prefix before forwarding. */
  rewritePrefix: z.string().optional(),
  /** Hedged requests (off when absent). */
  hedge: hedgePolicy.optional(),
}).refine((r) => (r.cluster === undefined) !== (r.weightedClusters === undefined), { message: 'give exactly one of cluster or weightedClusters' });

const endpoint = z.strictObject({
  address: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'),
  zone: z.string().default(''),
  weight: z.number().int().min(1).max(1_000).default(1),
  priority: z.number().int().min(0).max(limits.PRIORITY_LEVELS_MAX - 1).default(0),
  /** A draining endpoint takes no new requests; in-flight ones finish. */
  drain: z.boolean().default(false),
});

const healthCheck = z.strictObject({
  /**
   * http: `GET path`, healthy on 2xx. grpc: grpc.health.v1.Health/Check over HTTP/2 (h2c clusters only),
   * healthy on SERVING; NOT_SERVING, UNKNOWN, a grpc-status other than 0 or no answer in time fail (Envoy's grpc_health_check).
   */
  type: z.enum(['http', 'grpc']).default('http'),
  /** grpc: the service asked about (HealthCheckRequest.service; '' is the server as a whole). */
  service: z.string().max(limits.GRPC_HEALTH_SERVICE_CHARS_MAX).default(''),
  /** http: the path probed. */
  path: z.string().startsWith('/').default('/livez'),
  intervalMs: durationMs.default(5_000),
  /** Fraction of the interval added or removed at random, so checks do not synchronise. */
  jitter: z.number().min(0).max(1).default(0.1),
  timeoutMs: durationMs.default(1_000),
  healthyThreshold: positiveInt.max(100).default(2),
  unhealthyThreshold: positiveInt.max(100).default(3),
});

const outlierDetection = z.strictObject({
  consecutive5xx: positiveInt.max(1_000).default(5),
  consecutiveGatewayErrors: positiveInt.max(1_000).default(5),
  intervalMs: z.number().int().min(limits.OUTLIER_INTERVAL_MS_MIN).default(10_000),
  baseEjectionTimeMs: durationMs.default(30_000),
  maxEjectionTimeMs: durationMs.default(300_000),
  maxEjectionPercent: z.number().min(0).max(100).default(10),
  successRateMinimumHosts: positiveInt.default(5),
  successRateRequestVolume: positiveInt.default(100),
  successRateStdevFactor: z.number().positive().default(1.9),
});

const circuitBreakers = z.strictObject({
  maxConnections: positiveInt.max(100_000).default(64),
  maxPendingRequests: z.number().int().min(0).max(100_000).default(1_024),
  maxRequests: positiveInt.max(1_000_000).default(1_024),
});

const balancer = z.enum(['round-robin', 'least-request', 'random', 'ring-hash', 'maglev', 'peak-ewma']);

/** TLS to a cluster's endpoints (ALPN http/1.1 to http1 clusters, h2 to h2c ones); active health checks use it too. */
const upstreamTls = z.strictObject({
  /** CA bundle to verify the endpoints with (default: Node's public roots). */
  caFile: z.string().min(1).optional(),
  /** The SNI name sent, and the name the certificate must carry (default: the endpoint's host). */
  serverName: z.string().min(1).max(253).optional(),
  /** A client certificate and key, for backends that ask for mTLS. */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  /** Verify the endpoint's certificate (chain and name). Turning this off is for tests only. */
  verify: z.boolean().default(true),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
}).refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'give certFile and keyFile together' });

const cluster = z.strictObject({
  /** Speak TLS to the endpoints (see docs/gateway.md, "TLS to upstreams"). */
  tls: upstreamTls.optional(),
  endpoints: z.array(endpoint).min(1).max(limits.ENDPOINTS_PER_CLUSTER_MAX),
  /**
   * How the gateway talks to the endpoints: http1 (HTTP/1.1, keep-alive
   * pools) or h2c (HTTP/2, prior knowledge over cleartext or ALPN h2 with
   * `tls`: gRPC backends; response trailers are passed on to HTTP/2 clients).
   */
  protocol: z.enum(['http1', 'h2c']).default('http1'),
  balancer: balancer.default('round-robin'),
  /** For ring-hash/maglev: hash this header, else the client IP. */
  hashHeader: z.string().transform((name) => name.toLowerCase()).optional(),
  healthCheck: healthCheck.optional(),
  outlierDetection: outlierDetection.optional(),
  circuitBreakers: circuitBreakers.default({ maxConnections: 64, maxPendingRequests: 1_024, maxRequests: 1_024 }),
  /** Envoy's overprovisioning factor: a level at 1/1.4 healthy still takes all its traffic. */
  overprovisioningFactor: z.number().min(1).max(10).default(1.4),
  /** Below this healthy percentage, route to every endpoint of the level (Envoy: 50). */
  panicThresholdPercent: z.number().min(0).max(100).default(50),
  zoneAware: z.boolean().default(true),
  /** Weight ramps linearly from `slowStartMinWeightPercent` to full over this window after an endpoint joins or recovers (0: off). */
  slowStartMs: z.number().int().min(0).max(3_600_000).default(0),
  slowStartMinWeightPercent: z.number().min(1).max(100).default(10),
  /** Adaptive concurrency (gradient limit partitioned 90/10 by criticality); off when absent. */
  adaptiveConcurrency: z.strictObject({
    initialLimit: positiveInt.max(10_000).default(20),
    minLimit: positiveInt.max(10_000).default(5),
    maxLimit: positiveInt.max(100_000).default(1_000),
    criticalShare: z.number().gt(0).lt(1).default(0.9),
    /** Requests waiting for a permit at most (0: refuse at once); the least critical are shed first. */
    queueSize: z.number().int().min(0).max(limits.ADMISSION_QUEUE_MAX).default(100),
    /** CoDel target: once the shortest wait over an interval exceeds this, waiters are given only this long. */
    queueTargetDelayMs: positiveInt.max(10_000).default(5),
    /** CoDel interval, and how long a waiter may wait while the queue is healthy. */
    queueIntervalMs: positiveInt.max(60_000).default(100),
    /** Per-level CoDel targets overriding `queueTargetDelayMs`: give critical traffic patience, shed sheddable traffic sooner. */
    queueTargetDelayMsByCriticality: z.strictObject({
      CRITICAL_PLUS: positiveInt.max(10_000).optional(),
      CRITICAL: positiveInt.max(10_000).optional(),
      SHEDDABLE_PLUS: positiveInt.max(10_000).optional(),
      SHEDDABLE: positiveInt.max(10_000).optional(),
    }).optional(),
    /** Facebook's adaptive LIFO: while a level's queue is standing, serve its newest waiter first (the one most likely to still meet its deadline). */
    queueLifoWhenStanding: z.boolean().default(true),
    /** The limit algorithm: `vegas` holds a short queue above the lowest RTT seen; `gradient` (Gradient2) follows a long-term RTT average and so lets latency drift up under sustained overload. */
    limitAlgorithm: z.enum(['vegas', 'gradient']).default('vegas'),
  }).optional(),
});

const descriptor = z.union([
  z.strictObject({ header: z.string().min(1).transform((name) => name.toLowerCase()) }),
  z.strictObject({ clientIp: z.literal(true) }),
  z.strictObject({ route: z.literal(true) }),
  z.strictObject({ global: z.literal(true) }),
]);

const rateLimit = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
  descriptor,
  algorithm: z.enum(['token-bucket', 'gcra', 'sliding-window']).default('token-bucket'),
  /** Requests (cost units) per window. */
  limit: positiveInt.max(1_000_000_000),
  /** Window length; a long window (e.g. 86,400,000) is a quota. */
  windowMs: durationMs,
  /** For token-bucket and gcra: burst capacity (default: limit). */
  burst: positiveInt.optional(),
  /** Only these routes (default: every route). */
  routes: z.array(z.string()).optional(),
  /** Only clients in these CIDRs (default: every client). */
  sourceCidrs: z.array(z.string()).max(256).optional(),
  /** Criticality at or above this level is exempt (default: none exempt). */
  exemptCriticality: criticality.optional(),
  maxKeys: positiveInt.max(limits.RATE_LIMIT_KEYS_MAX).default(10_000),
});

const connectionLimits = z.strictObject({
  /** Time to receive the whole request head (slowloris). */
  headersTimeoutMs: durationMs.default(10_000),
  /** Time to receive the whole request. */
  requestTimeoutMs: durationMs.default(60_000),
  keepAliveTimeoutMs: durationMs.default(5_000),
  maxConnections: positiveInt.max(1_000_000).default(10_000),
  maxConnectionsPerClientIp: positiveInt.max(1_000_000).default(256),
  maxHeaderBytes: positiveInt.max(limits.HEADER_BYTES_MAX).default(16 * 1024),
  /** Request bodies larger than this are refused with 413 (by content-length, or cut off while streaming). */
  maxRequestBodyBytes: positiveInt.default(10 * 1024 * 1024),
  drainTimeoutMs: z.number().int().min(0).max(limits.DRAIN_TIMEOUT_MS_MAX).default(30_000),
  /** An upgraded (WebSocket) connection with no byte either way for this long is closed. */
  upgradeIdleTimeoutMs: durationMs.default(300_000),
});

const schema = z.strictObject({
  /** The zone this gateway runs in (zone-aware routing prefers it). */
  zone: z.string().default(''),
  listeners: z.array(listener).min(1).max(limits.LISTENERS_MAX),
  admin: z.strictObject({
    /** Loopback by default: the admin port reconfigures the gateway. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535),
    /** A bearer token every admin request must carry (`Authorization: Bearer ...`); or `tokenFile`, or the KEEL_GW_ADMIN_TOKEN env var. */
    token: z.string().min(limits.ADMIN_TOKEN_CHARS_MIN).max(limits.ADMIN_TOKEN_CHARS_MAX).optional(),
    /** A file holding the token (trailing whitespace ignored); read at start and on every reload. */
    tokenFile: z.string().min(1).optional(),
    /** Serve /metrics without the token (for a Prometheus that cannot send one). Default false. */
    openMetrics: z.boolean().default(false),
  }).refine((a) => a.token === undefined || a.tokenFile === undefined, { message: 'give token or tokenFile, not both' }).optional(),
  routes: z.array(route).min(1).max(limits.ROUTES_MAX),
  clusters: z.record(z.string().min(1), cluster),
  rateLimits: z.array(rateLimit).max(limits.RATE_LIMIT_RULES_MAX).default([]),
  criticality: z.strictObject({
    header: z.string().transform((name) => name.toLowerCase()).default('keel-criticality'),
    default: criticality.default('CRITICAL'),
  }).default({ header: 'keel-criticality', default: 'CRITICAL' }),
  limits: connectionLimits.default(connectionLimits.parse({})),
});

export type GatewayConfig = z.output<typeof schema>;
export type RouteConfig = z.output<typeof route>;
export type ClusterConfig = z.output<typeof cluster>;
export type EndpointConfig = z.output<typeof endpoint>;
export type ListenerConfig = z.output<typeof listener>;
export type ListenerTlsConfig = z.output<typeof listenerTls>;
export type ClientCertificateConfig = z.output<typeof clientCertificate>;
export type HealthCheckConfig = z.output<typeof healthCheck>;
export type OutlierConfig = z.output<typeof outlierDetection>;
export type RateLimitConfig = z.output<typeof rateLimit>;
export type LimitsConfig = z.output<typeof connectionLimits>;
export type BalancerName = z.output<typeof balancer>;
export type RetryConfig = z.output<typeof retryPolicy>;
export type HedgeConfig = z.output<typeof hedgePolicy>;

/** Defaults for a health check, outlier detection, and so on, for code and tests that build configs by hand. */
export const defaults = Object.freeze({
  healthCheck: (): HealthCheckConfig => healthCheck.parse({}),
  outlierDetection: (): OutlierConfig => outlierDetection.parse({}),
});

function fieldPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Checks references and patterns zod cannot: routes name known clusters, regexes and CIDRs parse. */
function crossCheck(config: GatewayConfig): string[] {
  const issues: string[] = [];
  const listenerKeys = new Set<string>();
  for (const [index, l] of config.listeners.entries()) {
    // Port 0 asks the OS for any free port: two of those never clash.
    const key = `${l.host}:${l.port}`;
    if (l.port !== 0 && listenerKeys.has(key)) issues.push(`listeners.${index}.port: another listener already uses ${key}`);
    listenerKeys.add(key);
  }
  const clusterNames = new Set(Object.keys(config.clusters));
  if (clusterNames.size > limits.CLUSTERS_MAX) issues.push(`clusters: at most ${limits.CLUSTERS_MAX}`);
  config.routes.forEach((r, index) => {
    const named = r.cluster !== undefined ? [r.cluster] : (r.weightedClusters ?? []).map((w) => w.cluster);
    for (const name of named) if (!clusterNames.has(name)) issues.push(`routes.${index}.cluster: unknown cluster "${name}"`);
    if (r.weightedClusters !== undefined && r.weightedClusters.every((w) => w.weight === 0)) issues.push(`routes.${index}.weightedClusters: weights sum to 0`);
    for (const [field, pattern] of [['match.regex', r.match.regex], ...(r.match.headers ?? []).map((h, i) => [`match.headers.${i}.regex`, h.regex] as const)] as const) {
      if (pattern === undefined) continue;
      try {
        new RegExp(pattern);
      } catch (error) {
        issues.push(`routes.${index}.${field}: ${(error as Error).message}`);
      }
    }
    (r.match.sourceCidrs ?? []).forEach((cidr, i) => {
      if (!isCidr(cidr)) issues.push(`routes.${index}.match.sourceCidrs.${i}: "${cidr}" is not a CIDR`);
    });
    if (r.hedge !== undefined) issues.push(...hedgeIssues(`routes.${index}.hedge`, r.hedge, r.perTryTimeoutMs));
  });
  config.rateLimits.forEach((rule, index) => {
    for (const name of rule.routes ?? []) if (!config.routes.some((r) => r.name === name)) issues.push(`rateLimits.${index}.routes: unknown route "${name}"`);
    (rule.sourceCidrs ?? []).forEach((cidr, i) => {
      if (!isCidr(cidr)) issues.push(`rateLimits.${index}.sourceCidrs.${i}: "${cidr}" is not a CIDR`);
    });
  });
  const routeNames = new Set<string>();
  config.routes.forEach((r, index) => {
    if (routeNames.has(r.name)) issues.push(`routes.${index}.name: duplicate route "${r.name}"`);
    routeNames.add(r.name);
  });
  for (const [name, c] of Object.entries(config.clusters)) {
    const seen = new Set<string>();
    c.endpoints.forEach((e, i) => {
      if (seen.has(e.address)) issues.push(`clusters.${name}.endpoints.${i}.address: duplicate "${e.address}"`);
      seen.add(e.address);
    });
    if (c.adaptiveConcurrency && c.adaptiveConcurrency.minLimit > c.adaptiveConcurrency.maxLimit) issues.push(`clusters.${name}.adaptiveConcurrency.minLimit: exceeds maxLimit`);
    if (c.healthCheck?.type === 'grpc' && c.protocol !== 'h2c') issues.push(`clusters.${name}.healthCheck.type: grpc health checks need protocol h2c`);
  }
  return issues;
}

/** What zod cannot say about a hedge policy alone: its delays must fall inside the route's per-try timeout. */
function hedgeIssues(path: string, hedge: HedgeConfig, perTryTimeoutMs: number): string[] {
  const issues: string[] = [];
  const fixedMs = hedge.delay.fixedMs;
  const delays: Array<[string, number]> = fixedMs !== undefined ? [['delay.fixedMs', fixedMs]] : [['minDelayMs', hedge.minDelayMs], ['initialDelayMs', hedge.initialDelayMs]];
  for (const [field, value] of delays) {
    if (value >= perTryTimeoutMs) issues.push(`${path}.${field}: ${value} ms is not below the route's perTryTimeoutMs (${perTryTimeoutMs}); a per-try timeout already sends the next attempt`);
  }
  if (fixedMs === undefined && hedge.minSamples > hedge.sampleSize) issues.push(`${path}.minSamples: exceeds sampleSize (${hedge.sampleSize})`);
  return issues;
}

function isCidr(value: string): boolean {
  return /^[0-9a-fA-F:.]+\/\d{1,3}$/.test(value) || /^[0-9a-fA-F:.]+$/.test(value);
}

/** Validates a parsed object; throws `GatewayConfigError` listing every bad field. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const result = schema.safeParse(input);
  if (!result.success) throw new GatewayConfigError(result.error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`));
  const issues = crossCheck(result.data);
  if (issues.length > 0) throw new GatewayConfigError(issues);
  return result.data;
}

/** Parses YAML text and validates it. */
export function parseGatewayYaml(text: string): GatewayConfig {
  let input: unknown;
  try {
    input = parseYaml(text);
  } catch (error) {
    throw new GatewayConfigError([`(yaml): ${(error as Error).message.split('\n')[0] ?? 'parse error'}`]);
  }
  return parseGatewayConfig(input);
}

/** Reads, parses and validates a YAML file. */
export function loadGatewayConfig(file: string): GatewayConfig {
  return readGatewayConfig(file).config;
}

/** Reads, parses and validates a YAML file, keeping its text (`--workers`: the primary sends every worker the text it validated). */
export function readGatewayConfig(file: string): { readonly text: string; readonly config: GatewayConfig } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError([`(file): cannot read ${file}: ${(error as Error).message}`]);
  }
  return { text, config: parseGatewayYaml(text) };
}
