/**
 * Issue 14, items 5 and 6, the apply side: does one DeleteRange of many keys
 * stall the members' event loops? (`etcdctl check perf --load=l` ends with
 * one of ~160,000 keys; in one apply it held every member's loop for
 * 0.3-1.1 s, longer than the election timeout.)
 *
 * Per build: a 3-member `keel up` (bench/lib/keel-cluster.ts, loopback,
 * fsync on) is filled with `--keys` keys of `--key-bytes` and
 * `--value-bytes` under one prefix, in Txns of 100 puts from 8 clients.
 * After a short pause each member's keel_nodejs_eventloop_lag_max_seconds
 * is scraped once (a scrape resets it), then one DeleteRange of the prefix
 * goes to the leader, and every member's /metrics is scraped every 250 ms
 * from then until 2 s after the answer (a scrape waits up to 60 s, so a
 * stall is measured whole). Reported: the answer's latency, the longest
 * stall any member saw, each member's longest, the leader changes the
 * members counted from before the delete to after it, and what the members
 * logged about the entry ('applied an entry in steps': steps, total and
 * longest step; 'applying an entry took too long': the one-call apply).
 *
 * With `--before-bin DIST_MAIN_JS` (a build of an earlier commit, e.g.
 * `git worktree add /tmp/delete-before <commit>` then `npx tsc -p .` there
 * with this checkout's node_modules linked in) that build is run first,
 * then this one; the table prints both and the ratio. A busy machine's
 * stalls are in both (see README's GC and CPU-starvation notes): compare
 * the builds within one run.
 *
 * Usage: npx tsx bench/delete-stall.ts [--before-bin PATH] [--keys 160000] [--key-bytes 64] [--value-bytes 256] [--seconds 600] (after npm run build)
 * Every loop is bounded in count and time. Exit codes: 0 ok, 1 usage or runtime error.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startKeelCluster } from './lib/keel-cluster.js';
import { type ClusterMember, leaderChanges, leaderOf, logLines, members } from './lib/keel-members.js';
import { scrapeMetric } from './lib/metrics.js';
import { drivePosts, postJson, sleepMs } from './lib/net.js';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    'before-bin': { type: 'string' },
    keys: { type: 'string', default: '160000' },
    'key-bytes': { type: 'string', default: '64' },
    'value-bytes': { type: 'string', default: '256' },
    seconds: { type: 'string', default: '600' },
  },
});
const KEYS = Number(args.keys);
const KEY_BYTES = Number(args['key-bytes']);
const VALUE_BYTES = Number(args['value-bytes']);
const PHASE_SECONDS_MAX = Number(args.seconds);
if (!(Number.isInteger(KEYS) && KEYS >= 100 && KEYS <= 5_000_000)) usage('--keys must be an integer in [100, 5000000]');
if (!(Number.isInteger(KEY_BYTES) && KEY_BYTES >= 16 && KEY_BYTES <= 1024)) usage('--key-bytes must be an integer in [16, 1024]');
if (!(Number.isInteger(VALUE_BYTES) && VALUE_BYTES >= 0 && VALUE_BYTES <= 16_384)) usage('--value-bytes must be an integer in [0, 16384]');
if (!(PHASE_SECONDS_MAX >= 10 && PHASE_SECONDS_MAX <= 3_600)) usage('--seconds must be in [10, 3600]');

const PREFIX = 'del/';
const PUTS_PER_TXN = 100;
const FILL_CLIENTS = 8;
const REQUEST_TIMEOUT_MS = 30_000;
const DELETE_TIMEOUT_MS = 120_000;
/** A scrape during the delete waits this long: a stall must be measured whole, not cut at a timeout (a scrape that fails anyway counts as `>=`). */
const STALL_SCRAPE_TIMEOUT_MS = 60_000;
const SCRAPE_INTERVAL_MS = 250;
const AFTER_ANSWER_MS = 2_000;
const SETTLE_MS = 2_000;
const ERRORS_MAX = 200;
const thisBin = join(import.meta.dirname, '../dist/src/cli/main.js');

function usage(message: string): never {
  console.error(`bench/delete-stall: ${message}`);
  process.exit(1);
}

interface RunResult {
  readonly label: string;
  readonly fillSeconds: number;
  readonly deleted: number;
  readonly deleteMs: number;
  /** Each member's longest stall from just before the delete to 2 s after its answer, seconds. */
  readonly stalls: readonly number[];
  /** A scrape failed: the stalls are lower bounds. */
  readonly stallsAtLeast: boolean;
  readonly leaderChanges: number;
  /** What each member logged about the entry. */
  readonly logged: readonly string[];
  readonly loadAverage: string;
}

