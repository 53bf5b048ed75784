/**
 * Issue 14's scale benchmark ("Scale without stalls"): a 3-member keel
 * (`keel up`) and a 3-member etcd 3.4 (Debian's etcd-server), one after the
 * other in the same run, each on fresh data directories under a temporary
 * directory, fsync on, both with the same space quota (`--quota-mib`,
 * default 2048: etcd's default --quota-backend-bytes; keel's quotaBytes is
 * set through a KEEL_CONFIG file, bench/lib/keel-cluster.ts). For each:
 *
 * - fill A: 1 MiB values (Put, fresh keys) from 4 concurrent clients until
 *   the quota-counted size reaches `--fill-a-ratio` of the quota (default
 *   0.45, half of the 90% target: were fill A to take the store to 90%,
 *   fill B would have nothing left to fill; `--fill-a-ratio 0.9` is the
 *   other reading) or `--seconds` pass;
 * - fill B: then 100-byte values, `--fill-b-clients` concurrent clients
 *   each sending Txns of `--fill-b-batch` puts (both systems allow 128 ops
 *   per txn), until 90% of the quota or `--seconds` pass;
 * - leader changes during the fills, with no fault injected: the growth of
 *   etcd_server_leader_changes_seen_total on each member (keel exports
 *   etcd's name beside its own keel_raft_leader_changes_seen_total), the
 *   largest over the members;
 * - keel's longest event-loop stall during the fills (and during the
 *   defragment): keel_nodejs_eventloop_lag_max_seconds, prom-client's
 *   monitorEventLoopDelay maximum (10 ms resolution) that each scrape
 *   resets, scraped from every member every second; etcd, a Go program,
 *   has no event loop to stall;
 * - the peak RSS of any member (VmRSS from /proc/PID/status, sampled every
 *   100 ms), against the data written (key and value bytes the clients got
 *   acknowledged); etcd's VmRSS includes the pages of its mmapped bolt file;
 * - restart-to-ready after kill -9 of a follower: from the new process's
 *   start (its /proc start time) until it answers a serializable get of a
 *   key from fill A (and, second figure, until its /health answers ok).
 *   etcd's member is started again by this script at once; keel up
 *   restarts keel's by itself after its 0.5 s backoff, which is left out;
 *   and the restarted member's peak RSS from its start until
 *   RESTART_SETTLE_MS after it caught up (what a restart needs in memory
 *   beside the data, e.g. a snapshot file read whole), before the
 *   defragments begin;
 * - defragment at the filled size: each member in turn
 *   (POST /v3/maintenance/defragment to it, as `etcdctl defrag --cluster`),
 *   the total duration and the peak RSS of the member being defragmented.
 *
 * Quota-counted size: what each system's quota counts, from
 * Maintenance.Status on every member (the largest): etcd's dbSize (its
 * bolt file), keel's dbSizeInUse (the key-value state). Throughput is the
 * acknowledged key and value bytes over the fill's elapsed time.
 *
 * The clients are one raw grpc-js client for both systems
 * (bench/lib/grpc-conns.ts), connections spread over the members as in
 * bench/kv-grpc.ts. Every loop is bounded in count and in time and stops by
 * itself; a fill also stops on NOSPACE, on too many errors, or when the
 * machine's MemAvailable falls under LOW_MEMORY_BYTES (the machine is
 * shared). The bench asserts nothing: it prints the table and one line
 * naming issue 14's goals, each met or not.
 *
 * Usage: npm run bench:scale -- [--quota-mib 2048] [--seconds 300] [--only keel|etcd]
 *        [--fill-a-ratio 0.45] [--fill-b-clients 64] [--fill-b-batch 100] [--keel-node-args=--trace-gc]
 * `--keel-node-args` gives keel up and its members Node flags (space
 * separated, e.g. `--keel-node-args=--trace-gc`, or
 * `"--keel-node-args=--cpu-prof --cpu-prof-dir=/tmp/prof"`, profiles
 * written when the members stop); their keel.log files are then copied to
 * a temporary directory, named on stderr, before the data dir is removed.
 * Exit codes: 0 ok (whatever the figures), 1 usage or runtime error.
 */
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Message } from '../src/api/grpc/codec.js';
import { ensureEtcdBinary, EtcdCluster, etcdVersion } from './lib/etcd-cluster.js';
import { type GrpcConns, openConns } from './lib/grpc-conns.js';
import { startKeelCluster } from './lib/keel-cluster.js';
import { postJson, sleepMs } from './lib/net.js';
import { scrapeMetric } from './lib/metrics.js';
import { rssKb } from './lib/process-tree.js';
import { markdownTable } from './lib/table.js';

type SystemName = 'keel' | 'etcd';

const { values: args } = parseArgs({
  options: {
    'quota-mib': { type: 'string', default: '2048' },
    seconds: { type: 'string', default: '300' },
    only: { type: 'string' },
    'fill-a-ratio': { type: 'string', default: '0.45' },
    'fill-b-clients': { type: 'string', default: '64' },
    'fill-b-batch': { type: 'string', default: '100' },
    'keel-node-args': { type: 'string' },
  },
});

function usage(message: string): never {
  console.error(`bench/scale: ${message}`);
  process.exit(1);
}

