import { EventEmitter } from 'node:events';
import { pollAlerts } from './alerts-poll.js';
import { pollCluster, type MemberCounters } from './cluster-poll.js';
import { pollGateway, type GatewayPoll } from './gateway-poll.js';
import { HISTORY_POINTS_MAX } from './limits.js';
import { pollLoad } from './load-poll.js';
import { addBuckets, bucketIncrease, quantileOf, type Buckets } from './prometheus-text.js';
import { CounterRates } from './rates.js';
import { Ring } from './ring.js';
import { pollSlo, type SloSource } from './slo-panel.js';
import type { ChartPoint, ClusterView, DashboardState, GatewayView, LoadView, RejectionView } from './state.js';
import type { TargetSource } from './targets.js';

export interface CollectorOptions {
  readonly targets: TargetSource;
  readonly intervalMs: number;
  readonly prometheusUrl?: string;
  readonly alertmanagerUrl?: string;
  /** A keel load run's live metrics URL (http://127.0.0.1:<--metrics-port>/metrics). */
  readonly loadMetricsUrl?: string;
  readonly slo?: SloSource;
}

/**
 * Polls every target once per interval (never two polls at once: the next
 * starts an interval after the last one ended, so a slow target slows the
 * dashboard rather than piling requests on itself), turns counters into
 * rates and histograms into quantiles, keeps a bounded ring of chart points,
 * and emits `state` after every poll.
 */
