/**
 * Issue 3's KV benchmark: put and linearizable-get throughput and p50/p99
 * latency at 1, 16, 64 and 256 concurrent clients, 100-byte values over 10k
 * keys, fsync on, through the JSON gateway (POST /v3/kv/put, /v3/kv/range),
 * against a 3-node keel cluster and, in the same run, a 3-node etcd 3.4
 * cluster (Debian's etcd-server) on loopback, with the ratio keel/etcd.
 *
 * The load is keel/load's (bench/lib/load.ts): its built-in KV workload
 * (kvWorkload, put or get on keys drawn uniformly by a per-VU xorshift)
 * on `--clients` VUs in a closed loop (shared-iterations: each VU one
 * request at a time until `--seconds` pass or `--max-ops` are done), after
 * `--warmup-seconds` of warm-up on the same VUs; figures come from the
 * engine's summary (iterations, http_req_failed, iteration_duration's HDR
 * histogram). Each VU holds one keep-alive HTTP/1.1 connection, kept over
 * the warm-up and the rows; the preload goes through keel/load too. Keel
 * and etcd get the same load, from the same client, in the same run.
 *
 * Where requests go (`--to`, default `spread`): VU n (client n - 1) sends
 * to member (n - 1) mod 3 on its own connection, as etcd's own `benchmark`
 * tool spreads its connections over all endpoints. That is what a
 * population of clients does, and it charges each system for its follower
 * path: etcd and keel both forward a follower's write to the leader and
 * serve a follower's linearizable read through a read index from the leader.
 * `--to leader` sends everything to the leader instead (the keel SDK's
 * choice for a single client, one hop fewer).
 *
 * `--disk-latency 2ms` gives both systems a slow disk, as a typical cloud
 * SSD: their data dirs go on one faultfs mount (src/chaos/faultfs.ts, a
 * FUSE passthrough; root, /dev/fuse and libfuse3-dev) whose fsync and
 * fdatasync really sync, then sleep 2 ms, so the comparison stays like for
 * like (both also pay FUSE's cost on every write; compare with
 * `--disk-latency 0ms --disk-via faultfs` for that alone). `--disk-via
 * failpoint` (or `auto` where faultfs is unavailable) delays keel's WAL
 * fsync only, with the failpoint `wal-before-fsync=sleep(2)` (a timer on
 * keel's async write path, as a slow fsync on the threadpool would be);
 * etcd then runs on the plain disk as the anchor. `--keel-bin` benches another build
 * (a before/after in one command). The keel columns also show the longest
 * event-loop stall any member saw during the row
 * (keel_nodejs_eventloop_lag_max_seconds, reset by each scrape).
 *
 * `--tls` adds rows with transport security on, in the same run: after its
 * cleartext rows each system is started again with client and peer mutual
 * TLS, keel with `keel up --tls` and etcd with --cert-file, --key-file,
 * --trusted-ca-file, --client-cert-auth and the --peer-* twins, both on
 * one throwaway CA made for the run (bench/lib/tls.ts, RSA 2048). The
 * client speaks HTTPS (HTTP/1.1, no h2 by ALPN) with a client certificate
 * to both, each VU over its one keep-alive connection opened in the
 * warm-up, so the rows measure per-request crypto, not handshakes. Each
 * TLS row ("put, mTLS") carries the ratio of its throughput to the same
 * system's cleartext row (the cost of TLS); the
 * keel/etcd column compares the two systems both over TLS. The notes under
 * the table name the negotiated protocol and cipher of each side.
 *
 * Usage: tsx bench/kv.ts [--targets etcd,keel] [--keel-endpoints URL,URL,URL]
 *        [--clients 1,16,64,256] [--seconds 5] [--max-ops 500000] [--keys 10000]
 *        [--value-bytes 100] [--to spread|leader] [--warmup-seconds 0.5]
 *        [--ops put,get] [--disk-latency 0ms|Nms|Nus] [--disk-via auto|faultfs|failpoint]
 *        [--keel-bin dist/src/cli/main.js] [--tls]
 * Exit codes: 0 ok, 1 usage or runtime error.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { faultfsUnavailableReason, type FaultfsMount, mountFaultfs } from '../src/chaos/index.js';
import { kvKey, kvWorkload, type VU, VuPool } from '../src/load/index.js';
import { type LoadResult, type LoadTlsOptions, runClosedLoop, runEach } from './lib/load.js';
import { markdownTable } from './lib/table.js';
import { scrapeMetric } from './lib/metrics.js';
import { benchEach, leaderEndpoint, type Target, type TargetKey, targetKey, targetNames as parseTargetNames } from './lib/targets.js';
import { type BenchPki, makeBenchPki, trustForRun } from './lib/tls.js';

type Op = 'put' | 'get';

const { values: args } = parseArgs({
  options: {
    targets: { type: 'string', default: 'etcd,keel' },
    'keel-endpoints': { type: 'string' },
    clients: { type: 'string', default: '1,16,64,256' },
    seconds: { type: 'string', default: '5' },
    'max-ops': { type: 'string', default: '500000' },
    keys: { type: 'string', default: '10000' },
    'value-bytes': { type: 'string', default: '100' },
    to: { type: 'string', default: 'spread' },
    'warmup-seconds': { type: 'string', default: '0.5' },
    ops: { type: 'string', default: 'put,get' },
    'disk-latency': { type: 'string', default: '0ms' },
    'disk-via': { type: 'string', default: 'auto' },
    'keel-bin': { type: 'string' },
    tls: { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > max) usage(`--${name} must be a number in (0, ${max}]`);
  return value;
}

function usage(message: string): never {
  console.error(`bench/kv: ${message}`);
  process.exit(1);
}

const targetNames = parseTargetNames(args.targets, usage);
const clientCounts = args.clients.split(',').map((text) => Math.floor(positive('clients', text, 1024)));
const seconds = positive('seconds', args.seconds, 600);
const maxOps = Math.floor(positive('max-ops', args['max-ops'], 10_000_000));
const keyCount = Math.floor(positive('keys', args.keys, 1_000_000));
const valueBytes = Math.floor(positive('value-bytes', args['value-bytes'], 1_000_000));
const warmupSeconds = Number(args['warmup-seconds']);
if (args.to !== 'spread' && args.to !== 'leader') usage('--to must be spread or leader');
const toLeader = args.to === 'leader';
const OPS: readonly Op[] = args.ops.split(',').map((text) => text.trim()) as Op[];
for (const op of OPS) if (op !== 'put' && op !== 'get') usage('--ops lists put and/or get');
const diskLatencyMatch = /^(\d+)(ms|us)?$/.exec(args['disk-latency']);
const diskLatencyUs = diskLatencyMatch ? Number(diskLatencyMatch[1]) * (diskLatencyMatch[2] === 'us' ? 1 : 1000) : NaN;
if (!(diskLatencyUs <= 1_000_000)) usage('--disk-latency is a whole number of ms (or us) up to 1000 ms, e.g. 2ms or 500us');
const diskVia = chooseDiskVia(args['disk-via'], diskLatencyUs);
/** The failpoint's sleep is in whole ms. */
const diskLatencyMs = diskVia === 'failpoint' ? Math.round(diskLatencyUs / 1000) : 0;
if (args.tls && args['keel-endpoints'] !== undefined) usage('--tls starts its own clusters on a CA made for the run; it cannot be combined with --keel-endpoints');
/** Where the slow disk comes from: none (the plain disk), a faultfs mount under both systems, or keel's WAL failpoint. */
function chooseDiskVia(text: string, latencyUs: number): 'none' | 'faultfs' | 'failpoint' {
  if (text !== 'auto' && text !== 'faultfs' && text !== 'failpoint') usage('--disk-via is auto, faultfs or failpoint');
  const unavailable = text === 'failpoint' || (text === 'auto' && latencyUs === 0) ? undefined : faultfsUnavailableReason();
  if (text === 'faultfs' && unavailable) usage(`--disk-via faultfs: ${unavailable}`);
  if (text === 'auto' && latencyUs === 0) return 'none';
  if (text === 'auto' && unavailable) {
    console.error(`bench/kv: faultfs unavailable (${unavailable}); --disk-latency falls back to keel's WAL failpoint, etcd on the plain disk`);
    return 'failpoint';
  }
  if (text === 'failpoint' && latencyUs % 1000 !== 0) usage('--disk-via failpoint takes whole ms');
  return text === 'failpoint' ? 'failpoint' : 'faultfs';
}
/** The run's CA and certificates, with --tls. */
const pki: BenchPki | undefined = args.tls ? makeBenchPki() : undefined;
const keelStart = {
  ...(args['keel-bin'] ? { bin: args['keel-bin'] } : {}),
  ...(diskLatencyMs > 0 ? { failpoints: `wal-before-fsync=sleep(${diskLatencyMs})` } : {}),
};
/** Longest event-loop stall per keel row, in ms (max over the members), by `${targetKey} ${op}/${clients}`. */
const keelStallMs = new Map<string, number>();
/** Preload concurrency, its bound in time, and the request timeout. */
const PRELOAD_CLIENTS = 32;
const PRELOAD_SECONDS_MAX = 600;
const REQUEST_TIMEOUT_MS = 10_000;
/** Keys are `bench/key-00000042` (kvKey), sent base64 as the JSON gateway wants. */
const KEY_PREFIX = 'bench/key-';