function numberIn(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) usage(`--${name} must be a number in [${min}, ${max}]`);
  return value;
}

const MIB = 1024 * 1024;
const quotaBytes = Math.floor(numberIn('quota-mib', args['quota-mib'], 16, 65_536)) * MIB;
const fillSeconds = numberIn('seconds', args.seconds, 1, 3_600);
const fillARatio = numberIn('fill-a-ratio', args['fill-a-ratio'], 0, 0.9);
const fillBClients = Math.floor(numberIn('fill-b-clients', args['fill-b-clients'], 1, 1_024));
const fillBBatch = Math.floor(numberIn('fill-b-batch', args['fill-b-batch'], 1, 128));
if (args.only !== undefined && args.only !== 'keel' && args.only !== 'etcd') usage('--only is keel or etcd');
const systems: SystemName[] = args.only === undefined ? ['keel', 'etcd'] : [args.only as SystemName];

/** Fill B (and the whole fill) stops at this share of the quota. */
const FILL_TARGET_RATIO = 0.9;
const FILL_A_CLIENTS = 4;
const FILL_A_VALUE_BYTES = MIB;
const FILL_B_VALUE_BYTES = 100;
/** One connection per this many fill B clients (at least one per member), as bench/kv-grpc.ts. */
const CLIENTS_PER_CONN = 16;
const MEMBERS = 3;
const REQUEST_TIMEOUT_MS = 30_000;
/** A fill gives up after this many failed requests (a failed request waits ERROR_BACKOFF_MS before the next). */
const FILL_ERRORS_MAX = 200;
const ERROR_BACKOFF_MS = 100;
/** How often the quota-counted size is read during a fill, and each read's deadline. */
const SIZE_POLL_MS = 500;
const STATUS_TIMEOUT_MS = 5_000;
/** RSS and MemAvailable sampling. */
const RSS_SAMPLE_MS = 100;
/** keel's event-loop gauge is scraped this often (each scrape resets its maximum). */
const STALL_SCRAPE_MS = 1_000;
/**
 * A stall scrape waits this long: a member answers it when its stall ends,
 * and a scrape given up on may still be answered (resetting the maximum
 * with nobody reading it), so it must outwait any stall it is to measure.
 * A scrape that fails all the same marks its phase's figure a lower bound.
 */
const STALL_SCRAPE_TIMEOUT_MS = 120_000;
/** Fills stop when the machine has less than this available (it is shared with other work). */
const LOW_MEMORY_BYTES = 2 * 1024 * MIB;
/** Progress lines on stderr during a fill. */
const PROGRESS_MS = 10_000;
/** Restart: the new process must appear, answer, and catch up within these. */
const RESPAWN_TIMEOUT_MS = 30_000;
/** After the restarted member caught up, its RSS is still sampled this long (a restart's transient memory goes at the next full GC). */
const RESTART_SETTLE_MS = 5_000;
const READY_TIMEOUT_MS = 300_000;
const CATCH_UP_TIMEOUT_MS = 300_000;
const READY_POLL_MS = 25;
const PROBE_TIMEOUT_MS = 1_000;
/** One member's defragment may take this long. */
const DEFRAG_TIMEOUT_MS = 900_000;

/** What the bench needs of a running cluster, whichever system it is. */
interface Cluster {
  readonly name: SystemName;
  readonly describe: string;
  readonly endpoints: readonly string[];
  /** Member `index`'s pid now, or undefined while it is down. */
  pid(index: number): number | undefined;
  /** SIGKILL member `index` and wait until it has exited; etcd's is started again at once, keel up restarts keel's itself. */
  kill(index: number): Promise<void>;
  /** What this system's quota counts, from one member's Maintenance.Status. */
  quotaCounted(status: Status): number;
  /** Every pid to SIGKILL if this process exits without stopping the cluster. */
  allPids(): number[];
  stop(): Promise<void>;
}

interface Status {
  readonly dbSize?: string;
  readonly dbSizeInUse?: string;
  readonly leader?: string;
  readonly raftIndex?: string;
  readonly header?: { readonly member_id?: string };
}

async function startCluster(name: SystemName): Promise<Cluster> {
  return name === 'keel' ? startKeel() : startEtcd();
}

async function startKeel(): Promise<Cluster> {
  const nodeArgs = args['keel-node-args']?.split(' ').filter((arg) => arg !== '') ?? [];
  const cluster = await startKeelCluster({ size: MEMBERS, fsync: true, quotaBytes, nodeArgs });
  const members = (): { pid: number | null }[] => {
    try {
      return (JSON.parse(readFileSync(`${cluster.dataDir}/cluster.json`, 'utf8')) as { members: { pid: number | null }[] }).members;
    } catch {
      return []; // between keel up's write and rename, or before the first: the next read finds it
    }
  };
  const pid = (index: number): number | undefined => members()[index]?.pid ?? undefined;
  return {
    name: 'keel',
    describe: `keel: 3 members (keel up), quotaBytes ${quotaBytes} through KEEL_CONFIG${nodeArgs.length > 0 ? `, node ${nodeArgs.join(' ')}` : ''}, node ${process.version}, data in ${cluster.dataDir}`,
    endpoints: cluster.endpoints,
    pid,
    kill: async (index) => {
      const victim = pid(index);
      if (victim === undefined) throw new Error(`keel member ${index + 1} is not running`);
      process.kill(victim, 'SIGKILL');
      await waitFor(() => pid(index) !== victim, RESPAWN_TIMEOUT_MS, `keel up to see member ${index + 1} exit`);
    },
    quotaCounted: (status) => Number(status.dbSizeInUse ?? 0),
    allPids: () => [...members().map((member) => member.pid).filter((each): each is number => each !== null), cluster.supervisorPid],
    stop: async () => {
      if (nodeArgs.length > 0) keepMemberLogs(cluster.dataDir);
      await cluster.stop();
    },
  };
}

