import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { type Clock, DEFAULT_CRITICALITY, type Random, systemClock, systemRandom, type TimerHandle } from '../resilience/index.js';
import { createAdminServer } from './admin.js';
import { normalizeAddress } from './address.js';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { GatewayError, REJECT_REASON_HEADER } from './errors.js';
import { compose, type Exchange, type Handler } from './exchange.js';
import { ActiveHealthChecker, httpProbe, type Probe } from './health/active.js';
import { OutlierDetector } from './health/outlier.js';
import { admissionInterceptor, rateLimitInterceptor, routeInterceptor } from './interceptors.js';
import { CLIENT_IPS_TRACKED_MAX, H2_SESSION_MEMORY_MB, H2_STREAMS_PER_SESSION_MAX } from './limits.js';
import { GatewayMetrics } from './metrics.js';
import { proxyHandler } from './proxy.js';
import { RoutingTable } from './table.js';
import { UpstreamPools } from './upstream.js';

/** The header a client may use to name its zone (else the gateway's own zone is preferred). */
export const CLIENT_ZONE_HEADER = 'keel-client-zone';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Where `reloadFromFile` (SIGHUP, `POST /reload`) reads the config. */
  readonly configFile?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  /** Active health-check probe (default: HTTP GET). */
  readonly probe?: Probe;
}

/** A bound listener, whatever its protocol. */
interface Listening {
  readonly server: { address(): AddressInfo | string | null };
  /** Drain: accept nothing new, close idle connections, let in-flight requests finish. */
  stopAccepting(): void;
  /** Cut every connection now. */
  closeAll(): void;
}

interface ClusterRuntime {
  readonly detector: OutlierDetector | undefined;
  readonly checker: ActiveHealthChecker | undefined;
  sweepTimer: TimerHandle | undefined;
}

/**
 * keel gateway: an L7 load balancer. Listeners feed every request through
 * a chain of interceptors (route → rate limits → admission → proxy) over
 * the routing table current when it arrived; `reload` swaps the table
 * atomically, so in-flight requests finish on the old one and nothing is
 * dropped. `drain` stops accepting, lets in-flight requests finish (bounded
 * by `limits.drainTimeoutMs`) and closes.
 */
export class Gateway {
  readonly metrics = new GatewayMetrics();
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #probe: Probe;
  readonly #configFile: string | undefined;
  readonly #pools = new UpstreamPools();
  readonly #servers: Listening[] = [];
  #admin: Server | undefined;
  #table: RoutingTable;
  #runtimes = new Map<string, ClusterRuntime>();
  readonly #connectionsByIp = new Map<string, number>();
  readonly #chain: Handler;
  #inflight = 0;
  #idleWaiters: Array<() => void> = [];
  #draining = false;
  #started = false;