async function benchTarget(target: Target): Promise<Map<string, LoadResult>> {
  const results = new Map<string, LoadResult>();
  const endpoints = toLeader ? [await leaderEndpoint(target.endpoints)] : [...target.endpoints];
  const load = {
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    allowRemote: endpoints.map((endpoint) => new URL(endpoint).hostname),
    ...(target.transport === 'tls' ? { tls: httpTls(pki!) } : {}),
  };
  // One VU per client, kept over the rows: VU n holds one keep-alive connection to member (n - 1) mod members.
  const vuPool = new VuPool();
  const label = targetKey(target.name, target.transport);
  try {
    for (const op of OPS) {
      if (op === 'get') await preload(endpoints, load, vuPool);
      for (const clients of clientCounts) {
        const workload = kvWorkload({ endpoint: endpoints, mix: op === 'put' ? { put: 1, get: 0 } : { put: 0, get: 1 }, keys: keyCount, valueBytes, prefix: KEY_PREFIX });
        if (target.name === 'keel') await loopStallMaxMs(target.endpoints); // a scrape resets the gauge
        const result = await runClosedLoop({ clients, seconds, maxOps, warmupSeconds, ...load }, workload, vuPool);
        results.set(`${op}/${clients}`, result);
        if (target.name === 'keel') keelStallMs.set(`${label} ${op}/${clients}`, await loopStallMaxMs(target.endpoints));
        const errorNote = result.errors > 0 ? `, ${result.errors} errors (first: ${result.firstError})` : '';
        console.error(`${label} ${op} x${clients}: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms${errorNote}`);
      }
    }
  } finally {
    await vuPool.close();
  }
  return results;
}