/** With --keel-node-args (a GC trace, say), the members' keel.log files are copied out before the data dir is removed. */
function keepMemberLogs(dataDir: string): void {
  const kept = mkdtempSync(join(tmpdir(), 'keel-scale-logs-'));
  for (let index = 1; index <= MEMBERS; index++) {
    try {
      cpSync(join(dataDir, `n${index}`, 'keel.log'), join(kept, `n${index}.log`));
    } catch (error) {
      console.error(`bench/scale: could not keep n${index}'s log: ${(error as Error).message}`);
    }
  }
  console.error(`keel members' logs kept in ${kept}`);
}

async function startEtcd(): Promise<Cluster> {
  const binary = ensureEtcdBinary((line) => console.error(line));
  if (binary === undefined) throw new Error('etcd is not installed (apt-get install -y etcd-server)');
  const cluster = await EtcdCluster.start({ size: MEMBERS, binary, extraArgs: ['--quota-backend-bytes', String(quotaBytes)] });
  const pid = (index: number): number | undefined => cluster.members[index]?.pid;
  return {
    name: 'etcd',
    describe: `etcd: ${etcdVersion(binary)}, 3 members, --quota-backend-bytes ${quotaBytes}, fsync on, data in ${cluster.dataRoot}`,
    endpoints: cluster.endpoints,
    pid,
    kill: async (index) => {
      await cluster.kill(index, 'SIGKILL');
      cluster.restart(index);
    },
    quotaCounted: (status) => Number(status.dbSize ?? 0),
    allPids: () => cluster.members.map((member) => member.pid).filter((each): each is number => each !== undefined),
    stop: () => cluster.stop(),
  };
}

async function waitFor(done: () => boolean | Promise<boolean>, timeoutMs: number, what: string, pollMs = READY_POLL_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleepMs(pollMs);
  }
}

// ---------------------------------------------------------------------------
// Sampling: RSS and MemAvailable every 100 ms, keel's event-loop gauge every second, each kept per phase.

/** The largest value seen per phase (a phase is a name the driver sets; samples go to the current one). */
class PhasePeaks {
  readonly #peaks = new Map<string, number>();
  note(phase: string, value: number): void {
    this.#peaks.set(phase, Math.max(this.#peaks.get(phase) ?? -Infinity, value));
  }
  get(phase: string): number | undefined {
    return this.#peaks.get(phase);
  }
}

function memAvailableBytes(): number {
  const match = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return match ? Number(match[1]) * 1024 : Infinity;
}

class Sampler {
  phase = 'start';
  /** Peak RSS of any member, in bytes, per phase; and of each member (`${phase}/${index}`). */
  readonly rss = new PhasePeaks();
  /** keel's longest event-loop stall, ms, per phase. */
  readonly stallMs = new PhasePeaks();
  /** Phases in which a stall scrape failed: their figure is a lower bound. */
  readonly stallIncomplete = new Set<string>();
  lowMemory = false;
  readonly #cluster: Cluster;
  readonly #timers: NodeJS.Timeout[] = [];
  #scraping = false;

  constructor(cluster: Cluster) {
    this.#cluster = cluster;
    this.#timers.push(setInterval(() => this.#sampleRss(), RSS_SAMPLE_MS));
    if (cluster.name === 'keel') this.#timers.push(setInterval(() => void this.#scrapeStalls(), STALL_SCRAPE_MS));
  }