  private constructor(options: GatewayOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#log = options.log ?? pino({ level: 'silent' });
    this.#probe = options.probe ?? httpProbe;
    this.#configFile = options.configFile;
    this.#table = new RoutingTable(options.config, this.#clock, this.#random);
    this.#chain = compose(routeInterceptor(this.#clock), rateLimitInterceptor(this.metrics), admissionInterceptor())(proxyHandler({
      clock: this.#clock,
      pools: this.#pools,
      metrics: this.metrics,
      recordAttempt: (cluster, endpoint, result) => this.#runtimes.get(cluster)?.detector?.record(endpoint, result),
      zoneOf: (exchange) => {
        const zone = exchange.request.headers[CLIENT_ZONE_HEADER];
        return typeof zone === 'string' && zone !== '' ? zone : exchange.table.config.zone;
      },
    }));
  }

  /** Builds the gateway, starts health checks and binds every listener (and the admin server). */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(options);
    gateway.#startRuntimes(undefined);
    for (const listener of options.config.listeners) gateway.#servers.push(await gateway.#listen(listener.host, listener.port, listener.protocol));
    if (options.config.admin) {
      const admin = createAdminServer(gateway);
      await new Promise<void>((resolve, reject) => {
        admin.once('error', reject);
        admin.listen(options.config.admin?.port, options.config.admin?.host, () => resolve());
      });
      gateway.#admin = admin;
    }
    gateway.#started = true;
    return gateway;
  }

  /** Ports actually bound, in listener order (useful with port 0). */
  get ports(): number[] {
    return this.#servers.map((listening) => (listening.server.address() as AddressInfo).port);
  }

  get adminPort(): number | undefined {
    return this.#admin ? (this.#admin.address() as AddressInfo).port : undefined;
  }

  get ready(): boolean {
    return this.#started && !this.#draining;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get config(): GatewayConfig {
    return this.#table.config;
  }

  /** Swaps in a new config atomically (listeners are not rebound: changing them needs a restart). */
  reload(config: GatewayConfig): void {
    const previous = this.#table;
    const table = new RoutingTable(config, this.#clock, this.#random, previous);
    this.#table = table;
    this.#startRuntimes(this.#runtimes);
    this.#pools.retain(table.addresses());
    this.metrics.reloads.inc({ result: 'ok' });
    this.#log.info({ routes: config.routes.length, clusters: table.clusters.size }, 'config reloaded');
  }

  /** Re-reads the config file; on error keeps the running config and says why. */
  reloadFromFile(): { ok: true } | { ok: false; error: string } {
    if (this.#configFile === undefined) return { ok: false, error: 'no config file' };
    try {
      this.reload(loadGatewayConfig(this.#configFile));
      return { ok: true };
    } catch (error) {
      this.metrics.reloads.inc({ result: 'error' });
      this.#log.error({ err: error }, 'config reload failed; keeping the running config');
      return { ok: false, error: (error as Error).message };
    }
  }

  /** The admin view: clusters, endpoints, concurrency limits. */
  describe(): Record<string, unknown> {
    const nowMs = this.#clock.now();
    return {
      draining: this.#draining,
      inflight: this.#inflight,
      clusters: [...this.#table.clusters.values()].map((cluster) => {
        const view = cluster.toJSON(nowMs);
        const endpoints = view.endpoints as Array<Record<string, unknown>>;
        // Envoy-style circuit-breaker state: requests waiting for a connection beside those in flight
        return { ...view, endpoints: endpoints.map((endpoint) => ({ ...endpoint, pending: this.#pools.pending(String(endpoint.address)) })) };
      }),
      concurrency: this.#table.admission.toJSON(),
      rateLimits: this.#table.rateLimits.toJSON(),
    };
  }

  /** Stops accepting, lets in-flight requests finish (bounded by `drainTimeoutMs`), then closes everything. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    for (const listening of this.#servers) listening.stopAccepting();
    const timeoutMs = this.#table.config.limits.drainTimeoutMs;
    await new Promise<void>((resolve) => {
      if (this.#inflight === 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await this.close();
  }

  /** Closes at once: listeners, connections, timers and pools. */
  async close(): Promise<void> {
    this.#draining = true;
    this.#stopRuntimes(this.#runtimes);
    for (const listening of this.#servers) listening.closeAll();
    if (this.#admin) {
      this.#admin.close();
      this.#admin.closeAllConnections();
    }
    await this.#pools.close();
  }

  #listen(host: string, port: number, protocol: 'http1' | 'h2c'): Promise<Listening> {
    if (protocol === 'h2c') return this.#listenH2c(host, port);
    return this.#listenHttp1(host, port).then((server) => ({
      server,
      stopAccepting: () => {
        server.close();
        server.closeIdleConnections();
      },
      closeAll: () => {
        server.close();
        server.closeAllConnections();
      },
    }));
  }

  /**
   * HTTP/2 over cleartext (prior knowledge) through node:http2's
   * compatibility API, whose request and response objects the chain uses
   * like HTTP/1's. Connection limits are the same; an idle session is closed
   * after keepAliveTimeoutMs; streams per session are bounded. Draining
   * sends GOAWAY so clients open no new streams while in-flight ones finish.
   */
  #listenH2c(host: string, port: number): Promise<Listening> {
    const limits = this.#table.config.limits;
    const sessions = new Set<Http2Session>();
    const server = createHttp2Server(
      { maxSessionMemory: H2_SESSION_MEMORY_MB, settings: { maxConcurrentStreams: H2_STREAMS_PER_SESSION_MAX, maxHeaderListSize: limits.maxHeaderBytes } },
      (request, response) => this.#handle(request as unknown as IncomingMessage, response as unknown as ServerResponse),
    );
    server.maxConnections = limits.maxConnections;
    server.setTimeout(limits.keepAliveTimeoutMs);
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    server.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (this.#draining) session.close();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () =>
        resolve({
          server,
          stopAccepting: () => {
            server.close();
            for (const session of sessions) session.close();
          },
          closeAll: () => {
            server.close();
            for (const session of sessions) session.destroy();
          },
        }),
      );
    });
  }

  #listenHttp1(host: string, port: number): Promise<Server> {
    const limits = this.#table.config.limits;
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // Node checks the two timeouts on this interval; a slowloris connection lives at most timeout + interval
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    }, (request, response) => this.#handle(request, response));
    server.maxConnections = limits.maxConnections;
    server.on('connection', (socket) => this.#onConnection(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }

  #onConnection(socket: Socket): void {
    const ip = normalizeAddress(socket.remoteAddress);
    const count = (this.#connectionsByIp.get(ip) ?? 0) + 1;
    const perIpMax = this.#table.config.limits.maxConnectionsPerClientIp;
    if (count > perIpMax || (!this.#connectionsByIp.has(ip) && this.#connectionsByIp.size >= CLIENT_IPS_TRACKED_MAX)) {
      this.metrics.connectionsRefused.inc({ limit: 'per-client-ip' });
      socket.destroy();
      return;
    }
    this.#connectionsByIp.set(ip, count);
    this.metrics.connections.inc();
    socket.once('close', () => {
      this.metrics.connections.dec();
      const left = (this.#connectionsByIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.#connectionsByIp.delete(ip);
      else this.#connectionsByIp.set(ip, left);
    });
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const exchange: Exchange = {
      request, response, table: this.#table, clientIp: normalizeAddress(request.socket.remoteAddress), startedMs: this.#clock.now(),
      criticality: DEFAULT_CRITICALITY, route: undefined, cluster: undefined, deadlineMs: undefined, responseHeaders: {},
    };
    exchange.criticality = exchange.table.config.criticality.default;
    // HTTP/2 has no Connection header (draining sends GOAWAY instead).
    if (this.#draining && request.httpVersionMajor < 2) response.setHeader('connection', 'close');
    this.#inflight++;
    this.#chain(exchange)
      .catch((error: unknown) => this.#reject(exchange, error))
      .finally(() => {
        this.metrics.requests.inc({ route: exchange.route?.name ?? 'none', cluster: exchange.cluster ?? 'none', code_class: `${Math.floor(response.statusCode / 100)}xx` });
        this.#inflight--;
        if (this.#inflight === 0) {
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const waiter of waiters) waiter();
        }
      });
  }

  #reject(exchange: Exchange, error: unknown): void {
    const { response } = exchange;
    const gatewayError = GatewayError.is(error) ? error : undefined;
    const reason = gatewayError?.reason ?? 'internal';
    this.metrics.rejections.inc({ reason, criticality: exchange.criticality });
    if (!gatewayError) this.#log.error({ err: error }, 'request failed');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = JSON.stringify({ code: gatewayError?.code ?? 'KEEL_GW_INTERNAL', reason, message: gatewayError?.message ?? 'internal error' });
    response.writeHead(gatewayError?.status ?? 500, {
      ...exchange.responseHeaders, ...gatewayError?.headers, [REJECT_REASON_HEADER]: reason, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
    });
    response.end(body);
    // an unread request body would otherwise hold the keep-alive connection
    if (!exchange.request.complete) exchange.request.resume();
  }

  #startRuntimes(previous: Map<string, ClusterRuntime> | undefined): void {
    if (previous) this.#stopRuntimes(previous);
    const runtimes = new Map<string, ClusterRuntime>();
    for (const cluster of this.#table.clusters.values()) {
      const outlierConfig = cluster.config.outlierDetection;
      const detector = outlierConfig ? new OutlierDetector(outlierConfig, cluster.endpoints, this.#clock) : undefined;
      detector?.onEvent((event) => {
        if (event.type === 'ejected') this.metrics.ejections.inc({ cluster: cluster.name, cause: event.cause });
        this.#log.warn({ cluster: cluster.name, endpoint: event.endpoint.address, cause: event.cause }, `endpoint ${event.type}`);
      });
      const healthConfig = cluster.config.healthCheck;
      const checker = healthConfig
        ? new ActiveHealthChecker(healthConfig, cluster.endpoints, this.#clock, this.#random, this.#probe, ({ endpoint, healthy }) => {
          this.metrics.healthChanges.inc({ cluster: cluster.name, to: healthy ? 'healthy' : 'unhealthy' });
          this.#log.warn({ cluster: cluster.name, endpoint: endpoint.address, healthy }, 'health changed');
        })
        : undefined;
      checker?.start();
      const runtime: ClusterRuntime = { detector, checker, sweepTimer: undefined };
      if (detector && outlierConfig) {
        const sweep = () => {
          detector.sweep();
          runtime.sweepTimer = this.#clock.setTimeout(sweep, outlierConfig.intervalMs);
        };
        runtime.sweepTimer = this.#clock.setTimeout(sweep, outlierConfig.intervalMs);
      }
      runtimes.set(cluster.name, runtime);
    }
    this.#runtimes = runtimes;
  }

  #stopRuntimes(runtimes: Map<string, ClusterRuntime>): void {
    for (const runtime of runtimes.values()) {
      runtime.checker?.stop();
      if (runtime.sweepTimer !== undefined) this.#clock.clearTimeout(runtime.sweepTimer);
      runtime.sweepTimer = undefined;
    }
  }
}
