/**
 * bench/kv.ts on the gRPC path: put, range (linearizable and serializable)
 * and txn throughput and p50/p99 latency at several client counts, then
 * watch-event throughput and put-to-event latency, against a 3-member keel
 * and, in the same run, a 3-member etcd 3.4, with the ratio keel/etcd.
 * Both fsync (etcd's default; never --unsafe-no-fsync), both start on fresh
 * data directories and are stopped by pid inside this script.
 *
 * The load is keel/load's (bench/lib/load.ts): `--clients` VUs in a closed
 * loop (shared-iterations: one call at a time per VU until `--seconds`
 * pass or `--max-ops` are done) after `--warmup-seconds` of warm-up, with
 * the figures from the engine's summary (iteration_duration's HDR
 * histogram). Each iteration is one call of the same raw grpc-js client
 * over keel's proto files for both systems (bench/lib/grpc-conns.ts),
 * shaped like etcd's `benchmark` tool: `--conns` connections (default: one
 * per 16 clients, at least one per member), VU n is client n - 1 and calls
 * on connection (n - 1) mod conns (calls of different clients pipeline on
 * the same HTTP/2 connection), connection j goes to member j mod 3 (`--to
 * spread`) or all go to the leader (`--to leader`). keel/load's own VU
 * gRPC client holds one channel per VU, which is not etcd's shape, hence
 * the shared connections. Values are `--value-bytes` random bytes; keys
 * are drawn uniformly from `--keys` preloaded keys by a per-VU xorshift.
 * The watch rows' writers are keel/load's too (bench/lib/watch-load.ts):
 * a fixed put rate is its constant-arrival-rate executor (puts that find
 * PUTS_IN_FLIGHT_MAX outstanding are dropped and counted by keel/load),
 * `max` is `--watch-writers` VUs in a closed loop. The Watch streams are
 * plain grpc-js streams beside them: observers, not load (keel/load has no
 * Watch streams).
 *
 * Operations:
 * - put: Put of a random key;
 * - range (linearizable) / range (serializable): Range of one random key;
 * - txn (compare-and-put): If(value(key) == v) Then(Put(key, v)) Else(Range(key));
 *   every key holds v, so a failed compare is counted as an error;
 * - watch: W Watch streams on one prefix, writers putting fresh keys under
 *   it at a fixed rate or as fast as `--watch-writers` loops go; events
 *   delivered per second over all watchers, put-to-event p50/p99, and every
 *   watcher must see every acknowledged put once, in order.
 *
 * `--tls` adds rows with transport security on, in the same run: after its
 * cleartext rows each system is started again with client and peer mutual
 * TLS, keel with `keel up --tls` and etcd with --cert-file, --key-file,
 * --trusted-ca-file, --client-cert-auth and the --peer-* twins, both on
 * one throwaway CA made for the run (bench/lib/tls.ts, RSA 2048). The
 * same grpc-js client then dials gRPC over TLS (ALPN h2) with the client
 * certificate, on the same long-lived connections, so the rows measure
 * per-request crypto, not handshakes. Each mTLS row carries the ratio of
 * its throughput (events/s for watch) to the same system's cleartext row
 * (the cost of TLS); keel/etcd compares the two systems both over TLS.
 * etcd 3.4 serves gRPC on a TLS client port through Go's net/http HTTP/2
 * server (embed/serve.go's grpcHandlerFunc, grpc-go's ServeHTTP), not
 * grpc-go's own transport as on a cleartext port: part of etcd's TLS cost
 * is that path, not the crypto.
 *
 * The load generator is one Node process sharing the machine with the
 * cluster under test; each cell's line on stderr gives its CPU use, and a
 * cell near 100% is bounded by the client, not the server.
 *
 * `--keel-bin` benches another build's dist/src/cli/main.js (for a before
 * and an after, run the command once with each).
 *
 * Usage: tsx bench/kv-grpc.ts [--quick] [--targets etcd,keel] [--keel-endpoints URL,URL,URL] [--keel-bin dist/src/cli/main.js]
 *        [--ops put,range-linearizable,range-serializable,txn] [--clients 1,16,64,256]
 *        [--conns auto|N] [--seconds 5] [--warmup-seconds 0.5] [--max-ops 500000]
 *        [--keys 10000] [--value-bytes 100] [--to spread|leader]
 *        [--watchers 1,32] [--watch-rates 500,max] [--watch-writers 16]
 *        [--watch-max-puts 100000] [--skip-watch] [--tls]
 * Exit codes: 0 ok, 1 usage or runtime error, 99 a watcher missed, repeated
 * or reordered events (the check failed; the tables are still printed).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Message } from '../src/api/grpc/codec.js';
import { CONNS_MAX, type GrpcConns, type GrpcTls, openConns } from './lib/grpc-conns.js';
import { keyPicker, seededRandom, type VU, VuPool } from '../src/load/index.js';
import { type LoadResult, runClosedLoop, runEach } from './lib/load.js';
import { markdownTable } from './lib/table.js';
import { benchEach, leaderEndpoint, type Target, type TargetKey, targetKey, targetNames as parseTargetNames, type Transport } from './lib/targets.js';
import { type BenchPki, makeBenchPki, trustForRun } from './lib/tls.js';
import { PUTS_IN_FLIGHT_MAX, runWatchLoad, WATCHERS_MAX, type WatchResult } from './lib/watch-load.js';

type Op = 'put' | 'range-linearizable' | 'range-serializable' | 'txn';
const OPS: readonly Op[] = ['put', 'range-linearizable', 'range-serializable', 'txn'];
const OP_LABELS: Record<Op, string> = {
  put: 'put',
  'range-linearizable': 'range (linearizable)',
  'range-serializable': 'range (serializable)',
  txn: 'txn (compare-and-put)',
};

/** Defaults, and the `--quick` smoke run's; a flag given explicitly wins over both. */
type Settings = Record<'clients' | 'seconds' | 'warmup-seconds' | 'max-ops' | 'keys' | 'watchers' | 'watch-rates' | 'watch-writers' | 'watch-max-puts', string>;
const DEFAULTS: Settings = {
  clients: '1,16,64,256', seconds: '5', 'warmup-seconds': '0.5', 'max-ops': '500000', keys: '10000',
  watchers: '1,32', 'watch-rates': '500,max', 'watch-writers': '16', 'watch-max-puts': '100000',
};
const QUICK: Settings = {
  clients: '1,16', seconds: '1', 'warmup-seconds': '0.2', 'max-ops': '50000', keys: '1000',
  watchers: '4', 'watch-rates': '200,max', 'watch-writers': '8', 'watch-max-puts': '20000',
};
/** Clients per connection when `--conns auto`. */
const CLIENTS_PER_CONN = 16;
/** Preload concurrency; request and drain timeouts. */
const PRELOAD_CLIENTS = 32;
const PRELOAD_SECONDS_MAX = 600;
const REQUEST_TIMEOUT_MS = 10_000;
const WATCH_DRAIN_TIMEOUT_MS = 10_000;
const WATCH_WARMUP_PUTS = 200;
const EXIT_CHECK_FAILED = 99;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    targets: { type: 'string', default: 'etcd,keel' },
    'keel-endpoints': { type: 'string' },
    'keel-bin': { type: 'string' },
    ops: { type: 'string', default: OPS.join(',') },
    clients: { type: 'string' },
    conns: { type: 'string', default: 'auto' },
    seconds: { type: 'string' },
    'warmup-seconds': { type: 'string' },
    'max-ops': { type: 'string' },
    keys: { type: 'string' },
    'value-bytes': { type: 'string', default: '100' },
    to: { type: 'string', default: 'spread' },
    watchers: { type: 'string' },
    'watch-rates': { type: 'string' },
    'watch-writers': { type: 'string' },
    'watch-max-puts': { type: 'string' },
    'skip-watch': { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`bench/kv-grpc: ${message}`);
  process.exit(1);
}