  #sampleRss(): void {
    for (let index = 0; index < MEMBERS; index++) {
      const pid = this.#cluster.pid(index);
      if (pid === undefined) continue;
      const bytes = rssKb(pid) * 1024;
      this.rss.note(this.phase, bytes);
      this.rss.note(`${this.phase}/${index}`, bytes);
    }
    if (memAvailableBytes() < LOW_MEMORY_BYTES) this.lowMemory = true;
  }

  /** One scrape of every member, attributed to the phase current when it began (a stall ends before its scrape answers). */
  async #scrapeStalls(): Promise<void> {
    // Only keel has the gauge: a scrape of etcd's members found nothing and was reported as a failed keel scrape.
    if (this.#scraping || this.#cluster.name !== 'keel') return;
    this.#scraping = true;
    const phase = this.phase;
    try {
      const stalls = await Promise.all(this.#cluster.endpoints.map((endpoint) => scrapeMetric(endpoint, 'keel_nodejs_eventloop_lag_max_seconds', STALL_SCRAPE_TIMEOUT_MS)));
      for (const [index, seconds] of stalls.entries()) {
        if (seconds !== undefined) this.stallMs.note(phase, seconds * 1000);
        else if (this.#cluster.pid(index) !== undefined && !this.stallIncomplete.has(phase)) {
          this.stallIncomplete.add(phase);
          console.error(`keel: a stall scrape of member ${index + 1} failed during ${phase}; its longest stall is a lower bound`);
        }
      }
    } finally {
      this.#scraping = false;
    }
  }

  /** Resets keel's gauges (a scrape resets the maximum) so the next phase starts clean. */
  async startPhase(phase: string): Promise<void> {
    if (this.#cluster.name === 'keel') await Promise.all(this.#cluster.endpoints.map((endpoint) => scrapeMetric(endpoint, 'keel_nodejs_eventloop_lag_max_seconds', STALL_SCRAPE_TIMEOUT_MS)));
    this.phase = phase;
  }

  /** A last scrape so the end of the phase is counted in it. */
  async endPhase(): Promise<void> {
    while (this.#scraping) await sleepMs(10);
    await this.#scrapeStalls();
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
  }
}

async function statusOf(endpoint: string): Promise<Status | undefined> {
  try {
    return (await postJson(endpoint, '/v3/maintenance/status', {}, STATUS_TIMEOUT_MS)) as Status;
  } catch {
    return undefined;
  }
}

/** The largest quota-counted size over the members that answer (0 when none does). */
async function quotaCountedBytes(cluster: Cluster): Promise<number> {
  const statuses = await Promise.all(cluster.endpoints.map(statusOf));
  return Math.max(0, ...statuses.filter((status): status is Status => status !== undefined).map((status) => cluster.quotaCounted(status)));
}

async function leaderIndex(cluster: Cluster): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const statuses = await Promise.all(cluster.endpoints.map(statusOf));
    const index = statuses.findIndex((status) => status?.leader !== undefined && status.leader !== '0' && status.leader === status.header?.member_id);
    if (index >= 0) return index;
    await sleepMs(100);
  }
  throw new Error(`${cluster.name}: no member reports itself leader`);
}

// ---------------------------------------------------------------------------
// The fills.

interface FillSpec {
  readonly label: string;
  readonly clients: number;
  readonly conns: number;
  /** Stops when the quota-counted size reaches this. */
  readonly targetBytes: number;
  /** Client `client`'s `sequence`th request, and the key and value bytes it writes. */
  request(client: number, sequence: number): { method: 'Put' | 'Txn'; message: Message; bytes: number; keys: number };
}

interface FillResult {
  readonly ackedBytes: number;
  readonly ackedKeys: number;
  readonly elapsedSeconds: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** The quota-counted size when the fill ended. */
  readonly countedBytes: number;
  /** Why it stopped: target, time, NOSPACE, errors, low memory, op bound. */
  readonly stoppedBy: string;
}

async function fill(cluster: Cluster, sampler: Sampler, spec: FillSpec): Promise<FillResult> {
  const conns = openConns(cluster.endpoints, spec.conns);
  const begun = performance.now();
  const deadline = begun + fillSeconds * 1000;
  // Each client's request count is bounded too: enough requests to fill the quota four times over.
  const requestsMax = Math.ceil((4 * quotaBytes) / spec.request(0, 0).bytes / spec.clients) + 100;
  let stoppedBy: string | undefined;
  const stop = (reason: string): void => {
    stoppedBy ??= reason;
  };
  let ackedBytes = 0;
  let ackedKeys = 0;
  let errors = 0;
  let firstError: string | undefined;
  let countedBytes = await quotaCountedBytes(cluster);
  const client = async (id: number): Promise<void> => {
    for (let sequence = 0; stoppedBy === undefined; sequence++) {
      if (sequence >= requestsMax) return stop('request bound');
      const { method, message, bytes, keys } = spec.request(id, sequence);
      try {
        await conns.kv(id, method, message, REQUEST_TIMEOUT_MS);
        ackedBytes += bytes;
        ackedKeys += keys;
      } catch (error) {
        const text = (error as Error).message;
        firstError ??= text;
        if (/space exceeded/.test(text)) return stop('NOSPACE');
        if (++errors >= FILL_ERRORS_MAX) return stop(`${errors} errors`);
        await sleepMs(ERROR_BACKOFF_MS);
      }
    }
  };
  const watch = async (): Promise<void> => {
    let lastProgress = begun;
    while (stoppedBy === undefined) {
      await sleepMs(SIZE_POLL_MS);
      countedBytes = Math.max(countedBytes, await quotaCountedBytes(cluster));
      if (countedBytes >= spec.targetBytes) stop(`${Math.round((100 * spec.targetBytes) / quotaBytes)}% of the quota`);
      if (performance.now() >= deadline) stop(`${fillSeconds} s`);
      if (sampler.lowMemory) stop(`MemAvailable under ${LOW_MEMORY_BYTES / MIB} MiB`);
      if (performance.now() - lastProgress >= PROGRESS_MS) {
        lastProgress = performance.now();
        const seconds = (lastProgress - begun) / 1000;
        console.error(`${cluster.name} ${spec.label}: ${seconds.toFixed(0)} s, ${(ackedBytes / MIB).toFixed(0)} MiB acknowledged (${(ackedBytes / MIB / seconds).toFixed(2)} MiB/s), quota-counted ${(countedBytes / MIB).toFixed(0)} MiB (${((100 * countedBytes) / quotaBytes).toFixed(1)}%), member RSS peak ${((sampler.rss.get(sampler.phase) ?? 0) / MIB).toFixed(0)} MiB, ${errors} errors`);
      }
    }
  };
  try {
    await Promise.all([watch(), ...Array.from({ length: spec.clients }, (_, id) => client(id))]);
  } finally {
    conns.close();
  }
  const elapsedSeconds = (performance.now() - begun) / 1000;
  countedBytes = Math.max(countedBytes, await quotaCountedBytes(cluster));
  return { ackedBytes, ackedKeys, elapsedSeconds, errors, firstError, countedBytes, stoppedBy: stoppedBy ?? 'unknown' };
}