/** keel/load's TLS for the run's CA and client certificate; HTTP/1.1, as on the cleartext rows (no h2 by ALPN). */
function httpTls(benchPki: BenchPki): LoadTlsOptions {
  const { ca, cert, key } = benchPki.clientCredentials;
  return { http2: false, tlsCa: ca.toString(), tlsAuth: [{ cert: cert.toString(), key: key.toString() }] };
}

/** The largest keel_nodejs_eventloop_lag_max_seconds over the members since the last scrape, in ms (-1 when unreadable). */
async function loopStallMaxMs(endpoints: readonly string[]): Promise<number> {
  let max = -1;
  for (const endpoint of endpoints) {
    // A member that cannot be scraped leaves the cell as it is.
    const seconds = await scrapeMetric(endpoint, 'keel_nodejs_eventloop_lag_max_seconds', REQUEST_TIMEOUT_MS);
    if (seconds !== undefined) max = Math.max(max, seconds * 1000);
  }
  return max;
}

/** Writes every key once (through keel/load, the workload's keys and value size) so that gets find a value. */
async function preload(endpoints: readonly string[], load: { readonly requestTimeoutMs: number; readonly tls?: LoadTlsOptions; readonly allowRemote: readonly string[] }, vuPool: VuPool): Promise<void> {
  const value = Buffer.alloc(valueBytes, 'v').toString('base64');
  const headers = { 'content-type': 'application/json' };
  let next = 0;
  const put = async (vu: VU): Promise<void> => {
    const key = Buffer.from(kvKey(next++, KEY_PREFIX)).toString('base64');
    const response = await vu.http.post(`${endpoints[(vu.id - 1) % endpoints.length]}/v3/kv/put`, `{"key":"${key}","value":"${value}"}`, { headers });
    if (response.status !== 200) throw new Error(`preload put: HTTP ${response.status} ${response.error ?? response.body.slice(0, 200)}`);
  };
  await runEach({ clients: PRELOAD_CLIENTS, ...load }, { iterations: keyCount, seconds: PRELOAD_SECONDS_MAX }, put, vuPool);
}

function cell(result: LoadResult | undefined, pick: (result: LoadResult) => string): string {
  return result === undefined ? '–' : pick(result);
}

/** Throughput of `result` over `base`, as a ratio cell. */
function ratioCell(result: LoadResult | undefined, base: LoadResult | undefined): string {
  return result !== undefined && base !== undefined && base.opsPerSecond > 0 ? (result.opsPerSecond / base.opsPerSecond).toFixed(2) : '–';
}

