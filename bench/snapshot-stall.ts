/**
 * Issue 14, items 5 and 6: does a member's periodic snapshot stall its
 * event loop? A 3-member `keel up` (bench/lib/keel-cluster.ts, loopback,
 * fsync on) with `snapshotEntries` lowered and the log ratio off (default 2000, so several
 * snapshots happen at a large state within a short run) is filled with
 * `--big` 1 MiB values (4 clients, JSON gateway), then with `--txns` Txns
 * of 100 puts of 100-byte values (8 clients). Every second each member's
 * /metrics is scraped:
 *
 * - keel_nodejs_eventloop_lag_max_seconds (prom-client's event-loop delay
 *   maximum since the previous scrape): the longest stall, overall;
 * - etcd_server_leader_changes_seen_total: its growth, largest over the
 *   members (no fault is injected, so any is a stall's doing).
 *
 * - the members' own 'the event loop stalled' log lines (stalledMs): a
 *   stall longer than the scrape timeout makes the scrapes fail, so the
 *   scraped maximum can miss exactly the longest stalls; the log cannot.
 *
 * The stall while snapshotting is the largest scraped (or logged) in a snapshot's span
 * (from its 'snapshot saved' line's time back by its seconds, plus 1.5 s,
 * since a scrape reports the stalls since the previous one), any member.
 *
 * Then each member's keel.log is read for its 'snapshot saved' lines: how
 * many, the largest, the longest (seconds, which before this change was
 * all on the event loop) and, where logged, the longest synchronous step.
 *
 * With `--before-bin DIST_MAIN_JS` the same run is made first with that
 * build (e.g. the previous commit built in a temporary directory), then
 * with this one, and both are printed side by side with their ratio.
 *
 * Usage: npx tsx bench/snapshot-stall.ts [--before-bin PATH] [--big 350] [--txns 3000] [--snapshot-entries 2000] [--seconds 300] [--keep-logs DIR]
 * `--keel-node-args=--trace-gc` gives the members Node flags (their output lands in keel.log).
 * `--keep-logs` copies each member's keel.log to DIR/<build>/<member>/ before the data is removed.
 * Every loop is bounded in count and time. Exit codes: 0 ok, 1 usage or runtime error.
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type KeelCluster, startKeelCluster } from './lib/keel-cluster.js';
import { scrapeMetric } from './lib/metrics.js';
import { drivePosts, sleepMs } from './lib/net.js';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    'before-bin': { type: 'string' },
    big: { type: 'string', default: '350' },
    txns: { type: 'string', default: '3000' },
    'snapshot-entries': { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '300' },
    'keep-logs': { type: 'string' },
    'keel-node-args': { type: 'string' },
  },
});
const BIG_VALUES = Number(args.big);
const TXNS = Number(args.txns);
const SNAPSHOT_ENTRIES = Number(args['snapshot-entries']);
const PHASE_SECONDS_MAX = Number(args.seconds);
const REQUEST_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 5_000;
const ERRORS_MAX = 200;
const SETTLE_SECONDS_MAX = 90;

interface RunResult {
  readonly label: string;
  readonly longestStallSeconds: number;
  readonly longestStallInSnapshotSeconds: number;
  readonly longestLoggedStallSeconds: number;
  readonly longestLoggedStallInSnapshotSeconds: number;
  readonly leaderChanges: number;
  readonly snapshots: number;
  readonly largestSnapshotBytes: number;
  readonly longestSnapshotSeconds: number;
  readonly longestStepSeconds: number | undefined;
  readonly failedRequests: number;
  readonly seconds: number;
  readonly loadAverage: string;
}

/** Scrapes every member every second until stopped: the longest stall seen, each scrape's with its time. */
class Sampler {
  longestStallSeconds = 0;
  /** [time of the scrape (ms since the epoch), the longest stall since the previous scrape (s)]. */
  readonly samples: [number, number][] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(endpoints: readonly string[]) {
    this.#done = this.#loop(endpoints);
  }

