import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createPinoLogger, errorFields } from '../node/logger.js';
import { type Clock, DEFAULT_CRITICALITY, type Random, systemClock, systemRandom, type TimerHandle } from '../resilience/index.js';
import { createAdminServer } from './admin.js';
import { type AdminAccess, resolveAdminAccess } from './admin-auth.js';
import { normalizeAddress } from './address.js';
import { type GatewayConfig, type ListenerConfig, loadGatewayConfig } from './config.js';
import { GatewayError, GRPC_STATUS_INTERNAL, ListenerUnavailableError, REJECT_REASON_HEADER } from './errors.js';
import { compose, type Exchange, type Handler } from './exchange.js';
import { ActiveHealthChecker, defaultProbe, type Probe } from './health/active.js';
import { OutlierDetector } from './health/outlier.js';
import { admissionInterceptor, rateLimitInterceptor, routeInterceptor } from './interceptors.js';
import { CLIENT_IPS_TRACKED_MAX } from './limits.js';
import { bindListener, listenerKey, type Listening } from './listeners.js';
import type { HedgeObserver } from './hedging.js';
import { GatewayMetrics } from './metrics.js';
import { type FastRequest, type FastResponse } from './http1/connection.js';
import { fastProxyHandler } from './http1/proxy.js';
import { FastUpstreamPools } from './http1/upstream-pool.js';
import { proxyHandler, type ProxyDependencies } from './proxy.js';
import type { PermitSource } from './rate-limits.js';
import { RoutingTable } from './table.js';
import { loadTlsMaterial, type TlsMaterial } from './tls-listener.js';
import { loadUpstreamTlsAll } from './upstream-tls.js';
import { UpstreamPools } from './upstream.js';
import { UpgradeTunnels } from './tunnels.js';
import { upgradeHandler, upgradeResponse } from './upgrade.js';

/** The header a client may use to name its zone (else the gateway's own zone is preferred). */
export const CLIENT_ZONE_HEADER = 'keel-client-zone';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Where `reloadFromFile` (SIGHUP, `POST /reload`) reads the config. */
  readonly configFile?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  /** Active health-check probe (default: by `healthCheck.type`, HTTP GET or gRPC Health/Check, over TLS on clusters with `tls`). */
  readonly probe?: Probe;
  /** Where rate-limit permits come from (default: this process's limiters; a `--workers` worker leases them from the primary). */
  readonly permits?: PermitSource;
}

/** A gRPC call: HTTP/2 with a gRPC content type (gRPC over HTTP/1.1 does not exist). */
function isGrpcRequest(request: IncomingMessage): boolean {
  const type = request.headers['content-type'];
  return request.httpVersionMajor === 2 && typeof type === 'string' && type.startsWith('application/grpc');
}