/** One row of the table: op, clients, then keel's and etcd's cells for one transport; with --tls, each system's ratio to its cleartext row. */
function tableRow(results: Map<TargetKey, Map<string, LoadResult>>, op: Op, clients: number, tls: boolean): string[] {
  const cellKey = `${op}/${clients}`;
  const transport = tls ? 'tls' : 'cleartext';
  const keel = results.get(targetKey('keel', transport))?.get(cellKey);
  const etcd = results.get(targetKey('etcd', transport))?.get(cellKey);
  const latency = (result: LoadResult): string => `${result.p50Ms.toFixed(2)} / ${result.p99Ms.toFixed(2)}`;
  const throughput = (result: LoadResult): string => result.opsPerSecond.toFixed(0) + (result.errors > 0 ? ` (${result.errors} err)` : '');
  const stall = keelStallMs.get(`${targetKey('keel', transport)} ${cellKey}`);
  const label = (op === 'get' ? 'get (linearizable)' : 'put') + (tls ? ', mTLS' : '');
  const row = [label, String(clients), cell(keel, throughput), cell(etcd, throughput), ratioCell(keel, etcd), cell(keel, latency), cell(etcd, latency), stall === undefined || stall < 0 ? '–' : stall.toFixed(0)];
  if (pki === undefined) return row;
  const costOfTls = (name: 'keel' | 'etcd'): string => (tls ? ratioCell(name === 'keel' ? keel : etcd, results.get(name)?.get(cellKey)) : '–');
  return [...row, costOfTls('keel'), costOfTls('etcd')];
}

/**
 * One faultfs mount for both systems' data dirs, fsync delayed by
 * --disk-latency. Unmounted in main's finally; if this process dies first,
 * faultfs goes with it (--die-with-parent) and the mount with faultfs.
 */
async function mountSlowDisk(): Promise<{ disk: FaultfsMount; remove: () => Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'keel-bench-disk-'));
  mkdirSync(join(root, 'backing'));
  mkdirSync(join(root, 'mnt'));
  try {
    const disk = await mountFaultfs({ backingDir: join(root, 'backing'), mountPoint: join(root, 'mnt'), faults: { fsyncDelayUs: diskLatencyUs } });
    return {
      disk,
      remove: async () => {
        await disk.unmount();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

async function main(): Promise<void> {
  if (pki !== undefined) trustForRun(pki);
  const slowDisk = diskVia === 'faultfs' ? await mountSlowDisk() : undefined;
  let benched;
  let diskNote = '';
  try {
    benched = await benchEach(targetNames, args['keel-endpoints'], benchTarget, { ...keelStart, ...(slowDisk ? { dataRoot: slowDisk.disk.mountPoint } : {}) }, pki);
    if (slowDisk) {
      const state = await slowDisk.disk.state();
      diskNote = `\nboth systems' data dirs on one faultfs mount: every fsync/fdatasync really syncs, then sleeps ${diskLatencyUs} us (${state.fsyncsTotal} fsyncs, ${state.writesTotal} writes through it in the run)`;
    }
  } finally {
    pki?.remove();
    await slowDisk?.remove();
  }
  const { results, descriptions } = benched;
  if (diskNote) console.log(diskNote);
  const transports = pki === undefined ? [false] : [false, true];
  const rows = OPS.flatMap((op) => clientCounts.flatMap((clients) => transports.map((tls) => tableRow(results, op, clients, tls))));
  if (diskLatencyMs > 0) console.log(`\nkeel's WAL fsync delayed by ${diskLatencyMs} ms (KEEL_FAILPOINTS=wal-before-fsync=sleep(${diskLatencyMs})); etcd on the plain disk`);
  console.log(`\n${keyCount} keys, ${valueBytes}-byte values, ${seconds} s per row (at most ${maxOps} ops), requests ${toLeader ? 'to the leader' : 'spread over the members'}, JSON gateway over keep-alive HTTP/1.1${pki ? ' (HTTPS with a client certificate on the mTLS rows)' : ''}`);
  for (const description of descriptions) console.log(`- ${description}`);
  console.log('');
  const header = ['op', 'clients', 'keel ops/s', 'etcd ops/s', 'keel/etcd', 'keel p50/p99 ms', 'etcd p50/p99 ms', 'keel loop stall max ms'];
  console.log(markdownTable(pki === undefined ? header : [...header, 'keel mTLS/clear', 'etcd mTLS/clear'], rows));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