function option(name: keyof Settings): string {
  return args[name] ?? (args.quick ? QUICK : DEFAULTS)[name];
}

function positive(name: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > max) usage(`--${name} must be a number in (0, ${max}]`);
  return value;
}

function integers(name: string, text: string, max: number): number[] {
  return text.split(',').map((part) => Math.floor(positive(name, part, max)));
}

const targetNames = parseTargetNames(args.targets, usage);
const ops = args.ops.split(',').map((name) => name.trim()).filter((name) => name !== '') as Op[];
for (const op of ops) if (!OPS.includes(op)) usage(`unknown op ${op} (one of ${OPS.join(', ')})`);
const clientCounts = integers('clients', option('clients'), 1024);
const connsFixed = args.conns === 'auto' ? undefined : Math.floor(positive('conns', args.conns, CONNS_MAX));
const seconds = positive('seconds', option('seconds'), 600);
const warmupSeconds = Number(option('warmup-seconds'));
if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0 || warmupSeconds > 60) usage('--warmup-seconds must be in [0, 60]');
const maxOps = Math.floor(positive('max-ops', option('max-ops'), 10_000_000));
const keyCount = Math.floor(positive('keys', option('keys'), 1_000_000));
const valueBytes = Math.floor(positive('value-bytes', args['value-bytes'], 1_000_000));
if (args.to !== 'spread' && args.to !== 'leader') usage('--to must be spread or leader');
const toLeader = args.to === 'leader';
const watcherCounts = args['skip-watch'] ? [] : integers('watchers', option('watchers'), WATCHERS_MAX);
/** undefined: as fast as the writers go. */
const watchRates = option('watch-rates').split(',').map((text) => (text.trim() === 'max' ? undefined : positive('watch-rates', text, 1_000_000)));
const watchWriters = Math.floor(positive('watch-writers', option('watch-writers'), 1024));
const watchMaxPuts = Math.floor(positive('watch-max-puts', option('watch-max-puts'), 10_000_000));
if (args.tls && args['keel-endpoints'] !== undefined) usage('--tls starts its own clusters on a CA made for the run; it cannot be combined with --keel-endpoints');
/** The run's CA and certificates, with --tls. */
const pki: BenchPki | undefined = args.tls ? makeBenchPki() : undefined;
const transports: readonly Transport[] = pki === undefined ? ['cleartext'] : ['cleartext', 'tls'];