function keyOf(n: number): string {
  const name = `${PREFIX}${String(n).padStart(8, '0')}`;
  return name.padEnd(KEY_BYTES, 'k');
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** The prefix's range end: the prefix with its last byte incremented. */
function prefixEnd(): string {
  return `${PREFIX.slice(0, -1)}${String.fromCharCode(PREFIX.charCodeAt(PREFIX.length - 1) + 1)}`;
}

function describeLogged(member: ClusterMember): string {
  const stepped = logLines(member.logPath, 'applied an entry in steps').at(-1);
  if (stepped) return `${member.id}: ${String(stepped.steps)} steps, ${String(stepped.ms)} ms, longest step ${String(stepped.longestStepMs)} ms`;
  const slow = logLines(member.logPath, 'applying an entry took too long').filter((line) => line.kind === 'deleteRange').at(-1);
  if (slow) return `${member.id}: one call, ${String(slow.ms)} ms`;
  return `${member.id}: -`;
}

async function run(label: string, bin: string): Promise<RunResult> {
  const cluster = await startKeelCluster({ fsync: true, bin });
  try {
    const list = members(cluster.dataDir);
    const value = base64('v'.repeat(VALUE_BYTES));
    const fillStarted = performance.now();
    const txns = Math.ceil(KEYS / PUTS_PER_TXN);
    const failures = await drivePosts(
      cluster.endpoints,
      FILL_CLIENTS,
      txns,
      (n) => {
        const success = [];
        for (let i = n * PUTS_PER_TXN; i < Math.min(KEYS, (n + 1) * PUTS_PER_TXN); i++) success.push({ request_put: { key: base64(keyOf(i)), value } });
        return ['/v3/kv/txn', { success }];
      },
      { deadlineMs: Date.now() + PHASE_SECONDS_MAX * 1000, failuresMax: ERRORS_MAX, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    );
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    if (failures > 0) console.error(`${label}: ${failures} fill txns failed (timed out or refused); the count below says how many keys the delete found`);
    await sleepMs(SETTLE_MS); // the followers apply the tail; a periodic snapshot started by the fill is written meanwhile
    const leader = await leaderOf(list);
    const changesBefore = await leaderChanges(list);
    await Promise.all(list.map((member) => scrapeMetric(member.clientUrl, 'keel_nodejs_eventloop_lag_max_seconds', STALL_SCRAPE_TIMEOUT_MS))); // resets each maximum
    const stalls = list.map(() => 0);
    let stallsAtLeast = false;
    let answeredAt: number | undefined;
    const scraping = Promise.all(
      list.map(async (member, i) => {
        for (let round = 0; round < (PHASE_SECONDS_MAX * 1000) / SCRAPE_INTERVAL_MS; round++) {
          const started = performance.now();
          const lag = await scrapeMetric(member.clientUrl, 'keel_nodejs_eventloop_lag_max_seconds', STALL_SCRAPE_TIMEOUT_MS);
          if (lag === undefined) {
            stallsAtLeast = true;
            stalls[i] = Math.max(stalls[i]!, (performance.now() - started) / 1000);
          } else stalls[i] = Math.max(stalls[i]!, lag);
          if (answeredAt !== undefined && performance.now() > answeredAt + AFTER_ANSWER_MS) return;
          await sleepMs(SCRAPE_INTERVAL_MS);
        }
      }),
    );
    const deleteStarted = performance.now();
    const response = (await postJson(leader.clientUrl, '/v3/kv/deleterange', { key: base64(PREFIX), range_end: base64(prefixEnd()) }, DELETE_TIMEOUT_MS)) as { deleted?: string };
    answeredAt = performance.now();
    const deleteMs = answeredAt - deleteStarted;
    await scraping;
    const changesAfter = await leaderChanges(list);
    await sleepMs(500); // the log lines are written asynchronously
    return {
      label,
      fillSeconds,
      deleted: Number(response.deleted ?? 0),
      deleteMs,
      stalls,
      stallsAtLeast,
      leaderChanges: Math.max(...changesAfter.map((after, i) => after - changesBefore[i]!)),
      logged: list.map(describeLogged),
      loadAverage: loadavg().map((each) => each.toFixed(1)).join(' '),
    };
  } finally {
    await cluster.stop();
  }
}

const results: RunResult[] = [];
if (args['before-bin'] !== undefined) results.push(await run('before', args['before-bin']));
results.push(await run('this build', thisBin));

const ms = (seconds: number): string => String(Math.round(seconds * 1000));
const stallOf = (result: RunResult): number => Math.max(...result.stalls);
const before = results.length === 2 ? results[0] : undefined;
const rows: string[][] = [];
const row = (measure: string, format: (result: RunResult) => string, ratio?: (result: RunResult, anchor: RunResult) => string): void => {
  const cells = results.map(format);
  rows.push([measure, ...cells, ...(before ? [ratio ? ratio(results[1]!, before) : '–'] : [])]);
};
const ratioOf = (value: (result: RunResult) => number) => (result: RunResult, anchor: RunResult): string => (value(anchor) > 0 ? (value(result) / value(anchor)).toFixed(2) : '–');
row('keys deleted (one DeleteRange)', (r) => String(r.deleted));
row('fill, s', (r) => r.fillSeconds.toFixed(1));
row('DeleteRange answered after, ms', (r) => String(Math.round(r.deleteMs)), ratioOf((r) => r.deleteMs));
row('longest event-loop stall, any member, ms', (r) => `${r.stallsAtLeast ? '>= ' : ''}${ms(stallOf(r))}`, ratioOf(stallOf));
row('longest stall per member, ms', (r) => r.stalls.map(ms).join(', '));
row('leader changes', (r) => String(r.leaderChanges));
row('what the members logged', (r) => r.logged.join('; '));
row('load average (1, 5, 15 min) at the end', (r) => r.loadAverage);
console.log(`\nOne DeleteRange of ${KEYS} keys (${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values), 3 members on loopback, fsync on.\n`);
console.log(markdownTable(['measure', ...results.map((r) => r.label), ...(before ? ['this ÷ before'] : [])], rows));
