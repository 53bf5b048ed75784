import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCluster } from '../../src/cli/up.js';
import { freeKeelUpBase } from './net.js';

/**
 * The hook bench/kv.ts uses to start a keel cluster: the real `keel up`
 * (the built binary, so run `npm run build` first) on free loopback ports,
 * data in a temporary directory, stopped with SIGTERM (keel up stops its
 * members gracefully) and removed afterwards.
 */

export interface KeelCluster {
  /** The members' client URLs (JSON gateway). */
  readonly endpoints: readonly string[];
  /** keel up's data dir (its cluster.json lists the members and their pids). */
  readonly dataDir: string;
  /** keel up's pid (the supervisor: it restarts a member that dies, after a 0.5 s backoff the first time). */
  readonly supervisorPid: number;
  /** Stops every process the hook started (by pid) and removes their data. */
  stop(): Promise<void>;
}

export interface KeelClusterOptions {
  /** Members (default 3). */
  readonly size?: number;
  /** fsync every WAL batch; keel always does, so only true is accepted. */
  readonly fsync: boolean;
  /** Another build's dist/src/cli/main.js (to bench a before and an after in one command). */
  readonly bin?: string;
  /** KEEL_FAILPOINTS for every member (keel up's members inherit its environment), e.g. `wal-before-fsync=sleep(2)`. */
  readonly failpoints?: string;
  /**
   * `keel up --tls` (client and peer mutual TLS) with the certificates in
   * this directory (bench/lib/tls.ts's files: ca.crt, n1.crt ..., client.crt)
   * instead of a CA of its own: they are copied to <data-dir>/tls, which
   * keel up reuses when complete. The endpoints are then https.
   */
  readonly tlsDir?: string;
  /** Parent of the data directory (default os.tmpdir()): a faultfs mount puts the cluster on a slow disk. */
  readonly tmpRoot?: string;
  /**
   * Every member's space quota (etcd's --quota-backend-bytes; keel's
   * default is 2 GiB, as etcd's): written as `quotaBytes` to a YAML file in
   * the data dir that the members read through KEEL_CONFIG (keel up passes
   * its environment on to them; their flags still take precedence).
   */
  readonly quotaBytes?: number;
  /** More numeric settings for that file (e.g. `snapshotEntries`), beside `quotaBytes`. */
  readonly config?: Readonly<Record<string, number>>;
  /**
   * Node flags for keel up, which passes its own on to every member it
   * starts (process.execArgv), e.g. `--trace-gc` (printed to each member's
   * keel.log), which NODE_OPTIONS does not take.
   */
  readonly nodeArgs?: readonly string[];
}

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/src/cli/main.js');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export async function startKeelCluster(options: KeelClusterOptions): Promise<KeelCluster> {
  if (!options.fsync) throw new Error('keel always fsyncs its WAL; there is no fsync-off mode to bench');
  const binary = options.bin ?? bin;
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run npm run build first`);
  const size = options.size ?? 3;
  const base = await freeKeelUpBase(size);
  const dataDir = mkdtempSync(join(options.tmpRoot ?? tmpdir(), 'keel-bench-'));
  if (options.tlsDir !== undefined) cpSync(options.tlsDir, join(dataDir, 'tls'), { recursive: true });
  const tlsArgs = options.tlsDir === undefined ? [] : ['--tls'];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.failpoints) env.KEEL_FAILPOINTS = options.failpoints;
  const settings = { ...(options.quotaBytes !== undefined ? { quotaBytes: options.quotaBytes } : {}), ...options.config };
  if (Object.keys(settings).length > 0) {
    const configFile = join(dataDir, 'bench-node.yaml');
    writeFileSync(configFile, Object.entries(settings).map(([name, value]) => `${name}: ${value}\n`).join(''));
    env.KEEL_CONFIG = configFile;
  }
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), binary, 'up', '--nodes', String(size), '--base-port', String(base), '--data-dir', dataDir, '--quiet', '--no-gateway', '--no-dashboard', ...tlsArgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const scheme = options.tlsDir === undefined ? 'http' : 'https';
  const endpoints = planCluster(size, base, dataDir).map((plan) => `${scheme}://127.0.0.1:${plan.clientPort}`);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const endpoint of endpoints) {
      while (!(await ready(endpoint))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`keel member ${endpoint} did not become ready`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints, dataDir, supervisorPid: child.pid!, stop };
}

/** Over TLS, fetch's global dispatcher must trust the CA and present a client certificate (bench/lib/tls.ts's trustForRun). */
async function ready(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/readyz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

