import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChaos, readClusterView, type Chaos, type ChaosOptions, type ClusterView } from '../chaos/index.js';
import { isReady, waitUntil } from '../chaos/campaign/index.js';
import { planCluster } from '../cli/up.js';
import { ExperimentError } from './errors.js';
import { CLUSTER_READY_TIMEOUT_MS, CLUSTER_STOP_GRACE_MS } from './limits.js';
import { openEtcdCluster } from './etcd-cluster.js';
import { canBind, freePorts } from './ports.js';
import { openServicesCluster } from './services-cluster.js';
import type { ClusterSpec } from './schema.js';

/**
 * The cluster an experiment runs on: a fresh `keel up` (stopped after the
 * run) or an existing keel up data dir. Faults go through keel chaos on its
 * cluster.json; keel up's supervisor restarts what a fault kills.
 */
export interface ExperimentCluster {
  /** keel (keel up), etcd (a control run), or services (backends behind a keel gateway: services-cluster.ts). */
  readonly kind: 'keel' | 'etcd' | 'services';
  readonly dataDir: string;
  view(): ClusterView;
  /** The members' client URLs. */
  readonly endpoints: readonly string[];
  readonly gatewayUrl: string | undefined;
  /** A fault injector; each call seeds its picks from the experiment's seed in turn. */
  chaos(): Chaos;
  /** Whether one member serves (keel: /readyz; etcd 3.4: /health). */
  isReady(clientUrl: string): Promise<boolean>;
  /** Resolves once every member runs and serves. */
  waitReady(timeoutMs: number): Promise<void>;
  /** Stops what this experiment started (nothing for an existing cluster). */
  stop(): Promise<void>;
}

const PORT_ATTEMPTS_MAX = 200;
const STDERR_TAIL_BYTES = 4_096;

export async function openCluster(spec: ClusterSpec, options: { readonly stateDir: string; readonly seed: number; readonly workDir: string }): Promise<ExperimentCluster> {
  if ('data-dir' in spec) return attach(spec['data-dir'], options, async () => {});
  if ('kind' in spec && spec.kind === 'etcd') return openEtcdCluster(spec, options);
  if ('kind' in spec && spec.kind === 'services') return openServicesCluster(spec, options);
  const dataDir = join(options.workDir, 'cluster');
  // A fresh cluster's data goes once the run is over: the journal, history and report are what the run leaves.
  const base = await freeUpBase(spec.members);
  const [gatewayPort, adminPort] = await freePorts(2);
  const args = ['up', '--quiet', '--no-dashboard', '--nodes', String(spec.members), '--base-port', String(base), '--data-dir', dataDir];
  if (spec.gateway) args.push('--gateway-port', String(gatewayPort), '--admin-port', String(adminPort));
  else args.push('--no-gateway');
  if (spec.netns) args.push('--netns');
  if (spec['tick-ms'] !== undefined) args.push('--tick-ms', String(spec['tick-ms']));
  // keel up's members inherit its environment: the failpoint API is switched on for them only when the file asks.
  const env = spec.failpoints ? { ...process.env, KEEL_FAILPOINT_API: '1' } : process.env;
  const up = spawn(process.execPath, [...process.execArgv, keelMain(), ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: false, env });
  let stderr = '';
  up.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_BYTES)));
  const exited = new Promise<void>((resolve) => up.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    await stopUp(up, exited);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      if (up.exitCode !== null) throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `keel up exited (${up.exitCode}): ${stderr.trim()}`);
      return existsSync(join(dataDir, 'cluster.json')) && readClusterView(dataDir).members.length === spec.members;
    }, CLUSTER_READY_TIMEOUT_MS, 'keel up to write cluster.json');
    const cluster = attach(dataDir, options, stop);
    await cluster.waitReady(CLUSTER_READY_TIMEOUT_MS);
    if (spec.gateway) await waitUntil(async () => (await fetch(`${cluster.gatewayUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined))?.status !== undefined, CLUSTER_READY_TIMEOUT_MS, 'the gateway');
    return cluster;
  } catch (error) {
    await stop();
    if (ExperimentError.is(error)) throw error;
    throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `keel up did not serve: ${(error as Error).message}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`);
  }
}

function attach(dataDir: string, options: { readonly stateDir: string; readonly seed: number }, stop: () => Promise<void>): ExperimentCluster {
  let view: ClusterView;
  try {
    view = readClusterView(dataDir);
  } catch (error) {
    throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', (error as Error).message);
  }
  return {
    kind: 'keel',
    dataDir,
    isReady,
    view: () => readClusterView(dataDir),
    endpoints: view.members.map((member) => member.clientUrl),
    gatewayUrl: view.gateway?.url,
    chaos: chaosFactory(() => ({ dataDir }), options),
    // Every member, and keel up's gateway when it runs one (a fault may kill it too): the supervisor restores both.
    waitReady: (timeoutMs) => waitUntil(async () => {
      const now = readClusterView(dataDir);
      if (now.members.some((member) => member.pid === null) || now.gateway?.pid === null) return false;
      const urls = [...now.members.map((member) => member.clientUrl), ...(now.gateway !== undefined ? [now.gateway.url] : [])];
      return (await Promise.all(urls.map(isReady))).every(Boolean);
    }, timeoutMs, `keel cluster in ${dataDir} serving`),
    stop,
  };
}

/**
 * `chaos()` of a cluster: a fault injector per call on what `target` names
 * now (a keel up data dir, or a view of processes the run started), each
 * seeded from the run's seed in turn, so one seed makes the same picks.
 */
export function chaosFactory(target: () => Pick<ChaosOptions, 'dataDir' | 'cluster' | 'reloadCluster'>, options: { readonly stateDir: string; readonly seed: number }): () => Chaos {
  let injectors = 0;
  // A run heals only its own cluster's namespaces: two runs on one host must not undo each other's partitions.
  return () => createChaos({ ...target(), stateDir: options.stateDir, seed: options.seed * 10_007 + injectors++, sweepOwnOnly: true });
}

async function stopUp(up: ChildProcess, exited: Promise<void>): Promise<void> {
  if (up.exitCode !== null || up.signalCode !== null) return;
  up.kill('SIGTERM');
  const timer = setTimeout(() => up.kill('SIGKILL'), CLUSTER_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** The keel CLI this process runs from (dist/src/cli/main.js, or main.ts under tsx). */
export function keelMain(): string {
  const js = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../cli/main.ts', import.meta.url));
}

/** A keel up base port whose every client and peer port is free now (keel up spreads them by +20000, +30000, ...). */
async function freeUpBase(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const base = nodes <= 3 ? 1_100 + Math.floor(Math.random() * 1_600) : 2_000 + Math.floor(Math.random() * 3_000);
    const ports = planCluster(nodes, base, '/unused').flatMap((plan) => [plan.clientPort, plan.peerPort]);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return base;
  }
  throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `no free keel up port layout for ${nodes} members`);
}

