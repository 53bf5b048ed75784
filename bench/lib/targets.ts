/**
 * The two systems bench/kv.ts and bench/kv-grpc.ts compare, started the
 * same way for both scripts: a fresh 3-member keel (`keel up`, fsync on)
 * and a fresh 3-member etcd 3.4 (fsync on: we never pass
 * --unsafe-no-fsync), each on loopback, each stopped by pid. With a run
 * PKI (`--tls`), each is also started a second time with client and peer
 * mutual TLS on that PKI (`keel up --tls`; etcd's --cert-file ... flags).
 */
import { ensureEtcdBinary, EtcdCluster, etcdVersion } from './etcd-cluster.js';
import { startKeelCluster } from './keel-cluster.js';
import { postJson } from './net.js';
import { type BenchPki, negotiated } from './tls.js';

export type TargetName = 'keel' | 'etcd';
export type Transport = 'cleartext' | 'tls';
/** How a target's results are filed: 'keel', 'etcd', 'keel tls', 'etcd tls'. */
export type TargetKey = TargetName | `${TargetName} tls`;

export function targetKey(name: TargetName, transport: Transport): TargetKey {
  return transport === 'tls' ? `${name} tls` : name;
}

export interface Target {
  readonly name: TargetName;
  readonly transport: Transport;
  /** The members' client URLs (http:// or, over TLS, https://127.0.0.1:port; gRPC and the JSON gateway share the port on both systems). */
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

/** How to start keel: another build, failpoints (a slow disk); and where both systems keep their data. */
export interface KeelStartOptions {
  readonly bin?: string;
  readonly failpoints?: string;
  /** Parent of keel's and etcd's data dirs (default os.tmpdir()), e.g. one faultfs mount with a slow fsync for both. */
  readonly dataRoot?: string;
}

/**
 * Starts `name` with 3 members, or returns undefined (after saying why on
 * stderr) when it cannot, so the table shows an empty column instead of the
 * run failing. `keelEndpoints` benches an already running keel instead.
 * With `tls`, both sides use client and peer mutual TLS on that PKI.
 */
export async function startTarget(name: TargetName, keelEndpoints: string | undefined, keel: KeelStartOptions = {}, tls?: BenchPki): Promise<Target | undefined> {
  const transport: Transport = tls === undefined ? 'cleartext' : 'tls';
  const target = await startPlain(name, transport, keelEndpoints, keel, tls);
  if (target === undefined || tls === undefined) return target;
  const cipher = await negotiated(target.endpoints[0]!, tls.clientCredentials);
  return { ...target, describe: `${target.describe}; client and peer mTLS (RSA 2048 certificates from one CA), negotiated ${cipher}` };
}

async function startPlain(name: TargetName, transport: Transport, keelEndpoints: string | undefined, keel: KeelStartOptions, tls: BenchPki | undefined): Promise<Target | undefined> {
  const label = targetKey(name, transport);
  if (name === 'keel') {
    if (keelEndpoints !== undefined) return { name, transport, endpoints: keelEndpoints.split(','), describe: `keel at ${keelEndpoints}`, stop: async () => {} };
    try {
      const cluster = await startKeelCluster({ size: 3, fsync: true, ...keel, ...(keel.dataRoot ? { tmpRoot: keel.dataRoot } : {}), ...(tls ? { tlsDir: tls.dir } : {}) });
      const extras = [keel.bin ? `binary ${keel.bin}` : '', keel.failpoints ? `KEEL_FAILPOINTS=${keel.failpoints}` : ''].filter((text) => text !== '');
      return { name, transport, endpoints: cluster.endpoints, describe: `${label}: 3 nodes (keel up${tls ? ' --tls' : ''})${extras.length > 0 ? `, ${extras.join(', ')}` : ''}`, stop: () => cluster.stop() };
    } catch (error) {
      console.error(`${label}: ${(error as Error).message}; ${label} columns left empty`);
      return undefined;
    }
  }
  const binary = ensureEtcdBinary((line) => console.error(line));
  if (binary === undefined) {
    console.error(`${label}: not installed and cannot install (apt-get install -y etcd-server as root); ${label} columns left empty`);
    return undefined;
  }
  const cluster = await EtcdCluster.start({ size: 3, binary, ...(keel.dataRoot ? { tmpRoot: keel.dataRoot } : {}), ...(tls ? { tls } : {}) });
  return { name, transport, endpoints: cluster.endpoints, describe: `${tls ? `${label}: ` : ''}${etcdVersion(binary)}: 3 members on loopback, fsync on, data in ${cluster.dataRoot}`, stop: () => cluster.stop() };
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
 * With `tls`, each system runs cleartext and then with mTLS, back to back,
 * so its TLS/cleartext ratio compares runs close in time.
 */
export async function benchEach<Result>(names: readonly TargetName[], keelEndpoints: string | undefined, bench: (target: Target) => Promise<Result>, keel: KeelStartOptions = {}, tls?: BenchPki): Promise<{ results: Map<TargetKey, Result>; descriptions: string[] }> {
  const results = new Map<TargetKey, Result>();
  const descriptions: string[] = [];
  const runs = names.flatMap((name) => (tls === undefined ? [{ name, tls }] : [{ name, tls: undefined }, { name, tls }]));
  for (const run of runs) {
    const target = await startTarget(run.name, keelEndpoints, keel, run.tls);
    if (target === undefined) continue;
    descriptions.push(target.describe);
    const stopOnSignal = (): void => {
      void target.stop().finally(() => process.exit(1));
    };
    process.once('SIGINT', stopOnSignal);
    try {
      results.set(targetKey(target.name, target.transport), await bench(target));
    } finally {
      process.removeListener('SIGINT', stopOnSignal);
      await target.stop();
    }
  }
  return { results, descriptions };
}
