import { Command, InvalidArgumentError } from 'commander';
import { join, resolve } from 'node:path';
import {
  ClusterFileTargets, FixedTargets, isDashboardError, parseEndpointList, parseTargetUrl, startDashboard,
  type MemberTarget, type TargetSource,
} from '../observe/dashboard/index.js';
import { EXIT_PERMANENT } from './exit-codes.js';

/**
 * `keel dashboard`: the live web dashboard of a cluster (members, gateway,
 * charts, SLOs, alerts, a running load test). Reads the targets from a keel
 * up data dir's cluster.json, or from --endpoints and --gateway-admin.
 * SIGINT/SIGTERM close it. A port it cannot bind exits 78, so keel up does
 * not restart it in a loop.
 */

/** Where keel up serves it unless told otherwise. */
export const DASHBOARD_PORT_DEFAULT = 8090;

interface DashboardFlags {
  dataDir: string;
  endpoints?: MemberTarget[];
  gatewayAdmin?: string;
  prometheus?: string;
  alertmanager?: string;
  loadMetrics?: string;
  slo?: string;
  port: number;
  host: string;
  intervalMs: number;
}

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .description('serve a live web dashboard of a cluster: members by zone, leader, gateway, traffic charts, SLOs, alerts')
    .option('--data-dir <dir>', 'a keel up data dir (reads its cluster.json on every poll)', './.keel')
    .option('--endpoints <list>', 'members\' client URLs instead, comma-separated, each url or name=url', wrap(parseEndpointList))
    .option('--gateway-admin <url>', 'a keel gateway\'s admin URL (/clusters, /metrics); default: the one in cluster.json', urlFlag('--gateway-admin'))
    .option('--prometheus <url>', 'Prometheus to read alerts from (/api/v1/alerts)', urlFlag('--prometheus'))
    .option('--alertmanager <url>', 'Alertmanager to read alerts from (/api/v2/alerts)', urlFlag('--alertmanager'))
    .option('--load-metrics <url>', 'a keel load run\'s live metrics (keel load --metrics-port N: http://127.0.0.1:N/metrics)', urlFlag('--load-metrics'))
    .option('--slo <file>', 'an SLO file: shows budget remaining and burn rates')
    .option('--port <port>', 'where to serve the page', parsePort, DASHBOARD_PORT_DEFAULT)
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .option('--interval-ms <n>', 'poll interval', parseInterval, 1_000)
    .action(async (flags: DashboardFlags) => {
      process.exitCode = await runDashboard(flags);
    });
}

function wrap<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function urlFlag(flag: string): (value: string) => string {
  return wrap((value) => parseTargetUrl(flag, value));
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError('must be an integer port in [1, 65535]');
  return n;
}

function parseInterval(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 200 || n > 60_000) throw new InvalidArgumentError('must be an integer in [200, 60000]');
  return n;
}

async function runDashboard(flags: DashboardFlags): Promise<number> {
  let dashboard;
  try {
    const targets: TargetSource = flags.endpoints
      ? new FixedTargets({ members: flags.endpoints, ...(flags.gatewayAdmin === undefined ? {} : { gatewayAdminUrl: flags.gatewayAdmin }) })
      : new ClusterFileTargets(join(resolve(flags.dataDir), 'cluster.json'), flags.gatewayAdmin);
    dashboard = await startDashboard({
      targets,
      port: flags.port,
      host: flags.host,
      intervalMs: flags.intervalMs,
      ...(flags.prometheus === undefined ? {} : { prometheusUrl: flags.prometheus }),
      ...(flags.alertmanager === undefined ? {} : { alertmanagerUrl: flags.alertmanager }),
      ...(flags.loadMetrics === undefined ? {} : { loadMetricsUrl: flags.loadMetrics }),
      ...(flags.slo === undefined ? {} : { sloFile: flags.slo }),
    });
  } catch (error) {
    console.error(`keel dashboard: ${(error as Error).message}`);
    return isDashboardError(error) && error.code === 'KEEL_DASH_LISTEN' ? EXIT_PERMANENT : 1;
  }
  console.log(`keel dashboard: ${dashboard.url}`);
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  await dashboard.close();
  return 0;
}
