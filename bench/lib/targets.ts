/**
 * The two systems bench/kv.ts and bench/kv-grpc.ts compare, started the
 * same way for both scripts: a fresh 3-member keel (`keel up`, fsync on)
 * and a fresh 3-member etcd 3.4 (fsync on: we never pass
 * --unsafe-no-fsync), each on loopback, each stopped by pid.
 */
import { ensureEtcdBinary, EtcdCluster, etcdVersion } from './etcd-cluster.js';
import { startKeelCluster } from './keel-cluster.js';
import { postJson } from './net.js';

export type TargetName = 'keel' | 'etcd';

export interface Target {
  readonly name: TargetName;
  /** The members' client URLs (http://127.0.0.1:port; gRPC and the JSON gateway share the port on both systems). */
  readonly endpoints: readonly string[];
  readonly describe: string;
  stop(): Promise<void>;
}

/** Parses `--targets`; exits through `usage` on an unknown name. */
export function targetNames(text: string, usage: (message: string) => never): TargetName[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) if (name !== 'keel' && name !== 'etcd') usage(`unknown target ${name}`);
  return names as TargetName[];
}

/**
 * Starts `name` with 3 members, or returns undefined (after saying why on
 * stderr) when it cannot, so the table shows an empty column instead of the
 * run failing. `keelEndpoints` benches an already running keel instead.
 */
/** How to start keel: another build, failpoints (a slow disk). */
export interface KeelStartOptions {
  readonly bin?: string;
  readonly failpoints?: string;
}

export async function startTarget(name: TargetName, keelEndpoints: string | undefined, keel: KeelStartOptions = {}): Promise<Target | undefined> {
  if (name === 'keel') {
    if (keelEndpoints !== undefined) return { name, endpoints: keelEndpoints.split(','), describe: `keel at ${keelEndpoints}`, stop: async () => {} };
    try {
      const cluster = await startKeelCluster({ size: 3, fsync: true, ...keel });
      const extras = [keel.bin ? `binary ${keel.bin}` : '', keel.failpoints ? `KEEL_FAILPOINTS=${keel.failpoints}` : ''].filter((text) => text !== '');
      return { name, endpoints: cluster.endpoints, describe: `keel: 3 nodes (keel up)${extras.length > 0 ? `, ${extras.join(', ')}` : ''}`, stop: () => cluster.stop() };
    } catch (error) {
      console.error(`keel: ${(error as Error).message}; keel columns left empty`);
      return undefined;
    }
  }
  const binary = ensureEtcdBinary((line) => console.error(line));
  if (binary === undefined) {
    console.error('etcd: not installed and cannot install (apt-get install -y etcd-server as root); etcd columns left empty');
    return undefined;
  }
  const cluster = await EtcdCluster.start({ size: 3, binary });
  return { name, endpoints: cluster.endpoints, describe: `${etcdVersion(binary)}: 3 members on loopback, fsync on, data in ${cluster.dataRoot}`, stop: () => cluster.stop() };
}

/** The member the leader-bound mode sends to: the one whose status names itself leader. */
export async function leaderEndpoint(endpoints: readonly string[]): Promise<string> {
  for (const endpoint of endpoints) {
    const status = (await postJson(endpoint, '/v3/maintenance/status', {}, 2_000)) as { leader?: string; header?: { member_id?: string } };
    if (status.leader !== undefined && status.leader === status.header?.member_id) return endpoint;
  }
  throw new Error('no member reports itself leader');
}

/**
 * Starts each target in turn, runs `bench` against it and stops it (also on
 * SIGINT), so the two systems never share the machine with each other.
 */
export async function benchEach<Result>(names: readonly TargetName[], keelEndpoints: string | undefined, bench: (target: Target) => Promise<Result>, keel: KeelStartOptions = {}): Promise<{ results: Map<TargetName, Result>; descriptions: string[] }> {
  const results = new Map<TargetName, Result>();
  const descriptions: string[] = [];
  for (const name of names) {
    const target = await startTarget(name, keelEndpoints, keel);
    if (target === undefined) continue;
    descriptions.push(target.describe);
    const stopOnSignal = (): void => {
      void target.stop().finally(() => process.exit(1));
    };
    process.once('SIGINT', stopOnSignal);
    try {
      results.set(name, await bench(target));
    } finally {
      process.removeListener('SIGINT', stopOnSignal);
      await target.stop();
    }
  }
  return { results, descriptions };
}