  async #loop(endpoints: readonly string[]): Promise<void> {
    for (let round = 0; round < 3600 && !this.#stopped; round++) {
      const stalls = await Promise.all(endpoints.map((endpoint) => scrapeMetric(endpoint, 'keel_nodejs_eventloop_lag_max_seconds', SCRAPE_TIMEOUT_MS)));
      const at = Date.now();
      for (const stall of stalls) {
        if (stall === undefined) continue;
        this.longestStallSeconds = Math.max(this.longestStallSeconds, stall);
        this.samples.push([at, stall]);
      }
      await sleepMs(1000);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

async function leaderChanges(endpoints: readonly string[]): Promise<number[]> {
  return Promise.all(endpoints.map(async (endpoint) => (await scrapeMetric(endpoint, 'etcd_server_leader_changes_seen_total', SCRAPE_TIMEOUT_MS)) ?? 0));
}

/** Runs `count` requests from `clients` concurrent loops, bounded by the phase deadline; returns the failures. */
function drive(endpoints: readonly string[], clients: number, count: number, body: (n: number) => [string, unknown]): Promise<number> {
  return drivePosts(endpoints, clients, count, body, { deadlineMs: Date.now() + PHASE_SECONDS_MAX * 1000, failuresMax: ERRORS_MAX, requestTimeoutMs: REQUEST_TIMEOUT_MS });
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

interface SnapshotLine {
  readonly time: string;
  readonly seconds: number;
  readonly bytes?: number;
  readonly longestStepSeconds?: number;
}

interface StallLine {
  readonly time: string;
  readonly stalledMs: number;
}

/** The 'snapshot saved' lines of every member's keel.log under the data dir. */
function snapshotLines(dataDir: string): SnapshotLine[] {
  return logLines<SnapshotLine>(dataDir, '"snapshot saved"');
}

/**
 * The members' own stall reports ('the event loop stalled', logged when the
 * tick timer fires late by more than an election timeout): unlike a scrape,
 * they cannot miss a stall that outlasts the scrape timeout.
 */
function stallLines(dataDir: string): StallLine[] {
  return logLines<StallLine>(dataDir, '"stalledMs"');
}

function logLines<T>(dataDir: string, marker: string): T[] {
  const lines: T[] = [];
  for (const name of readdirSync(dataDir)) {
    const log = join(dataDir, name, 'keel.log');
    try {
      if (!statSync(log).isFile()) continue;
    } catch {
      continue;
    }
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (!line.includes(marker)) continue;
      try {
        lines.push(JSON.parse(line) as T);
      } catch {
        // a torn last line
      }
    }
  }
  return lines;
}

/** Scrape rounds a snapshot's span reaches past its end: a scrape reports the stalls since the previous one. */
const SNAPSHOT_WINDOW_SLACK_MS = 1_500;

/** The longest stall any member reported in a scrape that falls within a snapshot's span (any member's) or just after it. */
function stallDuringSnapshots(samples: readonly [number, number][], lines: readonly SnapshotLine[]): number {
  const windows = lines.map((line) => {
    const end = Date.parse(line.time);
    return [end - line.seconds * 1000, end + SNAPSHOT_WINDOW_SLACK_MS] as const;
  });
  let longest = 0;
  for (const [at, stall] of samples) if (windows.some(([start, end]) => at >= start && at <= end)) longest = Math.max(longest, stall);
  return longest;
}

async function run(label: string, bin: string | undefined): Promise<RunResult> {
  const started = Date.now();
  const cluster: KeelCluster = await startKeelCluster({ fsync: true, ...(bin ? { bin } : {}), config: { snapshotEntries: SNAPSHOT_ENTRIES, ...(bin ? {} : { snapshotLogRatio: 0 }) }, ...(args['keel-node-args'] ? { nodeArgs: args['keel-node-args'].split(' ') } : {}) });
  try {
    const endpoints = cluster.endpoints;
    const changesBefore = await leaderChanges(endpoints);
    const sampler = new Sampler(endpoints);
    const big = base64('x'.repeat(1024 * 1024));
    const small = base64('y'.repeat(100));
    let failed = await drive(endpoints, 4, BIG_VALUES, (n) => ['/v3/kv/put', { key: base64(`big/${n}`), value: big }]);
    process.stderr.write(`${label}: ${BIG_VALUES} x 1 MiB written (${failed} failed)\n`);
    failed += await drive(endpoints, 8, TXNS, (n) => [
      '/v3/kv/txn',
      { success: Array.from({ length: 100 }, (_, i) => ({ request_put: { key: base64(`small/${n}/${i}`), value: small } })) },
    ]);
    process.stderr.write(`${label}: ${TXNS} txns of 100 puts written\n`);
    // Let the snapshots that the last writes started finish (bounded).
    const settleDeadline = Date.now() + SETTLE_SECONDS_MAX * 1000;
    let count = snapshotLines(cluster.dataDir).length;
    while (Date.now() < settleDeadline) {
      await sleepMs(3000);
      const now = snapshotLines(cluster.dataDir).length;
      if (now === count) break;
      count = now;
    }
    await sampler.stop();
    const changesAfter = await leaderChanges(endpoints);
    const lines = snapshotLines(cluster.dataDir);
    const stalls = stallLines(cluster.dataDir);
    if (args['keep-logs']) {
      for (const name of readdirSync(cluster.dataDir)) {
        const log = join(cluster.dataDir, name, 'keel.log');
        if (existsSync(log)) cpSync(log, join(args['keep-logs'], label.replace(/\W+/g, '-'), name, 'keel.log'));
      }
    }
    const steps = lines.map((line) => line.longestStepSeconds).filter((value): value is number => value !== undefined);
    return {
      label,
      longestStallSeconds: sampler.longestStallSeconds,
      longestStallInSnapshotSeconds: stallDuringSnapshots(sampler.samples, lines),
      longestLoggedStallSeconds: Math.max(0, ...stalls.map((stall) => stall.stalledMs / 1000)),
      longestLoggedStallInSnapshotSeconds: stallDuringSnapshots(stalls.map((stall) => [Date.parse(stall.time), stall.stalledMs / 1000]), lines),
      leaderChanges: Math.max(0, ...changesAfter.map((after, i) => after - (changesBefore[i] ?? 0))),
      snapshots: lines.length,
      largestSnapshotBytes: Math.max(0, ...lines.map((line) => line.bytes ?? 0)),
      longestSnapshotSeconds: Math.max(0, ...lines.map((line) => line.seconds)),
      longestStepSeconds: steps.length > 0 ? Math.max(...steps) : undefined,
      failedRequests: failed,
      seconds: (Date.now() - started) / 1000,
      loadAverage: loadavg().map((value) => value.toFixed(2)).join(' '),
    };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (![BIG_VALUES, TXNS, SNAPSHOT_ENTRIES, PHASE_SECONDS_MAX].every((value) => Number.isInteger(value) && value > 0)) throw new Error('--big, --txns, --snapshot-entries and --seconds take positive integers');
  const results: RunResult[] = [];
  if (args['before-bin']) results.push(await run('before', args['before-bin']));
  results.push(await run('this build', undefined));
  const ms = (seconds: number | undefined): string => (seconds === undefined ? '(not logged)' : `${Math.round(seconds * 1000)} ms`);
  const rows = results.map((result) => [
    result.label,
    ms(result.longestStallSeconds),
    ms(result.longestStallInSnapshotSeconds),
    ms(result.longestLoggedStallSeconds),
    ms(result.longestLoggedStallInSnapshotSeconds),
    String(result.leaderChanges),
    String(result.snapshots),
    `${(result.largestSnapshotBytes / 2 ** 20).toFixed(0)} MiB`,
    `${result.longestSnapshotSeconds.toFixed(2)} s`,
    ms(result.longestStepSeconds),
    String(result.failedRequests),
    `${result.seconds.toFixed(0)} s`,
    result.loadAverage,
  ]);
  console.log(`snapshotEntries ${SNAPSHOT_ENTRIES}; ${BIG_VALUES} x 1 MiB, then ${TXNS} txns x 100 x 100 B; 3 members on loopback`);
  console.log(markdownTable(['build', 'longest stall (scraped)', 'same, while snapshotting', 'longest stall (members\' log)', 'same, while snapshotting', 'leader changes', 'snapshots', 'largest', 'longest snapshot', 'longest sync step', 'failed requests', 'run', 'load avg (1/5/15 min) at end'], rows));
  if (results.length === 2) {
    const [before, after] = [results[0]!, results[1]!];
    const longest = (result: RunResult): number => Math.max(result.longestStallInSnapshotSeconds, result.longestLoggedStallInSnapshotSeconds);
    console.log(`longest stall while snapshotting (scraped or logged), this build / before: ${(longest(after) / Math.max(longest(before), 1e-9)).toFixed(3)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