export class Collector extends EventEmitter<{ state: [DashboardState] }> {
  readonly #options: CollectorOptions;
  readonly #rates = new CounterRates();
  readonly #history = new Ring<ChartPoint>(HISTORY_POINTS_MAX);
  /** Each histogram's cumulative buckets at the last poll, by source key. */
  readonly #lastBuckets = new Map<string, Buckets>();
  #state: DashboardState | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(options: CollectorOptions) {
    super();
    this.#options = options;
  }

  get state(): DashboardState | undefined {
    return this.#state;
  }

  history(): ChartPoint[] {
    return this.#history.toArray();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.pollOnce();
    } catch {
      // every poller reports failures in its view; this guards the loop against a bug, so one bad poll never stops the dashboard
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#loop(), this.#options.intervalMs);
  }

  /** One poll of everything; resolves with the new state (also emitted). */
  async pollOnce(): Promise<DashboardState> {
    const targets = this.#options.targets.read();
    const gatewayJob = targets.gatewayAdminUrl === undefined ? Promise.resolve(undefined) : pollGateway(targets.gatewayAdminUrl);
    const [gateway, alerts, slo, load] = await Promise.all([
      gatewayJob,
      pollAlerts(this.#options.prometheusUrl, this.#options.alertmanagerUrl),
      pollSlo(this.#options.slo),
      this.#options.loadMetricsUrl === undefined ? Promise.resolve(undefined) : pollLoad(this.#options.loadMetricsUrl),
    ]);
    const zones = new Map((gateway?.endpoints ?? []).map((endpoint) => [endpoint.address, endpoint.zone]));
    const cluster = await pollCluster(targets.members, (url) => zones.get(new URL(url).host));
    const at = Date.now();
    this.#rates.retain(new Set([...targets.members.map((member) => `member ${member.name}`), ...targets.members.map((member) => `member-failed ${member.name}`), 'gateway', 'gateway-5xx', 'load', 'load-failed', ...[...(gateway?.rejections.keys() ?? [])].map((key) => `reject ${key}`)]));
    const store = this.#storeFigures(cluster.counters, at);
    const gatewayView = gateway && targets.gatewayAdminUrl !== undefined ? this.#gatewayView(targets.gatewayAdminUrl, gateway, at) : undefined;
    const gatewayFigures = gateway ? this.#gatewayFigures(gateway, at) : { rps: null, errorRps: null, p50: null, p90: null, p99: null };
    const loadView = this.#loadView(load, at);
    const point: ChartPoint = {
      t: at,
      gatewayRps: gatewayFigures.rps,
      gatewayErrorRps: gatewayFigures.errorRps,
      gatewayP50Ms: gatewayFigures.p50,
      gatewayP90Ms: gatewayFigures.p90,
      gatewayP99Ms: gatewayFigures.p99,
      storeRps: store.rps,
      storeErrorRps: store.errorRps,
      storeP99Ms: store.p99,
      loadRps: loadView.requestsPerSecond ?? null,
    };
    this.#history.push(point);
    const state: DashboardState = {
      at,
      intervalMs: this.#options.intervalMs,
      cluster: cluster.view satisfies ClusterView,
      ...(gatewayView ? { gateway: gatewayView } : {}),
      alerts,
      slo,
      load: loadView,
      point,
    };
    this.#state = state;
    this.emit('state', state);
    return state;
  }

  /** Store requests per second, server errors per second and p99 across members (a member down this poll is left out). */
  #storeFigures(counters: readonly MemberCounters[], at: number): { rps: number | null; errorRps: number | null; p99: number | null } {
    let rps: number | null = null;
    let errorRps: number | null = null;
    const increases: Buckets[] = [];
    for (const member of counters) {
      const handled = this.#rates.rate(`member ${member.name}`, member.handled, at);
      const failed = this.#rates.rate(`member-failed ${member.name}`, member.failed, at);
      if (handled !== undefined) rps = (rps ?? 0) + handled;
      if (failed !== undefined) errorRps = (errorRps ?? 0) + failed;
      const increase = this.#bucketIncrease(`member ${member.name}`, member.latencyBuckets);
      if (increase) increases.push(increase);
    }
    const p99 = increases.length === 0 ? undefined : quantileOf(addBuckets(increases), 0.99);
    return { rps, errorRps, p99: p99 === undefined ? null : p99 * 1000 };
  }

  #gatewayFigures(gateway: GatewayPoll, at: number): { rps: number | null; errorRps: number | null; p50: number | null; p90: number | null; p99: number | null } {
    const rps = this.#rates.rate('gateway', gateway.requests, at);
    const errorRps = this.#rates.rate('gateway-5xx', gateway.errors, at);
    const increase = this.#bucketIncrease('gateway', gateway.latencyBuckets);
    const ms = (quantile: number): number | null => {
      const value = increase ? quantileOf(increase, quantile) : undefined;
      return value === undefined ? null : value * 1000;
    };
    return { rps: rps ?? null, errorRps: errorRps ?? null, p50: ms(0.5), p90: ms(0.9), p99: ms(0.99) };
  }

  #bucketIncrease(key: string, buckets: Buckets | undefined): Buckets | undefined {
    if (!buckets) {
      this.#lastBuckets.delete(key);
      return undefined;
    }
    const before = this.#lastBuckets.get(key);
    this.#lastBuckets.set(key, buckets);
    return before ? bucketIncrease(before, buckets) : undefined;
  }

  #gatewayView(url: string, gateway: GatewayPoll, at: number): GatewayView {
    const rejections: RejectionView[] = [...gateway.rejections].map(([key, entry]) => {
      const perSecond = this.#rates.rate(`reject ${key}`, entry.total, at);
      return { ...entry, ...(perSecond === undefined ? {} : { perSecond }) };
    });
    return {
      url,
      up: gateway.up,
      ...(gateway.error === undefined ? {} : { error: gateway.error }),
      ...(gateway.draining === undefined ? {} : { draining: gateway.draining }),
      ...(gateway.inflight === undefined ? {} : { inflight: gateway.inflight }),
      endpoints: gateway.endpoints,
      rejections,
      breakersOpen: rejections.some((rejection) => rejection.reason === 'circuit-open' && (rejection.perSecond ?? 0) > 0),
      concurrency: gateway.concurrency,
    };
  }

  #loadView(load: Awaited<ReturnType<typeof pollLoad>> | undefined, at: number): LoadView {
    if (load === undefined) return { configured: false, running: false };
    const requestsPerSecond = this.#rates.rate('load', load.requests, at);
    const failedPerSecond = this.#rates.rate('load-failed', load.failed, at);
    return {
      configured: true,
      running: load.running,
      ...(load.vus === undefined ? {} : { vus: load.vus }),
      ...(load.requests === undefined ? {} : { requests: load.requests }),
      ...(requestsPerSecond === undefined ? {} : { requestsPerSecond }),
      ...(failedPerSecond === undefined ? {} : { failedPerSecond }),
      ...(load.p99Ms === undefined ? {} : { p99Ms: load.p99Ms }),
      ...(load.droppedIterations === undefined ? {} : { droppedIterations: load.droppedIterations }),
    };
  }
}