const keys = Array.from({ length: keyCount }, (_, index) => Buffer.from(`bench/key-${String(index).padStart(6, '0')}`));
const value = randomBytes(valueBytes);

/** `--conns`, or one per CLIENTS_PER_CONN clients but at least one per member (so `spread` reaches them all); never more than the clients. */
function connsFor(clients: number, members: number): number {
  return Math.min(clients, connsFixed ?? Math.max(members, Math.ceil(clients / CLIENTS_PER_CONN)));
}

/** One operation of `op` on `key`, on client `client`'s connection; rejects when the answer is not the one every key must give. */
async function operate(conns: GrpcConns, client: number, op: Op, key: Buffer): Promise<void> {
  if (op === 'put') {
    await conns.kv(client, 'Put', { key, value }, REQUEST_TIMEOUT_MS);
    return;
  }
  if (op === 'txn') {
    const response = await conns.kv(client, 'Txn', {
      compare: [{ result: 'EQUAL', target: 'VALUE', key, value }],
      success: [{ request_put: { key, value } }],
      failure: [{ request_range: { key } }],
    }, REQUEST_TIMEOUT_MS);
    if (response.succeeded !== true) throw new Error(`txn compare failed on ${key.toString()}`);
    return;
  }
  const response = await conns.kv(client, 'Range', { key, serializable: op === 'range-serializable' }, REQUEST_TIMEOUT_MS);
  if ((response.kvs as Message[]).length !== 1) throw new Error(`range found no ${key.toString()}`);
}

