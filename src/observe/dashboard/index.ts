/**
 * keel's live dashboard: a server that polls a cluster's members, its
 * gateway, and optionally Prometheus, Alertmanager, a keel load run and an
 * SLO evaluator, and serves one page that follows it over server-sent
 * events. `keel dashboard` and `keel up` run it; `startDashboard` embeds it.
 */
import { Collector } from './collector.js';
import { DashboardError } from './errors.js';
import { POLL_INTERVAL_MS_DEFAULT, POLL_INTERVAL_MS_MAX, POLL_INTERVAL_MS_MIN } from './limits.js';
import { serveDashboard } from './server.js';
import type { SloSource } from './slo-panel.js';
import { evaluatorSloSource } from './slo-evaluator-source.js';
import type { DashboardState } from './state.js';
import type { TargetSource } from './targets.js';

export { DashboardError, isDashboardError, DASHBOARD_ERROR_CODES, type DashboardErrorCode } from './errors.js';
export { ClusterFileTargets, FixedTargets, parseEndpointList, parseTargetUrl, type MemberTarget, type Targets, type TargetSource } from './targets.js';
export type { SloSource } from './slo-panel.js';
export type * from './state.js';
export { Collector } from './collector.js';

export interface DashboardOptions {
  readonly targets: TargetSource;
  readonly port: number;
  /** Default 127.0.0.1: the page shows the cluster's layout, keep it on loopback unless it is meant to be seen. */
  readonly host?: string;
  readonly intervalMs?: number;
  readonly prometheusUrl?: string;
  readonly alertmanagerUrl?: string;
  readonly loadMetricsUrl?: string;
  /** An OpenSLO file (docs/observe-slo.md), evaluated with `prometheusUrl` if given, else by scraping the members' and gateway's /metrics. */
  readonly sloFile?: string;
  /** Or an evaluator of one's own. */
  readonly slo?: SloSource;
}

export interface Dashboard {
  readonly url: string;
  readonly collector: Collector;
  /** The latest state, after the first poll. */
  readonly state: DashboardState | undefined;
  close(): Promise<void>;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS_DEFAULT;
  if (!Number.isInteger(intervalMs) || intervalMs < POLL_INTERVAL_MS_MIN || intervalMs > POLL_INTERVAL_MS_MAX) {
    throw new DashboardError('KEEL_DASH_BAD_INPUT', `intervalMs: must be an integer in [${POLL_INTERVAL_MS_MIN}, ${POLL_INTERVAL_MS_MAX}], got ${intervalMs}`);
  }
  const slo = options.slo ?? sloSourceFor(options, intervalMs);
  const collector = new Collector({
    targets: options.targets,
    intervalMs,
    ...(options.prometheusUrl === undefined ? {} : { prometheusUrl: options.prometheusUrl }),
    ...(options.alertmanagerUrl === undefined ? {} : { alertmanagerUrl: options.alertmanagerUrl }),
    ...(options.loadMetricsUrl === undefined ? {} : { loadMetricsUrl: options.loadMetricsUrl }),
    ...(slo === undefined ? {} : { slo }),
  });
  let server;
  try {
    server = await serveDashboard(collector, options.port, options.host ?? '127.0.0.1');
  } catch (error) {
    await slo?.close?.();
    throw error;
  }
  const listening = server;
  collector.start();
  return {
    url: listening.url,
    collector,
    get state() {
      return collector.state;
    },
    close: async () => {
      collector.stop();
      await listening.close();
      await slo?.close?.();
    },
  };
}

function sloSourceFor(options: DashboardOptions, intervalMs: number): SloSource | undefined {
  if (options.sloFile === undefined) return undefined;
  const targets = options.targets.read();
  const scrapeUrls = [...targets.members.map((member) => `${member.url}/metrics`), ...(targets.gatewayAdminUrl === undefined ? [] : [`${targets.gatewayAdminUrl}/metrics`])];
  return evaluatorSloSource(options.sloFile, { ...(options.prometheusUrl === undefined ? {} : { prometheusUrl: options.prometheusUrl }), scrapeUrls, scrapeIntervalMs: intervalMs });
}
export { UP_DASHBOARD_PORT_DEFAULT, dashboardChildArgs, dashboardUrlOf } from './supervised.js';
