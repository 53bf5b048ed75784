import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetns, destroyNetns, inNetns, planNetns, subnetInUse, type ClusterView, type NetnsCluster } from '../chaos/index.js';
import { waitUntil } from '../chaos/campaign/index.js';
import { chaosFactory, keelMain, type ExperimentCluster } from './cluster.js';
import { ExperimentError } from './errors.js';
import { CLUSTER_READY_TIMEOUT_MS } from './limits.js';
import { freePorts } from './ports.js';
import { logTail, supervisedGroup, type Supervised } from './supervised.js';

/**
 * The control runs' cluster: real etcd processes (Debian's etcd-server 3.4,
 * /usr/bin/etcd), fsync on, started by this process and known by their pids.
 * Like keel up, it restarts a member that exits while the run goes on (a
 * kill -9 from the fault schedule), at most RESTARTS_MAX times. On loopback
 * its faults are keel chaos's process faults on those pids. With `netns`
 * each member runs in its own network namespace on a bridge, laid out as
 * keel up --netns lays out keel's (chaos/netns.ts: 198.18.<k>.0/24), and
 * the view names each member's namespace and address, so keel chaos's
 * partitions and link faults (nft and tc inside the namespaces) hit etcd's
 * peer traffic as they hit keel's. No gateway, no failpoints: those are
 * refused when the file is read (schema.ts).
 */

export const ETCD_BINARY_DEFAULT = '/usr/bin/etcd';
const HEALTH_CALL_TIMEOUT_MS = 1_000;
/** In a namespace each member has its own address, so etcd's own ports serve. */
const NETNS_CLIENT_PORT = 2379;
const NETNS_PEER_PORT = 2380;
/** Cluster names tried for a /24 of 198.18.0.0/15 no interface of the host holds yet. */
const NETNS_NAME_ATTEMPTS_MAX = 64;

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  /** The command and its arguments: etcd, or `ip netns exec <ns> etcd` (which execs etcd: the pid is etcd's). */
  readonly command: readonly [string, ...string[]];
  readonly netns?: string;
  readonly address?: string;
}