function keyOf(fillName: string, client: number, sequence: number): Buffer {
  return Buffer.from(`scale/${fillName}/${String(client).padStart(4, '0')}/${String(sequence).padStart(9, '0')}`);
}

/** The first key fill A writes: the restart probe reads it. */
const PROBE_KEY = keyOf('a', 0, 0);

function fillASpec(): FillSpec {
  const value = randomBytes(FILL_A_VALUE_BYTES);
  return {
    label: 'fill A',
    clients: FILL_A_CLIENTS,
    conns: FILL_A_CLIENTS,
    targetBytes: fillARatio * quotaBytes,
    request: (client, sequence) => {
      const key = keyOf('a', client, sequence);
      return { method: 'Put', message: { key, value }, bytes: key.length + value.length, keys: 1 };
    },
  };
}

function fillBSpec(): FillSpec {
  const value = randomBytes(FILL_B_VALUE_BYTES);
  return {
    label: 'fill B',
    clients: fillBClients,
    conns: Math.max(MEMBERS, Math.ceil(fillBClients / CLIENTS_PER_CONN)),
    targetBytes: FILL_TARGET_RATIO * quotaBytes,
    request: (client, sequence) => {
      const success: Message[] = [];
      let bytes = 0;
      for (let op = 0; op < fillBBatch; op++) {
        const key = keyOf('b', client, sequence * fillBBatch + op);
        success.push({ request_put: { key, value } });
        bytes += key.length + value.length;
      }
      return { method: 'Txn', message: { compare: [], success, failure: [] }, bytes, keys: fillBBatch };
    },
  };
}

// ---------------------------------------------------------------------------
// Leader changes, restart, defragment.

/** etcd_server_leader_changes_seen_total on each member (keel exports etcd's name too); undefined where unreadable. */
async function leaderChangesSeen(cluster: Cluster): Promise<(number | undefined)[]> {
  return Promise.all(cluster.endpoints.map((endpoint) => scrapeMetric(endpoint, 'etcd_server_leader_changes_seen_total', STATUS_TIMEOUT_MS)));
}

/** When the process `pid` started, on performance.now()'s clock (from /proc: its start time in ticks since boot, and the uptime). */
function processStartedAt(pid: number): number {
  const now = performance.now();
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return now - (uptimeSeconds - startTicks / 100) * 1000;
}

interface RestartResult {
  readonly member: number;
  /** From the new process's start to its first serializable get of the probe key. */
  readonly toReadSeconds: number;
  /** ... to its first /health ok. */
  readonly toHealthSeconds: number;
  /** ... to its commit index reaching the leader's. */
  readonly toCaughtUpSeconds: number;
  /** From the kill to the first serializable get (keel: includes keel up's 0.5 s restart backoff). */
  readonly killToReadSeconds: number;
  /** The restarted member's peak RSS, from its start until RESTART_SETTLE_MS after it caught up. */
  readonly peakRssBytes: number;
}

