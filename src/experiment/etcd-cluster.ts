import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterView } from '../chaos/index.js';
import { waitUntil } from '../chaos/campaign/index.js';
import { chaosFactory, type ExperimentCluster } from './cluster.js';
import { ExperimentError } from './errors.js';
import { CLUSTER_READY_TIMEOUT_MS } from './limits.js';
import { freePorts } from './ports.js';
import { logTail, supervisedGroup, type Supervised } from './supervised.js';

/**
 * The control runs' cluster: real etcd processes (Debian's etcd-server 3.4,
 * /usr/bin/etcd) on loopback, fsync on, started by this process and known by
 * their pids. Like keel up, it restarts a member that exits while the run
 * goes on (a kill -9 from the fault schedule), at most RESTARTS_MAX
 * times; faults are keel chaos's process faults on those pids. There are no
 * network namespaces and no gateway: partitions, netem and failpoints are
 * refused when the file is read (schema.ts).
 */

export const ETCD_BINARY_DEFAULT = '/usr/bin/etcd';
const HEALTH_CALL_TIMEOUT_MS = 1_000;

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly args: readonly string[];
}

export async function openEtcdCluster(spec: { readonly members: number; readonly binary?: string | undefined }, options: { readonly stateDir: string; readonly seed: number; readonly workDir: string }): Promise<ExperimentCluster> {
  const binary = spec.binary ?? process.env['ETCD_BIN'] ?? ETCD_BINARY_DEFAULT;
  if (!existsSync(binary)) throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `etcd is not installed at ${binary} (apt-get install etcd-server, or set configuration.cluster.binary)`);
  const root = join(options.workDir, 'etcd');
  mkdirSync(root, { recursive: true });
  const ports = await freePorts(spec.members * 2);
  const names = Array.from({ length: spec.members }, (_, index) => `m${index + 1}`);
  const peerUrls = names.map((_, index) => `http://127.0.0.1:${ports[spec.members + index]}`);
  const initialCluster = names.map((name, index) => `${name}=${peerUrls[index]}`).join(',');
  const token = `keel-experiment-${process.pid}-${Date.now().toString(36)}`;
  const members: Member[] = names.map((name, index) => {
    const clientUrl = `http://127.0.0.1:${ports[index]}`;
    const args = [
      '--name', name, '--data-dir', join(root, name),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrls[index]!, '--initial-advertise-peer-urls', peerUrls[index]!,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--logger', 'zap', '--log-level', 'warn',
    ];
    return { name, clientUrl, args };
  });
  const group = supervisedGroup();
  let processes: Supervised[] = [];
  const view = (): ClusterView => ({ members: members.map((member, index) => ({ id: member.name, zone: '', clientUrl: member.clientUrl, pid: processes[index]?.pid() ?? null })) });
  const stop = async (): Promise<void> => {
    await group.stop();
    rmSync(root, { recursive: true, force: true });
  };
  const cluster: ExperimentCluster = {
    kind: 'etcd',
    dataDir: root,
    view,
    endpoints: members.map((member) => member.clientUrl),
    gatewayUrl: undefined,
    chaos: chaosFactory(() => ({ cluster: view() }), options),
    isReady: etcdHealthy,
    waitReady: (timeoutMs) => waitUntil(async () => processes.every((member) => member.pid() !== null) && (await Promise.all(members.map((member) => etcdHealthy(member.clientUrl)))).every(Boolean), timeoutMs, 'etcd serving'),
    stop,
  };
  try {
    processes = members.map((member) => group.add(member.name, binary, member.args, join(root, `${member.name}.log`)));
    await cluster.waitReady(CLUSTER_READY_TIMEOUT_MS);
    return cluster;
  } catch (error) {
    const logs = members.map((member) => logTail(join(root, `${member.name}.log`))).filter((text) => text !== '').join(' | ');
    await stop();
    throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `etcd did not serve: ${(error as Error).message}${logs === '' ? '' : `: ${logs}`}`);
  }
}

/** etcd 3.4 has no /readyz: /health answers {"health":"true"} once the member has a leader. */
async function etcdHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(HEALTH_CALL_TIMEOUT_MS) });
    return response.ok && ((await response.json()) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}