/**
 * One keel/load iteration: VU n is client n - 1, on that client's connection
 * (the VUs share the conns, as etcd's benchmark clients do), with its own
 * key stream (keel/load's xorshift seeded with the VU's id, uniform keys).
 */
function clientIteration(conns: GrpcConns, op: Op): (vu: VU) => Promise<void> {
  const pickIndex = keyPicker('uniform', keys.length);
  const randoms = new WeakMap<VU, () => number>();
  return (vu) => {
    let random = randoms.get(vu);
    if (random === undefined) randoms.set(vu, (random = seededRandom(vu.id)));
    return operate(conns, vu.id - 1, op, keys[pickIndex(random())]!);
  };
}

/** Writes every key once (with the value txn compares against), so ranges find it: PRELOAD_CLIENTS keel/load VUs share the keys. */
async function preload(endpoints: readonly string[], tls: GrpcTls | undefined): Promise<void> {
  const conns = openConns(endpoints, connsFor(PRELOAD_CLIENTS, endpoints.length), tls);
  let next = 0;
  const vuPool = new VuPool();
  try {
    const put = async (vu: VU): Promise<void> => void (await conns.kv(vu.id - 1, 'Put', { key: keys[next++]!, value }, REQUEST_TIMEOUT_MS));
    await runEach({ clients: PRELOAD_CLIENTS }, { iterations: keyCount, seconds: PRELOAD_SECONDS_MAX }, put, vuPool);
  } finally {
    await vuPool.close();
    conns.close();
  }
}

/** Client CPU use (user + system) over `run`, as a percentage of one core. */
async function withCpu<Result>(run: () => Promise<Result>): Promise<{ result: Result; cpuPercent: number }> {
  const startedAtMs = performance.now();
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { result, cpuPercent: ((used.user + used.system) / 1000 / (performance.now() - startedAtMs)) * 100 };
}

interface OpResult extends LoadResult {
  readonly conns: number;
}

interface TargetResults {
  readonly ops: Map<string, OpResult>;
  readonly watch: Map<string, WatchResult>;
  /**
   * Whether connection 0 (a single client's only one) reached the leader. It
   * decides what a 1-client row measures: on a follower a write is forwarded
   * to the leader and answered once the follower learns the commit, one more
   * round trip than on the leader; which member leads differs from run to run.
   */
  readonly firstConnToLeader: boolean;
}

const watchKey = (watchers: number, rate: number | undefined): string => `${watchers}/${rate ?? 'max'}`;

async function benchTarget(target: Target): Promise<TargetResults> {
  const leader = await leaderEndpoint(target.endpoints);
  const endpoints = toLeader ? [leader] : [...target.endpoints];
  const results: TargetResults = { ops: new Map(), watch: new Map(), firstConnToLeader: endpoints[0] === leader };
  const tls = target.transport === 'tls' ? pki!.clientCredentials : undefined;
  const label = targetKey(target.name, target.transport);
  if (ops.some((op) => op !== 'put')) await preload(endpoints, tls);
  for (const op of ops) {
    for (const clients of clientCounts) {
      const conns = openConns(endpoints, connsFor(clients, endpoints.length), tls);
      try {
        const { result, cpuPercent } = await withCpu(() => runClosedLoop({ clients, seconds, maxOps, warmupSeconds }, clientIteration(conns, op)));
        results.ops.set(`${op}/${clients}`, { ...result, conns: conns.size });
        const errorNote = result.errors > 0 ? `, ${result.errors} errors (first: ${result.firstError})` : '';
        console.error(`${label} ${op} x${clients} on ${conns.size} conns: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, client cpu ${cpuPercent.toFixed(0)}%${errorNote}`);
      } finally {
        conns.close();
      }
    }
  }
  let cell = 0;
  for (const watchers of watcherCounts) {
    for (const rate of watchRates) {
      const watchConns = openConns(endpoints, connsFor(watchers, endpoints.length), tls);
      const writeConns = openConns(endpoints, connsFor(watchWriters, endpoints.length), tls);
      try {
        const { result, cpuPercent } = await withCpu(() =>
          runWatchLoad(watchConns, writeConns, {
            watchers, putsPerSecond: rate, writers: watchWriters, seconds, maxPuts: watchMaxPuts, warmupPuts: WATCH_WARMUP_PUTS,
            drainTimeoutMs: WATCH_DRAIN_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, prefix: `bench/watch-${cell++}/`, value,
          }),
        );
        results.watch.set(watchKey(watchers, rate), result);
        const problems = result.putErrors + result.missed + result.duplicates + result.outOfOrder + result.streamErrors > 0 ? `, PROBLEM: ${result.putErrors} put errors, ${result.missed} missed, ${result.duplicates} duplicate, ${result.outOfOrder} out of order, ${result.streamErrors} stream errors (first: ${result.firstProblem})` : '';
        const dropped = result.putsDropped > 0 ? `, ${result.putsDropped} puts dropped (due with ${PUTS_IN_FLIGHT_MAX} in flight)` : '';
        console.error(`${label} watch x${watchers} at ${rate ?? 'max'} puts/s: ${result.putsPerSecond.toFixed(0)} puts/s, ${result.eventsPerSecond.toFixed(0)} events/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, client cpu ${cpuPercent.toFixed(0)}%${dropped}${problems}`);
      } finally {
        watchConns.close();
        writeConns.close();
      }
    }
  }
  return results;
}