/** gRPC's grpc-message encoding: UTF-8, with '%' and bytes outside printable ASCII percent-encoded (and nothing else). */
export function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Every TLS listener's certificates, loaded now (by listener index); throws GatewayTlsError naming the field. */
function tlsMaterials(config: GatewayConfig): Array<TlsMaterial | undefined> {
  return config.listeners.map((listener, index) => (listener.tls ? loadTlsMaterial(listener.tls, `listeners.${index}.tls`) : undefined));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** How often a listener removed by a reload closes the connections that went idle since. */
const RETIRE_SWEEP_MS = 100;

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
  readonly #permits: PermitSource | undefined;
  readonly #pools = new UpstreamPools();
  readonly #fastPools = new FastUpstreamPools();
  #servers: Listening[] = [];
  /** Listeners a reload removed, draining their in-flight requests. */
  readonly #retiring = new Set<Listening>();
  /** The reload in progress: reloads run one at a time, in call order. */
  #reloading: Promise<unknown> = Promise.resolve();
  #admin: Server | undefined;
  #adminAccess: AdminAccess;
  #table: RoutingTable;
  #runtimes = new Map<string, ClusterRuntime>();
  readonly #connectionsByIp = new Map<string, number>();
  readonly #chain: Handler;
  /** The same interceptors in front of the fast path's terminal handler. */
  readonly #fastChain: Handler;
  /** The same interceptors in front of the Upgrade (WebSocket) handler. */
  readonly #upgradeChain: Handler;
  readonly #tunnels = new UpgradeTunnels(this.metrics);
  /** Routes' hedging reports to the metrics (kept across reloads with each route's hedge state). */
  readonly #hedgeObserver: HedgeObserver = {
    outcome: (route, outcome) => this.metrics.hedges.inc({ route, outcome }),
    delay: (route, delayMs) => this.metrics.hedgeDelay.set({ route }, delayMs / 1000),
  };
  #inflight = 0;
  #idleWaiters: Array<() => void> = [];
  #draining = false;
  #started = false;

  private constructor(options: GatewayOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#log = options.log ?? createPinoLogger({ level: 'silent' });
    this.#probe = options.probe ?? defaultProbe;
    this.#configFile = options.configFile;
    this.#permits = options.permits;
    this.#table = new RoutingTable(options.config, this.#clock, this.#random, undefined, loadUpstreamTlsAll(options.config), { permits: this.#permits, hedgeObserver: this.#hedgeObserver });
    this.#adminAccess = resolveAdminAccess(options.config.admin);
    const dependencies: ProxyDependencies = {
      clock: this.#clock,
      pools: this.#pools,
      metrics: this.metrics,
      recordAttempt: (cluster, endpoint, result) => this.#runtimes.get(cluster)?.detector?.record(endpoint, result),
      zoneOf: (exchange) => {
        const zone = exchange.request.headers[CLIENT_ZONE_HEADER];
        return typeof zone === 'string' && zone !== '' ? zone : exchange.table.config.zone;
      },
    };
    const interceptors = compose(routeInterceptor(this.#clock), rateLimitInterceptor(this.metrics), admissionInterceptor());
    this.#chain = interceptors(proxyHandler(dependencies));
    this.#fastChain = interceptors(fastProxyHandler({ ...dependencies, fastPools: this.#fastPools }));
    this.#upgradeChain = interceptors(upgradeHandler({ ...dependencies, tunnels: this.#tunnels, plain: proxyHandler(dependencies) }));
  }

  /** Builds the gateway, starts health checks and binds every listener (and the admin server). */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(options);
    gateway.#startRuntimes(undefined);
    try {
      const materials = tlsMaterials(options.config);
      for (const [index, listener] of options.config.listeners.entries()) gateway.#servers.push(await gateway.#listen(listener, options.config.limits, materials[index]));
      if (options.config.admin) {
        const admin = createAdminServer(gateway, () => gateway.#adminAccess);
        if (gateway.#adminAccess.tokenDigest === undefined && !isLoopback(options.config.admin.host)) {
          gateway.#log.warn({ host: options.config.admin.host }, 'the admin port listens beyond loopback without a token: anyone who reaches it can reload the config');
        }
        await new Promise<void>((resolve, reject) => {
          admin.once('error', reject);
          admin.listen(options.config.admin?.port, options.config.admin?.host, () => resolve());
        });
        gateway.#admin = admin;
      }
    } catch (error) {
      // Health-check timers and bound listeners would keep the process alive with nothing served: a gateway that cannot bind must end.
      await gateway.close();
      throw error;
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

  /**
   * Swaps in a new config, as Envoy's listener and route updates do:
   * listeners the new config adds are bound first, and if one cannot be
   * (ListenerUnavailableError: the port is taken) nothing changes. Then the
   * routing table is swapped atomically, so in-flight requests finish on the
   * old one; listeners the config dropped stop accepting and drain (their
   * in-flight requests finish, bounded by drainTimeoutMs); the ones kept take
   * the new connection limits. Reloads run one at a time, in call order.
   */
  reload(config: GatewayConfig): Promise<void> {
    const run = this.#reloading.then(() => this.#reload(config));
    this.#reloading = run.catch(() => {});
    return run.then(
      () => void this.metrics.reloads.inc({ result: 'ok' }),
      (error: unknown) => {
        this.metrics.reloads.inc({ result: 'error' });
        throw error;
      },
    );
  }

  async #reload(config: GatewayConfig): Promise<void> {
    // Resolved first: a token, certificate or key file that cannot be read refuses the whole reload.
    const adminAccess = resolveAdminAccess(config.admin);
    const materials = tlsMaterials(config);
    const upstreamTls = loadUpstreamTlsAll(config);
    const current = new Map<string, Listening[]>();
    for (const listening of this.#servers) current.set(listenerKey(listening.spec), [...(current.get(listenerKey(listening.spec)) ?? []), listening]);
    const next: Array<Listening | ListenerConfig> = config.listeners.map((spec) => current.get(listenerKey(spec))?.shift() ?? spec);
    const bound: Listening[] = [];
    if (!this.#draining) {
      for (const [index, entry] of next.entries()) {
        if ('server' in entry) continue;
        try {
          const listening = await this.#listen(entry, config.limits, materials[index]);
          bound.push(listening);
          next[index] = listening;
        } catch (error) {
          for (const listening of bound) listening.closeAll();
          throw new ListenerUnavailableError(`${entry.host}:${entry.port}`, error);
        }
      }
    }
    const table = new RoutingTable(config, this.#clock, this.#random, this.#table, upstreamTls, { permits: this.#permits, hedgeObserver: this.#hedgeObserver });
    this.#table = table;
    this.#adminAccess = adminAccess;
    this.#startRuntimes(this.#runtimes);
    this.#pools.retain(table.upstreams());
    this.#fastPools.retain(table.upstreams());
    const removed = [...current.values()].flat();
    this.#servers = next.filter((entry): entry is Listening => 'server' in entry);
    for (const [index, entry] of next.entries()) {
      if (!('server' in entry) || bound.includes(entry)) continue;
      entry.applyLimits(config.limits);
      entry.applyTls(materials[index]);
    }
    for (const listening of removed) this.#retire(listening, config.limits.drainTimeoutMs);
    this.#log.info({ routes: config.routes.length, clusters: table.clusters.size, listenersAdded: bound.length, listenersRemoved: removed.length }, 'config reloaded');
  }

  /** A listener the config no longer has: accept nothing new, let in-flight requests finish, cut what is left after `timeoutMs`. */
  #retire(listening: Listening, timeoutMs: number): void {
    this.#retiring.add(listening);
    listening.stopAccepting();
    const sweep = setInterval(() => listening.closeIdle(), RETIRE_SWEEP_MS);
    const deadline = setTimeout(() => listening.closeAll(), timeoutMs);
    sweep.unref();
    deadline.unref();
    // 'close' fires once the server has stopped listening and its last connection is gone.
    listening.server.once('close', () => {
      clearInterval(sweep);
      clearTimeout(deadline);
      this.#retiring.delete(listening);
    });
  }

  /** Re-reads the config file; on error keeps the running config and says why. */
  async reloadFromFile(): Promise<{ ok: true } | { ok: false; error: string }> {
    if (this.#configFile === undefined) return { ok: false, error: 'no config file' };
    let config: GatewayConfig;
    try {
      config = loadGatewayConfig(this.#configFile);
    } catch (error) {
      this.metrics.reloads.inc({ result: 'error' });
      this.#log.error(errorFields(error), 'config reload failed; keeping the running config');
      return { ok: false, error: (error as Error).message };
    }
    try {
      await this.reload(config);
      return { ok: true };
    } catch (error) {
      this.#log.error(errorFields(error), 'config reload failed; keeping the running config');
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
        return {
          ...view,
          endpoints: endpoints.map((endpoint) => ({
            ...endpoint,
            pending: this.#pools.pending(cluster.config.protocol, cluster.poolAddress(String(endpoint.address))) + (cluster.config.protocol === 'http1' ? this.#fastPools.pending(cluster.poolAddress(String(endpoint.address))) : 0),
          })),
        };
      }),
      concurrency: this.#table.admission.toJSON(),
      rateLimits: this.#table.rateLimits.toJSON(),
    };
  }

  /** Stops accepting, lets in-flight requests and upgraded connections finish (bounded by `drainTimeoutMs`), then closes everything. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    for (const listening of this.#servers) listening.stopAccepting();
    const timeoutMs = this.#table.config.limits.drainTimeoutMs;
    const drainStartedMs = performance.now();
    await new Promise<void>((resolve) => {
      if (this.#inflight === 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // WebSocket connections have no request boundary to stop at: they get what is left of the drain period, then are cut.
    await this.#tunnels.whenEmpty(timeoutMs - (performance.now() - drainStartedMs));
    await this.close();
  }

  /** Closes at once: listeners, connections, timers and pools. */
  async close(): Promise<void> {
    this.#draining = true;
    this.#stopRuntimes(this.#runtimes);
    for (const listening of [...this.#servers, ...this.#retiring]) listening.closeAll();
    this.#tunnels.closeAll();
    if (this.#admin) {
      this.#admin.close();
      this.#admin.closeAllConnections();
    }
    this.#fastPools.close();
    await this.#pools.close();
  }

  #listen(spec: ListenerConfig, limits: GatewayConfig['limits'], material: TlsMaterial | undefined): Promise<Listening> {
    return bindListener(spec, limits, {
      tlsHandshakeFailed: (reason) => this.metrics.tlsHandshakeErrors.inc({ reason }),
      handle: (request, response) => this.#handle(request, response, this.#chain),
      handleUpgrade: (request, socket, head) => this.#handle(request, upgradeResponse(request, socket, head), this.#upgradeChain),
      // The fast path's request and response carry the fields the chain and #reject read from node's.
      handleFast: (request, response) => this.#handle(request as unknown as IncomingMessage, response as unknown as ServerResponse, this.#fastChain),
      prefersNode: () => this.#hasH2cCluster(),
      admit: (socket) => this.#admit(socket),
      draining: () => this.#draining,
    }, material);
  }

  /** Counts a new connection per client IP; refuses (destroys) it over maxConnectionsPerClientIp. */
  #admit(socket: Socket): boolean {
    const ip = normalizeAddress(socket.remoteAddress);
    const count = (this.#connectionsByIp.get(ip) ?? 0) + 1;
    const perIpMax = this.#table.config.limits.maxConnectionsPerClientIp;
    if (count > perIpMax || (!this.#connectionsByIp.has(ip) && this.#connectionsByIp.size >= CLIENT_IPS_TRACKED_MAX)) {
      this.metrics.connectionsRefused.inc({ limit: 'per-client-ip' });
      socket.destroy();
      return false;
    }
    this.#connectionsByIp.set(ip, count);
    this.metrics.connections.inc();
    socket.once('close', () => {
      this.metrics.connections.dec();
      const left = (this.#connectionsByIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.#connectionsByIp.delete(ip);
      else this.#connectionsByIp.set(ip, left);
    });
    return true;
  }

  /** The fast path speaks HTTP/1.1 only upstream: a config with h2c clusters is served by node:http and undici. */
  #hasH2cCluster(): boolean {
    if (this.#h2cTable !== this.#table) {
      this.#h2cTable = this.#table;
      this.#h2c = [...this.#table.clusters.values()].some((cluster) => cluster.config.protocol === 'h2c');
    }
    return this.#h2c;
  }

  #h2cTable: RoutingTable | undefined;
  #h2c = false;

  #handle(request: IncomingMessage, response: ServerResponse, chain: Handler): void {
    const exchange: Exchange = {
      request, response, table: this.#table, clientIp: normalizeAddress(request.socket.remoteAddress), startedMs: this.#clock.now(),
      criticality: DEFAULT_CRITICALITY, route: undefined, cluster: undefined, deadlineMs: undefined, responseHeaders: {},
    };
    exchange.criticality = exchange.table.config.criticality.default;
    // HTTP/2 has no Connection header (draining sends GOAWAY instead).
    if (this.#draining && request.httpVersionMajor < 2) response.setHeader('connection', 'close');
    this.#inflight++;
    // A refusal counts with the HTTP status it stands for, also when a gRPC client got it as HTTP 200 and a grpc-status.
    const finish = (refusedWith: number | undefined): void => {
      this.metrics.countRequest(exchange.route?.name ?? 'none', exchange.cluster ?? 'none', refusedWith ?? response.statusCode);
      this.#inflight--;
      if (this.#inflight === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const waiter of waiters) waiter();
      }
    };
    const refuse = (error: unknown): void => {
      let refusedWith: number | undefined;
      try {
        refusedWith = this.#reject(exchange, error);
      } finally {
        finish(refusedWith);
      }
    };
    let done: void | Promise<void>;
    try {
      done = chain(exchange);
    } catch (error) {
      // Answered after this call returns, as a rejection would be: a refusal that ends the response at once would
      // otherwise have the fast path read a pipelined next request inside this one's handler, one frame deeper each.
      queueMicrotask(() => refuse(error));
      return;
    }
    // One reaction on the chain's promise (none when nothing waited).
    if (done === undefined) finish(undefined);
    else done.then(() => finish(undefined), refuse);
  }

  /** Answers a refused or failed request; returns the HTTP status the refusal stands for. */
  #reject(exchange: Exchange, error: unknown): number {
    const { response } = exchange;
    const gatewayError = GatewayError.is(error) ? error : undefined;
    const reason = gatewayError?.reason ?? 'internal';
    const status = gatewayError?.status ?? 500;
    this.metrics.rejections.inc({ reason, criticality: exchange.criticality });
    if (!gatewayError) this.#log.error({ err: error }, 'request failed');
    if (response.headersSent) {
      response.destroy();
      return status;
    }
    const code = gatewayError?.code ?? 'KEEL_GW_INTERNAL';
    const message = gatewayError?.message ?? 'internal error';
    if (isGrpcRequest(exchange.request)) {
      // As Envoy's local replies to gRPC: HTTP 200 and the refusal as grpc-status/grpc-message trailers, so a
      // client sees RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED, not whatever its library maps a bare HTTP status to.
      response.writeHead(200, { ...exchange.responseHeaders, ...gatewayError?.headers, [REJECT_REASON_HEADER]: reason, 'content-type': 'application/grpc' });
      // The reason and Retry-After go in the trailers too: gRPC clients hand the trailing metadata to the caller with the error.
      response.addTrailers({ ...gatewayError?.headers, [REJECT_REASON_HEADER]: reason, 'grpc-status': String(gatewayError?.grpcStatus ?? GRPC_STATUS_INTERNAL), 'grpc-message': grpcMessage(`${code}: ${message}`) });
      response.end();
      if (!exchange.request.complete) exchange.request.resume();
      return status;
    }
    const body = JSON.stringify({ code, reason, message });
    response.writeHead(status, {
      ...exchange.responseHeaders, ...gatewayError?.headers, [REJECT_REASON_HEADER]: reason, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
    });
    response.end(body);
    // an unread request body would otherwise hold the keep-alive connection
    if (!exchange.request.complete) exchange.request.resume();
    return status;
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
        ? new ActiveHealthChecker(healthConfig, cluster.endpoints, this.#clock, this.#random, (endpoint, config) => this.#probe(endpoint, config, cluster.upstreamTls), ({ endpoint, healthy }) => {
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