async function servesProbeKey(endpoint: string): Promise<boolean> {
  try {
    const response = (await postJson(endpoint, '/v3/kv/range', { key: PROBE_KEY.toString('base64'), serializable: true }, PROBE_TIMEOUT_MS)) as { kvs?: unknown[] };
    return (response.kvs?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return response.ok && ((await response.json()) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}

/** Resolves with performance.now() at the first time `check` holds (polled, bounded by READY_TIMEOUT_MS). */
async function firstTime(check: () => Promise<boolean>, what: string): Promise<number> {
  await waitFor(check, READY_TIMEOUT_MS, what);
  return performance.now();
}

async function restartFollower(cluster: Cluster, sampler: Sampler): Promise<RestartResult> {
  const leader = await leaderIndex(cluster);
  const member = (leader + 1) % MEMBERS;
  const endpoint = cluster.endpoints[member]!;
  const leaderIndexBefore = Number((await statusOf(cluster.endpoints[leader]!))?.raftIndex ?? 0);
  const victim = cluster.pid(member);
  const killedAt = performance.now();
  await cluster.kill(member);
  await waitFor(() => cluster.pid(member) !== undefined && cluster.pid(member) !== victim, RESPAWN_TIMEOUT_MS, `member ${member + 1} to be started again`);
  // From here the member's RSS samples are the new process's alone (the killed one's would count in the phase before).
  sampler.phase = 'restarted';
  const startedAt = processStartedAt(cluster.pid(member)!);
  const [readAt, healthAt] = await Promise.all([firstTime(() => servesProbeKey(endpoint), 'a serializable get'), firstTime(() => healthy(endpoint), '/health')]);
  const caughtUpAt = await firstTime(async () => Number((await statusOf(endpoint))?.raftIndex ?? -1) >= leaderIndexBefore, 'the restarted member to catch up');
  await sleepMs(RESTART_SETTLE_MS);
  const peakRssBytes = sampler.rss.get(`restarted/${member}`) ?? 0;
  const seconds = (at: number): number => (at - startedAt) / 1000;
  return { member, toReadSeconds: seconds(readAt), toHealthSeconds: seconds(healthAt), toCaughtUpSeconds: seconds(caughtUpAt), killToReadSeconds: (readAt - killedAt) / 1000, peakRssBytes };
}

interface DefragResult {
  readonly seconds: number;
  /** The largest RSS of a member while it was being defragmented. */
  readonly peakRssBytes: number;
  /** Each member's RSS just before its defragment. */
  readonly rssBeforeBytes: number[];
  readonly stallMs: number | undefined;
  /** A stall scrape failed during a defragment: stallMs is a lower bound. */
  readonly stallIncomplete: boolean;
}

async function defragmentEach(cluster: Cluster, sampler: Sampler): Promise<DefragResult> {
  let seconds = 0;
  let peakRssBytes = 0;
  const rssBeforeBytes: number[] = [];
  let stallMs: number | undefined;
  for (let member = 0; member < MEMBERS; member++) {
    const pid = cluster.pid(member);
    rssBeforeBytes.push(pid === undefined ? 0 : rssKb(pid) * 1024);
    const phase = `defrag-${member}`;
    await sampler.startPhase(phase);
    const begun = performance.now();
    await postJson(cluster.endpoints[member]!, '/v3/maintenance/defragment', {}, DEFRAG_TIMEOUT_MS);
    seconds += (performance.now() - begun) / 1000;
    await sleepMs(RSS_SAMPLE_MS * 2); // the last samples of the phase
    await sampler.endPhase();
    peakRssBytes = Math.max(peakRssBytes, sampler.rss.get(`${phase}/${member}`) ?? 0);
    const stall = sampler.stallMs.get(phase);
    if (stall !== undefined) stallMs = Math.max(stallMs ?? 0, stall);
    console.error(`${cluster.name} defragment of member ${member + 1}: ${((performance.now() - begun) / 1000).toFixed(1)} s, its RSS ${(rssBeforeBytes[member]! / MIB).toFixed(0)} MiB before, peak ${((sampler.rss.get(`${phase}/${member}`) ?? 0) / MIB).toFixed(0)} MiB during`);
  }
  const stallIncomplete = [0, 1, 2].some((member) => sampler.stallIncomplete.has(`defrag-${member}`));
  return { seconds, peakRssBytes, rssBeforeBytes, stallMs, stallIncomplete };
}

// ---------------------------------------------------------------------------
// One system, start to stop.

interface SystemResult {
  readonly describe: string;
  readonly fillA: FillResult;
  readonly fillB: FillResult;
  readonly leaderChanges: number | undefined;
  readonly memberRestartsDuringFills: number;
  readonly stallFillsMs: number | undefined;
  /** A stall scrape failed during the fills: stallFillsMs is a lower bound. */
  readonly stallFillsIncomplete: boolean;
  readonly peakRssFillsBytes: number;
  readonly dataBytes: number;
  readonly restart: RestartResult;
  readonly defrag: DefragResult;
}

/** Pids to SIGKILL if this process exits with a cluster still up (the clusters' own stop() is the normal path). */
const liveClusters = new Set<Cluster>();
process.once('exit', () => {
  for (const cluster of liveClusters) {
    for (const pid of cluster.allPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...liveClusters].map((cluster) => cluster.stop())).finally(() => process.exit(1));
  });
}

async function benchSystem(name: SystemName): Promise<SystemResult> {
  const cluster = await startCluster(name);
  liveClusters.add(cluster);
  console.error(cluster.describe);
  const sampler = new Sampler(cluster);
  try {
    return await measure(cluster, sampler);
  } finally {
    sampler.close();
    await cluster.stop();
    liveClusters.delete(cluster);
  }
}

async function measure(cluster: Cluster, sampler: Sampler): Promise<SystemResult> {
  const pidsBefore = [0, 1, 2].map((index) => cluster.pid(index));
  const changesBefore = await leaderChangesSeen(cluster);
  await sampler.startPhase('fills');
  const fillA = await fill(cluster, sampler, fillASpec());
  console.error(`${cluster.name} fill A: ${describeFill(fillA)}`);
  const fillB = sampler.lowMemory ? skippedFill(fillA.countedBytes) : await fill(cluster, sampler, fillBSpec());
  console.error(`${cluster.name} fill B: ${describeFill(fillB)}`);
  await sampler.endPhase();
  const changesAfter = await leaderChangesSeen(cluster);
  const pidsAfter = [0, 1, 2].map((index) => cluster.pid(index));
  const memberRestartsDuringFills = pidsAfter.filter((pid, index) => pid !== pidsBefore[index]).length;
  const leaderChanges = changesAfter.every((value, index) => value !== undefined && changesBefore[index] !== undefined) ? Math.max(...changesAfter.map((value, index) => value! - changesBefore[index]!)) : undefined;
  await sampler.startPhase('restart');
  const restart = await restartFollower(cluster, sampler);
  console.error(`${cluster.name} restart of member ${restart.member + 1}: serializable get ${restart.toReadSeconds.toFixed(2)} s, /health ${restart.toHealthSeconds.toFixed(2)} s, caught up ${restart.toCaughtUpSeconds.toFixed(2)} s after its process started (${restart.killToReadSeconds.toFixed(2)} s after the kill), its peak RSS ${(restart.peakRssBytes / MIB).toFixed(0)} MiB`);
  const defrag = await defragmentEach(cluster, sampler);
  return {
    describe: cluster.describe,
    fillA,
    fillB,
    leaderChanges,
    memberRestartsDuringFills,
    stallFillsMs: sampler.stallMs.get('fills'),
    stallFillsIncomplete: sampler.stallIncomplete.has('fills'),
    peakRssFillsBytes: sampler.rss.get('fills') ?? 0,
    dataBytes: fillA.ackedBytes + fillB.ackedBytes,
    restart,
    defrag,
  };
}

function skippedFill(countedBytes: number): FillResult {
  return { ackedBytes: 0, ackedKeys: 0, elapsedSeconds: 0, errors: 0, firstError: undefined, countedBytes, stoppedBy: 'skipped (low memory)' };
}

function describeFill(result: FillResult): string {
  const rate = result.elapsedSeconds > 0 ? result.ackedBytes / MIB / result.elapsedSeconds : 0;
  return `${(result.ackedBytes / MIB).toFixed(0)} MiB (${result.ackedKeys} keys) in ${result.elapsedSeconds.toFixed(1)} s = ${rate.toFixed(2)} MiB/s; quota-counted ${(result.countedBytes / MIB).toFixed(0)} MiB; stopped by ${result.stoppedBy}; ${result.errors} errors${result.firstError ? ` (first: ${result.firstError})` : ''}`;
}

// ---------------------------------------------------------------------------
// The table and the goals.

const mibPerSecond = (fill: FillResult): number => (fill.elapsedSeconds > 0 ? fill.ackedBytes / MIB / fill.elapsedSeconds : 0);

interface Row {
  readonly measure: string;
  readonly value: (result: SystemResult) => number | undefined;
  readonly format: (value: number, result: SystemResult) => string;
  /** Whether keel/etcd makes sense for this row. */
  readonly ratio: boolean;
}

const times = (value: number): string => `${value.toFixed(2)}x`;
const ofData = (bytes: number, result: SystemResult): string => `${(bytes / MIB).toFixed(0)} MiB (${result.dataBytes > 0 ? (bytes / result.dataBytes).toFixed(1) : '?'}x data)`;

const ROWS: readonly Row[] = [
  { measure: `fill A: 1 MiB values, ${FILL_A_CLIENTS} clients (MiB/s)`, value: (r) => mibPerSecond(r.fillA), format: (v) => v.toFixed(2), ratio: true },
  { measure: 'fill A: elapsed s (quota-counted size at the end)', value: (r) => r.fillA.elapsedSeconds, format: (v, r) => `${v.toFixed(1)} (${((100 * r.fillA.countedBytes) / quotaBytes).toFixed(0)}%, ${r.fillA.stoppedBy})`, ratio: true },
  { measure: `fill B: 100-byte values, ${fillBClients} clients, txns of ${fillBBatch} puts (MiB/s)`, value: (r) => mibPerSecond(r.fillB), format: (v, r) => `${v.toFixed(2)} (${Math.round(r.fillB.ackedKeys / Math.max(r.fillB.elapsedSeconds, 1e-9))} keys/s)`, ratio: true },
  { measure: 'fill B: elapsed s (quota-counted size at the end)', value: (r) => r.fillB.elapsedSeconds, format: (v, r) => `${v.toFixed(1)} (${((100 * r.fillB.countedBytes) / quotaBytes).toFixed(0)}%, ${r.fillB.stoppedBy})`, ratio: true },
  { measure: 'data written in the fills (key + value bytes acknowledged)', value: (r) => r.dataBytes, format: (v) => `${(v / MIB).toFixed(0)} MiB`, ratio: true },
  { measure: 'leader changes during the fills (no fault injected)', value: (r) => r.leaderChanges, format: (v, r) => `${v}${r.memberRestartsDuringFills > 0 ? ` (${r.memberRestartsDuringFills} member restarts)` : ''}`, ratio: false },
  { measure: 'longest event-loop stall during the fills, ms', value: (r) => r.stallFillsMs, format: (v, r) => `${r.stallFillsIncomplete ? '>= ' : ''}${v.toFixed(0)}`, ratio: false },
  { measure: 'longest event-loop stall during the defragments, ms', value: (r) => r.defrag.stallMs, format: (v, r) => `${r.defrag.stallIncomplete ? '>= ' : ''}${v.toFixed(0)}`, ratio: false },
  { measure: 'peak member RSS during the fills', value: (r) => r.peakRssFillsBytes, format: ofData, ratio: true },
  { measure: 'restart after kill -9 of a follower: process start to serializable get, s', value: (r) => r.restart.toReadSeconds, format: (v) => v.toFixed(2), ratio: true },
  { measure: 'restart: process start to /health ok, s', value: (r) => r.restart.toHealthSeconds, format: (v) => v.toFixed(2), ratio: true },
  { measure: "restart: process start to caught up with the leader's commit index, s", value: (r) => r.restart.toCaughtUpSeconds, format: (v) => v.toFixed(2), ratio: true },
  { measure: 'restart: peak RSS of the restarted member (until 5 s after it caught up)', value: (r) => r.restart.peakRssBytes, format: ofData, ratio: true },
  { measure: 'defragment, 3 members in turn: duration s', value: (r) => r.defrag.seconds, format: (v) => v.toFixed(1), ratio: true },
  { measure: 'defragment: peak RSS of the member being defragmented', value: (r) => r.defrag.peakRssBytes, format: ofData, ratio: true },
];

function tableRows(results: Map<SystemName, SystemResult>): string[][] {
  const keel = results.get('keel');
  const etcd = results.get('etcd');
  return ROWS.map((row) => {
    const cell = (result: SystemResult | undefined): string => {
      const value = result === undefined ? undefined : row.value(result);
      if (result === undefined) return '–';
      if (value === undefined) return result === etcd && /stall/.test(row.measure) ? 'n/a (Go)' : '?';
      return row.format(value, result);
    };
    const keelValue = keel === undefined ? undefined : row.value(keel);
    const etcdValue = etcd === undefined ? undefined : row.value(etcd);
    const ratio = row.ratio && keelValue !== undefined && etcdValue !== undefined && etcdValue > 0 ? times(keelValue / etcdValue) : '–';
    return [row.measure, cell(keel), cell(etcd), ratio];
  });
}

/** Issue 14's goals, each met or not (or not measured in this run). */
function goalsLine(results: Map<SystemName, SystemResult>): string {
  const keel = results.get('keel');
  const etcd = results.get('etcd');
  if (keel === undefined) return 'goals (issue 14): keel was not run';
  const verdict = (met: boolean | undefined, detail: string): string => `${met === undefined ? 'not measured' : met ? 'met' : 'NOT met'} (${detail})`;
  const ratioA = etcd ? mibPerSecond(keel.fillA) / mibPerSecond(etcd.fillA) : undefined;
  const ratioB = etcd ? mibPerSecond(keel.fillB) / mibPerSecond(etcd.fillB) : undefined;
  const throughput = ratioA === undefined || ratioB === undefined ? undefined : ratioA >= 1 && ratioB >= 1;
  const defragRatio = keel.dataBytes > 0 ? keel.defrag.peakRssBytes / keel.dataBytes : undefined;
  const goals = [
    `throughput >= 1.0x etcd: ${verdict(throughput, ratioA === undefined ? 'etcd not run' : `fill A ${times(ratioA)}, fill B ${times(ratioB!)}`)}`,
    `no leader change: ${verdict(keel.leaderChanges === undefined ? undefined : keel.leaderChanges === 0, `${keel.leaderChanges ?? '?'}`)}`,
    `longest stall < 100 ms: ${verdict(keel.stallFillsMs === undefined ? undefined : Math.max(keel.stallFillsMs, keel.defrag.stallMs ?? 0) < 100, `${keel.stallFillsIncomplete ? '>= ' : ''}${keel.stallFillsMs?.toFixed(0) ?? '?'} ms in the fills, ${keel.defrag.stallIncomplete ? '>= ' : ''}${keel.defrag.stallMs?.toFixed(0) ?? '?'} ms in the defragments`)}`,
    `restart <= etcd: ${verdict(etcd ? keel.restart.toReadSeconds <= etcd.restart.toReadSeconds : undefined, etcd ? `${keel.restart.toReadSeconds.toFixed(2)} s vs ${etcd.restart.toReadSeconds.toFixed(2)} s` : 'etcd not run')}`,
    `defrag peak RSS <= 2x data: ${verdict(defragRatio === undefined ? undefined : defragRatio <= 2, `${defragRatio?.toFixed(1) ?? '?'}x${etcd && etcd.dataBytes > 0 ? `; etcd ${(etcd.defrag.peakRssBytes / etcd.dataBytes).toFixed(1)}x` : ''}`)}`,
  ];
  return `goals (issue 14): ${goals.join('; ')}`;
}

async function main(): Promise<void> {
  const results = new Map<SystemName, SystemResult>();
  for (const name of systems) results.set(name, await benchSystem(name));
  console.log(`\nquota ${quotaBytes / MIB} MiB on every member; fill A to ${Math.round(fillARatio * 100)}% of it, fill B to ${Math.round(FILL_TARGET_RATIO * 100)}%, each at most ${fillSeconds} s; 3 members each, fsync on, loopback, node ${process.version}`);
  for (const result of results.values()) console.log(`- ${result.describe}`);
  console.log('');
  console.log(markdownTable(['measure', 'keel', 'etcd', 'keel/etcd'], tableRows(results)));
  console.log(`\n${goalsLine(results)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