function ratio(keel: number | undefined, etcd: number | undefined): string {
  return keel !== undefined && etcd !== undefined && etcd > 0 ? (keel / etcd).toFixed(2) : '–';
}

function cell<Result>(result: Result | undefined, pick: (result: Result) => string): string {
  return result === undefined ? '–' : pick(result);
}

const latency = (result: { p50Ms: number; p99Ms: number }): string => `${result.p50Ms.toFixed(2)} / ${result.p99Ms.toFixed(2)}`;

/** With --tls, each system's mTLS row over its cleartext row ('–' on cleartext rows). */
function costOfTls(results: Map<TargetKey, TargetResults>, transport: Transport, pick: (result: TargetResults) => number | undefined): string[] {
  if (pki === undefined) return [];
  if (transport === 'cleartext') return ['–', '–'];
  return (['keel', 'etcd'] as const).map((name) => {
    const secured = results.get(targetKey(name, 'tls'));
    const clear = results.get(name);
    return ratio(secured && pick(secured), clear && pick(clear));
  });
}

const TLS_COLUMNS = ['keel mTLS/clear', 'etcd mTLS/clear'];
const transportLabel = (transport: Transport): string => (transport === 'tls' ? ', mTLS' : '');

function opsTable(results: Map<TargetKey, TargetResults>): string {
  const rows = ops.flatMap((op) =>
    clientCounts.flatMap((clients) =>
      transports.map((transport) => {
        const keel = results.get(targetKey('keel', transport))?.ops.get(`${op}/${clients}`);
        const etcd = results.get(targetKey('etcd', transport))?.ops.get(`${op}/${clients}`);
        const throughput = (result: LoadResult): string => result.opsPerSecond.toFixed(0) + (result.errors > 0 ? ` (${result.errors} err)` : '');
        const conns = [...new Set([keel?.conns, etcd?.conns].filter((count) => count !== undefined))].join(' / ');
        return [
          OP_LABELS[op] + transportLabel(transport), String(clients), conns, cell(keel, throughput), cell(etcd, throughput), ratio(keel?.opsPerSecond, etcd?.opsPerSecond), cell(keel, latency), cell(etcd, latency),
          ...costOfTls(results, transport, (result) => result.ops.get(`${op}/${clients}`)?.opsPerSecond),
        ];
      }),
    ),
  );
  return markdownTable(['operation', 'clients', 'conns', 'keel req/s', 'etcd req/s', 'keel/etcd', 'keel p50/p99 ms', 'etcd p50/p99 ms', ...(pki ? TLS_COLUMNS : [])], rows);
}

