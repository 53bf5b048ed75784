/**
 * keel's live dashboard: a server that polls a cluster's members, its
 * gateway, and optionally Prometheus, Alertmanager, a keel load run and an
 * SLO evaluator, and serves one page that follows it over server-sent
 * events. `keel dashboard` and `keel up` run it; `startDashboard` embeds it.
 */
import { existsSync } from 'node:fs';
import { Collector } from './collector.js';
import { DashboardError } from './errors.js';
import { POLL_INTERVAL_MS_DEFAULT, POLL_INTERVAL_MS_MAX, POLL_INTERVAL_MS_MIN } from './limits.js';
import { serveDashboard } from './server.js';
import { UnavailableSloSource, type SloSource } from './slo-panel.js';
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
  /** An SLO file (OpenSLO YAML, see docs/observe-dashboard.md). */
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

/** Why `--slo` shows no figures in this build (the SloEvaluator is on branch `slo`, not merged here yet). */
export const SLO_EVALUATOR_MISSING = 'SLO evaluation needs keel/observe\'s SloEvaluator, which this build does not include yet; the panel will show budgets and burn rates once it does';

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS_DEFAULT;
  if (!Number.isInteger(intervalMs) || intervalMs < POLL_INTERVAL_MS_MIN || intervalMs > POLL_INTERVAL_MS_MAX) {
    throw new DashboardError('KEEL_DASH_BAD_INPUT', `intervalMs: must be an integer in [${POLL_INTERVAL_MS_MIN}, ${POLL_INTERVAL_MS_MAX}], got ${intervalMs}`);
  }
  const slo = options.slo ?? sloSourceFor(options.sloFile);
  const collector = new Collector({
    targets: options.targets,
    intervalMs,
    ...(options.prometheusUrl === undefined ? {} : { prometheusUrl: options.prometheusUrl }),
    ...(options.alertmanagerUrl === undefined ? {} : { alertmanagerUrl: options.alertmanagerUrl }),
    ...(options.loadMetricsUrl === undefined ? {} : { loadMetricsUrl: options.loadMetricsUrl }),
    ...(slo === undefined ? {} : { slo }),
  });
  const server = await serveDashboard(collector, options.port, options.host ?? '127.0.0.1');
  collector.start();
  return {
    url: server.url,
    collector,
    get state() {
      return collector.state;
    },
    close: async () => {
      collector.stop();
      await server.close();
      await slo?.close?.();
    },
  };
}

function sloSourceFor(file: string | undefined): SloSource | undefined {
  if (file === undefined) return undefined;
  if (!existsSync(file)) throw new DashboardError('KEEL_DASH_BAD_SLO', `--slo: ${file} not found`);
  return new UnavailableSloSource(SLO_EVALUATOR_MISSING);
}
export { UP_DASHBOARD_PORT_DEFAULT, dashboardChildArgs, dashboardUrlOf } from './supervised.js';