export async function openEtcdCluster(spec: { readonly members: number; readonly binary?: string | undefined; readonly netns?: boolean; readonly gateway?: boolean }, options: { readonly stateDir: string; readonly seed: number; readonly workDir: string }): Promise<ExperimentCluster> {
  const binary = spec.binary ?? process.env['ETCD_BIN'] ?? ETCD_BINARY_DEFAULT;
  if (!existsSync(binary)) throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `etcd is not installed at ${binary} (apt-get install etcd-server, or set configuration.cluster.binary)`);
  const root = join(options.workDir, 'etcd');
  mkdirSync(root, { recursive: true });
  const names = Array.from({ length: spec.members }, (_, index) => `n${index + 1}`);
  const network = spec.netns ? freeNetnsPlan(names) : undefined;
  const ports = network ? [] : await freePorts(spec.members * 2);
  const [gatewayPort, adminPort] = spec.gateway ? ((await freePorts(2)) as [number, number]) : [undefined, undefined];
  const hostOf = (index: number): string => network?.members[index]!.address ?? '127.0.0.1';
  const peerUrls = names.map((_, index) => `http://${hostOf(index)}:${network ? NETNS_PEER_PORT : ports[spec.members + index]}`);
  const initialCluster = names.map((name, index) => `${name}=${peerUrls[index]}`).join(',');
  const token = `keel-experiment-${process.pid}-${Date.now().toString(36)}`;
  const members: Member[] = names.map((name, index) => {
    const clientUrl = `http://${hostOf(index)}:${network ? NETNS_CLIENT_PORT : ports[index]}`;
    const args = [
      '--name', name, '--data-dir', join(root, name),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrls[index]!, '--initial-advertise-peer-urls', peerUrls[index]!,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--logger', 'zap', '--log-level', 'warn',
    ];
    const netns = network?.members[index]!.netns;
    if (netns === undefined) return { name, clientUrl, command: [binary, ...args] };
    return { name, clientUrl, command: [...(inNetns(netns) as [string, ...string[]]), binary, ...args], netns, address: hostOf(index) };
  });
  const group = supervisedGroup();
  let processes: Supervised[] = [];
  let gateway: Supervised | undefined;
  const gatewayUrl = gatewayPort === undefined ? undefined : `http://127.0.0.1:${gatewayPort}`;
  const view = (): ClusterView => ({
    // This process supervises the members (supervised.ts): keel chaos's restart waits for it, never relaunches one itself.
    supervisorPid: process.pid,
    ...(gatewayUrl !== undefined ? { gateway: { url: gatewayUrl, pid: gateway?.pid() ?? null } } : {}),
    members: members.map((member, index) => ({
      id: member.name,
      zone: '',
      clientUrl: member.clientUrl,
      pid: processes[index]?.pid() ?? null,
      ...(member.netns !== undefined && member.address !== undefined ? { netns: member.netns, address: member.address } : {}),
    })),
  });
  const stop = async (): Promise<void> => {
    await group.stop();
    // After the members: a namespace goes once nothing runs in it; its nft tables and qdiscs (a fault not yet healed) go with it.
    if (network) destroyNetns(network);
    rmSync(root, { recursive: true, force: true });
  };
  const cluster: ExperimentCluster = {
    kind: 'etcd',
    dataDir: root,
    view,
    endpoints: members.map((member) => member.clientUrl),
    gatewayUrl,
    chaos: chaosFactory(() => ({ cluster: view(), reloadCluster: view }), options),
    isReady: etcdHealthy,
    waitReady: (timeoutMs) => waitUntil(async () => processes.every((member) => member.pid() !== null) && (gateway === undefined || gateway.pid() !== null) && (await Promise.all([...members.map((member) => etcdHealthy(member.clientUrl)), ...(adminPort === undefined ? [] : [answersOk(`http://127.0.0.1:${adminPort}/readyz`)])])).every(Boolean), timeoutMs, 'etcd serving'),
    stop,
  };
  if (network) {
    try {
      createNetns(network); // undoes itself when it fails halfway
    } catch (error) {
      rmSync(root, { recursive: true, force: true });
      throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `etcd members in network namespaces (configuration.cluster.netns, or --cluster etcd for network faults): ${(error as Error).message}`);
    }
  }
  try {
    processes = members.map((member) => group.add(member.name, member.command[0], member.command.slice(1), join(root, `${member.name}.log`)));
    if (gatewayPort !== undefined && adminPort !== undefined) {
      const configFile = join(root, 'gateway.yaml');
      writeFileSync(configFile, etcdGatewayConfig(members, gatewayPort, adminPort));
      gateway = group.add('gateway', process.execPath, [...process.execArgv, keelMain(), 'gateway', '--config', configFile, '--log-level', 'warn'], join(root, 'gateway.log'));
    }
    await cluster.waitReady(CLUSTER_READY_TIMEOUT_MS);
    return cluster;
  } catch (error) {
    const logs = members.map((member) => logTail(join(root, `${member.name}.log`))).filter((text) => text !== '').join(' | ');
    await stop();
    throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `etcd did not serve: ${(error as Error).message}${logs === '' ? '' : `: ${logs}`}`);
  }
}

/**
 * The namespaces of a fresh etcd cluster: named for this process, on a /24
 * no interface of the host holds (keel up --netns clusters, other runs), so
 * two clusters never share a bridge subnet.
 */
function freeNetnsPlan(names: readonly string[]): NetnsCluster {
  for (let attempt = 0; attempt < NETNS_NAME_ATTEMPTS_MAX; attempt++) {
    const plan = planNetns(`etcd${process.pid.toString(36)}${attempt === 0 ? '' : `-${attempt}`}`, names);
    if (!subnetInUse(plan)) return plan;
  }
  throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `no free /24 in 198.18.0.0/16 after ${NETNS_NAME_ATTEMPTS_MAX} cluster names`);
}

/**
 * The gateway keel up puts in front of keel members (least-request, health
 * checks), in front of etcd: 3.4 has no /readyz, /health answers 200 once the
 * member has a leader (503 without). No zones: the etcd members have none.
 */
function etcdGatewayConfig(members: readonly Member[], port: number, adminPort: number): string {
  return [
    'zone: a',
    `listeners: [{ port: ${port}, protocol: auto }]`,
    `admin: { port: ${adminPort} }`,
    'routes:',
    '  - { name: store, match: { prefix: / }, cluster: etcd }',
    'clusters:',
    '  etcd:',
    '    protocol: http1',
    '    balancer: least-request',
    '    endpoints:',
    ...members.map((member) => `      - { address: "${new URL(member.clientUrl).host}" }`),
    '    healthCheck: { path: /health, intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 }',
    '',
  ].join('\n');
}

async function answersOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(HEALTH_CALL_TIMEOUT_MS) })).ok;
  } catch {
    return false;
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