function watchTable(results: Map<TargetKey, TargetResults>): string {
  const rows = watcherCounts.flatMap((watchers) =>
    watchRates.flatMap((rate) =>
      transports.map((transport) => {
        const keel = results.get(targetKey('keel', transport))?.watch.get(watchKey(watchers, rate));
        const etcd = results.get(targetKey('etcd', transport))?.watch.get(watchKey(watchers, rate));
        const puts = (result: WatchResult): string => result.putsPerSecond.toFixed(0) + (result.putErrors > 0 ? ` (${result.putErrors} err)` : '') + (result.putsDropped > 0 ? ` (${result.putsDropped} dropped)` : '');
        const events = (result: WatchResult): string => result.eventsPerSecond.toFixed(0);
        const check = (result: WatchResult): string => `${result.missed} / ${result.duplicates + result.outOfOrder}` + (result.streamErrors > 0 ? ` (${result.streamErrors} stream err)` : '');
        return [
          String(watchers) + transportLabel(transport), rate === undefined ? `max (${watchWriters} writers)` : String(rate), cell(keel, puts), cell(etcd, puts), cell(keel, events), cell(etcd, events), ratio(keel?.eventsPerSecond, etcd?.eventsPerSecond), cell(keel, latency), cell(etcd, latency), cell(keel, check), cell(etcd, check),
          ...costOfTls(results, transport, (result) => result.watch.get(watchKey(watchers, rate))?.eventsPerSecond),
        ];
      }),
    ),
  );
  return markdownTable(['watchers', 'put rate /s', 'keel puts/s', 'etcd puts/s', 'keel events/s', 'etcd events/s', 'keel/etcd', 'keel p50/p99 ms', 'etcd p50/p99 ms', 'keel missed / dup+reordered', 'etcd missed / dup+reordered', ...(pki ? TLS_COLUMNS : [])], rows);
}

function watchFailed(results: Map<TargetKey, TargetResults>): boolean {
  return [...results.values()].some((result) => [...result.watch.values()].some((watch) => watch.missed + watch.duplicates + watch.outOfOrder + watch.streamErrors > 0));
}

async function main(): Promise<void> {
  if (pki !== undefined) trustForRun(pki);
  let benched;
  try {
    benched = await benchEach(targetNames, args['keel-endpoints'], benchTarget, args['keel-bin'] ? { bin: args['keel-bin'] } : {}, pki);
  } finally {
    pki?.remove();
  }
  const { results, descriptions } = benched;
  const connsNote = connsFixed === undefined ? `one connection per ${CLIENTS_PER_CONN} clients, at least one per member` : `${connsFixed} connections`;
  console.log(`\ngRPC (raw grpc-js, ${connsNote}), ${keyCount} keys, ${valueBytes}-byte values, ${seconds} s per row (at most ${maxOps} ops) after ${warmupSeconds} s of warm-up, connections ${toLeader ? 'to the leader' : 'spread over the members'}${args.quick ? ', --quick' : ''}${pki ? ', gRPC over TLS with a client certificate on the mTLS rows' : ''}`);
  for (const description of descriptions) console.log(`- ${description}`);
  for (const [key, result] of results) console.log(`- ${key}: a single client's connection (connection 0) went to ${result.firstConnToLeader ? 'the leader' : 'a follower'}`);
  if (ops.length > 0) console.log(`\n${opsTable(results)}`);
  if (watcherCounts.length > 0) {
    console.log(`\nWatch: one stream per watcher on one prefix; events/s over all watchers from the first put to the last event; latency from sending the put to receiving its event; ${seconds} s of writing (at most ${watchMaxPuts} puts) after ${WATCH_WARMUP_PUTS} warm-up puts\n`);
    console.log(watchTable(results));
  }
  if (watchFailed(results)) {
    console.error('bench/kv-grpc: a watcher missed, repeated or reordered events (see the lines above)');
    process.exitCode = EXIT_CHECK_FAILED;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
