/**
 * What the server sends the page over server-sent events: one `state`
 * event per poll (the latest view of everything) carrying the chart point
 * of that poll, and one `history` event on connect (the ring of points).
 * Plain JSON: the page is the only reader, and tests read it at /api/state.
 */

/** ok: answering, knows the leader, not lagging; warn: answering but no leader, lagging or alarmed; down: not answering. */
export type Health = 'ok' | 'warn' | 'down';

export interface MemberView {
  readonly name: string;
  readonly url: string;
  readonly zone: string;
  readonly health: Health;
  /** Why it is not ok, in words. */
  readonly reason?: string;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  readonly memberId?: string;
  readonly term?: number;
  /** The raft index this member reports (etcd's raftIndex: its commit index). */
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  /** Entries behind the leader's commit index. */
  readonly lag?: number;
  readonly alarms: readonly string[];
  readonly dbSizeBytes?: number;
  readonly pid?: number | null;
  readonly restarts?: number;
}

export interface ClusterView {
  readonly members: readonly MemberView[];
  /** The leader's name, when the members that answer agree on one. */
  readonly leader?: string;
  readonly term?: number;
  readonly answered: number;
}

export interface GatewayEndpointView {
  readonly cluster: string;
  readonly address: string;
  readonly zone: string;
  readonly health: Health;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly ejections: number;
  readonly draining: boolean;
  readonly inflight: number;
  readonly pending: number;
}

export interface RejectionView {
  readonly reason: string;
  readonly criticality: string;
  readonly total: number;
  /** Per second over the last poll interval; undefined on the first poll. */
  readonly perSecond?: number;
}

export interface GatewayView {
  readonly url: string;
  readonly up: boolean;
  readonly error?: string;
  readonly draining?: boolean;
  readonly inflight?: number;
  readonly endpoints: readonly GatewayEndpointView[];
  /** Refusals by reason and criticality: rate limits, load shedding, circuit-open (the gateway's breakers), no healthy upstream. */
  readonly rejections: readonly RejectionView[];
  /** Clusters whose Envoy-style circuit breaker refused requests during the last interval (reason circuit-open). */
  readonly breakersOpen: boolean;
  readonly concurrency: Readonly<Record<string, unknown>>;
}

export interface AlertView {
  readonly source: 'prometheus' | 'alertmanager';
  readonly name: string;
  /** firing or pending (Prometheus), active or suppressed (Alertmanager). */
  readonly state: string;
  readonly severity: string;
  readonly summary: string;
  readonly since?: string;
}

export interface AlertsView {
  readonly configured: boolean;
  readonly alerts: readonly AlertView[];
  /** Alerts beyond the shown bound. */
  readonly more: number;
  readonly errors: readonly string[];
}

export interface SloWindowBurn {
  /** e.g. "5m", "1h". */
  readonly window: string;
  /** Error rate divided by the error budget rate (1 = spending the budget exactly over the SLO period); null without data for the window yet. */
  readonly burnRate: number | null;
}

export interface SloStatusView {
  readonly name: string;
  /** e.g. 0.999 */
  readonly objective: number;
  /** Fraction of the error budget left over the SLO period (negative once overspent); null without data yet. */
  readonly budgetRemaining: number | null;
  readonly burnRates: readonly SloWindowBurn[];
  /** A multi-window burn-rate alert condition holds. */
  readonly alerting: boolean;
}

export interface SloView {
  readonly configured: boolean;
  readonly objectives: readonly SloStatusView[];
  readonly error?: string;
}

export interface LoadView {
  readonly configured: boolean;
  /** A keel load run answers on its --metrics-port. */
  readonly running: boolean;
  readonly vus?: number;
  readonly requestsPerSecond?: number;
  readonly failedPerSecond?: number;
  readonly requests?: number;
  readonly p99Ms?: number;
  readonly droppedIterations?: number;
}

/** One chart point per poll. A figure a source could not give is null (a gap, not a zero). */
export interface ChartPoint {
  /** ms since the epoch. */
  readonly t: number;
  readonly gatewayRps: number | null;
  readonly gatewayErrorRps: number | null;
  readonly gatewayP50Ms: number | null;
  readonly gatewayP90Ms: number | null;
  readonly gatewayP99Ms: number | null;
  readonly storeRps: number | null;
  readonly storeErrorRps: number | null;
  readonly storeP99Ms: number | null;
  readonly loadRps: number | null;
}

export interface DashboardState {
  readonly at: number;
  readonly intervalMs: number;
  readonly cluster: ClusterView;
  readonly gateway?: GatewayView;
  readonly alerts: AlertsView;
  readonly slo: SloView;
  readonly load: LoadView;
  readonly point: ChartPoint;
}
