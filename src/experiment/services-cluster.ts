import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ClusterView } from '../chaos/index.js';
import { waitUntil } from '../chaos/campaign/index.js';
import { backendSource } from './backend.js';
import { chaosFactory, keelMain, type ExperimentCluster } from './cluster.js';
import { ExperimentError } from './errors.js';
import { CLUSTER_READY_TIMEOUT_MS } from './limits.js';
import { freePorts } from './ports.js';
import type { ServicesSpec } from './schema.js';
import { servicesGatewayConfig } from './services-config.js';
import { logTail, supervisedGroup } from './supervised.js';

/**
 * The cluster of the gateway scenarios (retry storm, cascading failure,
 * overload): no store, but backends of a fixed capacity (backend.ts) and
 * a keel gateway in front of them with the file's config, each a process
 * this run starts on loopback and starts again when a fault kills it (the
 * supervisor, as keel up is for members). To keel chaos the backends are
 * the members (selectors `b1`, `all`, `pid:N`) and the gateway is
 * `gateway`. Their logs and the gateway's config stay in the output dir
 * (`services/`).
 */

const READY_CALL_TIMEOUT_MS = 1_000;

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(READY_CALL_TIMEOUT_MS) })).ok;
  } catch {
    return false;
  }
}

export async function openServicesCluster(spec: ServicesSpec, options: { readonly stateDir: string; readonly seed: number; readonly workDir: string }): Promise<ExperimentCluster> {
  const root = join(options.workDir, 'services');
  mkdirSync(root, { recursive: true });
  const ports = await freePorts(spec.backends.length + 2);
  const [gatewayPort, adminPort] = ports.slice(spec.backends.length) as [number, number];
  const backends = spec.backends.map((backend, index) => ({ ...backend, port: ports[index]!, url: `http://127.0.0.1:${ports[index]!}` }));
  const addresses = new Map(backends.map((backend) => [backend.id, `127.0.0.1:${backend.port}`]));
  const configFile = join(root, 'gateway.yaml');
  writeFileSync(configFile, stringify(servicesGatewayConfig(spec.gateway, addresses, gatewayPort, adminPort)));
  const group = supervisedGroup();
  const running = backends.map((backend) => group.add(backend.id, process.execPath, ['-e', backendSource(backend.port, { delayMs: backend.delay, capacity: backend.capacity })], join(root, `${backend.id}.log`)));
  const gateway = group.add('gateway', process.execPath, [...process.execArgv, keelMain(), 'gateway', '--config', configFile, '--log-level', 'warn'], join(root, 'gateway.log'));
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const view = (): ClusterView => ({
    members: backends.map((backend, index) => ({ id: backend.id, zone: '', clientUrl: backend.url, pid: running[index]!.pid() })),
    gateway: { url: gatewayUrl, pid: gateway.pid() },
  });
  const isReady = (url: string): Promise<boolean> => answers(`${url}/__keel/stats`);
  const cluster: ExperimentCluster = {
    kind: 'services',
    dataDir: root,
    view,
    endpoints: backends.map((backend) => backend.url),
    gatewayUrl,
    chaos: chaosFactory(() => ({ cluster: view() }), options),
    isReady,
    waitReady: (timeoutMs) => waitUntil(async () => {
      if (gateway.pid() === null || running.some((backend) => backend.pid() === null)) return false;
      const checks = await Promise.all([...backends.map((backend) => isReady(backend.url)), answers(`http://127.0.0.1:${adminPort}/readyz`)]);
      return checks.every(Boolean);
    }, timeoutMs, 'the backends and the gateway serving'),
    // The logs and the gateway's config stay in the output dir: there is no data to remove.
    stop: () => group.stop(),
  };
  try {
    await cluster.waitReady(CLUSTER_READY_TIMEOUT_MS);
    return cluster;
  } catch (error) {
    const log = logTail(join(root, 'gateway.log'));
    await cluster.stop();
    throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `the services did not serve: ${(error as Error).message}${log === '' ? '' : `: gateway: ${log}`}`);
  }
}
