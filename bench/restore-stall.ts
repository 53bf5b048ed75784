/**
 * Issue 14, items 5 and 6, the restore side: does restoring a large
 * snapshot stall a member's event loop? Two measurements per build:
 *
 * (a) InstallSnapshot. A 3-member `keel up` (bench/lib/keel-cluster.ts,
 *     loopback, fsync on, `snapshotEntries` lowered (the log ratio off) and
 *     `snapshotCatchUpEntries` 100, so the leader soon compacts past a
 *     follower that is down) is filled with `--keys` keys of `--value-bytes`
 *     bytes, in Txns of 100 puts (8 clients). keel up is paused (SIGSTOP, so
 *     its supervisor does not restart what dies), a follower is killed
 *     (SIGKILL), `--overwrites` single puts go to the others, until the
 *     leader has saved two more snapshots (its log no longer reaches the
 *     follower's), then keel up resumes and restarts the follower, which
 *     restores its own snapshot at startup and is then sent the leader's.
 *     From its 'serving clients' line (the end of its start; the first
 *     scrape, which reports the stalls since the process began, is
 *     discarded) until 3 s after its 'installed a snapshot from the leader'
 *     line its /metrics is scraped every 250 ms:
 *     keel_nodejs_eventloop_lag_max_seconds (the longest stall since the
 *     previous scrape) gives the longest stall while it takes the snapshot
 *     (a scrape that times out counts as the time it waited); and its own
 *     'the event loop stalled' lines (a tick later than an election
 *     timeout) in that span are counted, as are the leader changes the two
 *     other members saw from the restart on.
 *
 * (b) Startup restore. Before the follower restarts, its data directory's
 *     raft state is copied; this process then opens it with the build's own
 *     FileStorage and restores it with the build's own code, as the member
 *     does at startup: the old build with StoreStateMachine.restore (one
 *     synchronous call), this one with restoreInSlices (the member's
 *     slices). The load (snapshot file read and checked) and the restore are
 *     timed, and monitorEventLoopDelay gives the longest stall of each.
 *
 * With `--before-bin DIST_MAIN_JS` (e.g. main built into /tmp/restore-before)
 * the same run is made first with that build, then with this one; the table
 * prints both and the ratio. Wrap it in `flock /tmp/bench.lock` on a shared
 * box.
 *
 * Stalls over 100 ms the scrapes saw are printed to stderr with their time
 * (to match against the follower's log); `--keep-logs DIR` copies every
 * member's keel.log to DIR/<build>/<member>/ before the data is removed.
 *
 * Usage: npx tsx bench/restore-stall.ts [--before-bin PATH] [--keys 1000000] [--value-bytes 64] [--snapshot-entries 2000] [--overwrites 6000] [--seconds 900] [--keep-logs DIR]
 * Every loop is bounded in count and time. Exit codes: 0 ok, 1 usage or runtime error.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type KeelCluster, startKeelCluster } from './lib/keel-cluster.js';
import { type ClusterMember, leaderChanges, leaderOf, logLines, members } from './lib/keel-members.js';
import { scrapeMetric } from './lib/metrics.js';
import { drivePosts, sleepMs } from './lib/net.js';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    'before-bin': { type: 'string' },
    keys: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '64' },
    'snapshot-entries': { type: 'string', default: '2000' },
    overwrites: { type: 'string', default: '6000' },
    seconds: { type: 'string', default: '900' },
    'keep-logs': { type: 'string' },
  },
});
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);
const SNAPSHOT_ENTRIES = Number(args['snapshot-entries']);
const OVERWRITES = Number(args.overwrites);
const PHASE_SECONDS_MAX = Number(args.seconds);
const PUTS_PER_TXN = 100;
const REQUEST_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 5_000;
/** The follower's scrapes wait this long: a stall must be measured whole, not cut at a timeout (a scrape that fails anyway counts as `>=`). */
const FOLLOWER_SCRAPE_TIMEOUT_MS = 60_000;
const SCRAPE_INTERVAL_MS = 250;
const ERRORS_MAX = 200;
const AFTER_INSTALL_MS = 3_000;
const INSTALL_WAIT_SECONDS_MAX = 300;
const thisBin = join(import.meta.dirname, '../dist/src/cli/main.js');
/** This build saves a snapshot every snapshotEntries only with the log ratio off; a build before the ratio knows no such setting. */
const snapshotEntriesAlone = (bin: string): { snapshotLogRatio?: number } => (bin === thisBin ? { snapshotLogRatio: 0 } : {});

interface StartupRestore {
  readonly loadSeconds: number;
  readonly loadStallSeconds: number;
  readonly restoreSeconds: number;
  readonly restoreStallSeconds: number;
  readonly snapshotBytes: number;
  readonly keys: number;
}

interface RunResult {
  readonly label: string;
  readonly fillSeconds: number;
  readonly installStallSeconds: number;
  /** A follower scrape failed: installStallSeconds is a lower bound. */
  readonly installStallAtLeast: boolean;
  /** The longest 'the event loop stalled' the follower logged in the window. */
  readonly loggedStallSeconds: number;
  readonly installLine: Record<string, unknown> | undefined;
  readonly stalledLines: number;
  readonly leaderChanges: number;
  readonly startup: StartupRestore;
  readonly loadAverage: string;
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** Runs `count` requests from `clients` concurrent loops, bounded by the phase deadline; returns the failures. */
function drive(endpoints: readonly string[], clients: number, count: number, body: (n: number) => [string, unknown]): Promise<number> {
  return drivePosts(endpoints, clients, count, body, { deadlineMs: Date.now() + PHASE_SECONDS_MAX * 1000, failuresMax: ERRORS_MAX, requestTimeoutMs: REQUEST_TIMEOUT_MS });
}

/** Waits (bounded) until `count` more lines with `marker` are in `logPath` than `before`. */
async function waitForLines(logPath: string, marker: string, before: number, count: number, seconds: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const lines = logLines(logPath, marker);
    if (lines.length >= before + count) return lines.slice(before);
    await sleepMs(250);
  }
  throw new Error(`${logPath}: no ${count} new ${marker} lines within ${seconds} s`);
}

/**
 * (b): the build's own storage and restore, on a copy of a member's raft
 * directory, in this process, with an event-loop delay histogram around each.
 */
async function startupRestore(bin: string, raftDir: string, sliced: boolean): Promise<StartupRestore> {
  const src = join(dirname(bin), '..');
  const storageModule = (await import(pathToFileURL(join(src, 'storage/index.js')).href)) as { FileStorage: new (dir: string, options?: object) => { load(): { snapshot: { data: Uint8Array } }; close(): void } };
  const storeModule = (await import(pathToFileURL(join(src, 'store/index.js')).href)) as { StoreStateMachine: new () => { restore(bytes: Uint8Array): void; beginRestore?(bytes: Uint8Array): unknown; keyCount: number } };
  const membershipModule = (await import(pathToFileURL(join(src, 'node/membership.js')).href)) as { unwrapSnapshot(data: Uint8Array): { store: Uint8Array } };
  const measure = async <T>(work: () => Promise<T> | T): Promise<{ value: T; seconds: number; stallSeconds: number }> => {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    await sleepMs(50); // the histogram records from its second timer callback on: a stall before that would go unseen
    const started = performance.now();
    const value = await work();
    const seconds = (performance.now() - started) / 1000;
    await sleepMs(50); // lets the histogram see the turn the work ended in
    histogram.disable();
    return { value, seconds, stallSeconds: histogram.max / 1e9 };
  };
  const storage = new storageModule.FileStorage(raftDir);
  const load = await measure(() => storage.load());
  storage.close();
  const { store } = membershipModule.unwrapSnapshot(load.value.snapshot.data);
  const machine = new storeModule.StoreStateMachine();
  let restore;
  if (sliced) {
    const restorer = (await import(pathToFileURL(join(src, 'node/snapshot-restorer.js')).href)) as typeof import('../src/node/snapshot-restorer.js');
    restore = await measure(async () => {
      const report = await restorer.restoreInSlices(machine.beginRestore!(store) as never, {
        sliceMs: restorer.RESTORE_SLICE_MS,
        stepWork: restorer.RESTORE_STEP_WORK,
        now: () => performance.now(),
        yieldTurn: () => new Promise((resolve) => setImmediate(resolve)),
        stopped: () => false,
      });
      if (!report.done) throw new Error('the restore was given up');
    });
  } else {
    restore = await measure(() => machine.restore(store));
  }
  return { loadSeconds: load.seconds, loadStallSeconds: load.stallSeconds, restoreSeconds: restore.seconds, restoreStallSeconds: restore.stallSeconds, snapshotBytes: store.length, keys: machine.keyCount };
}

async function run(label: string, bin: string): Promise<RunResult> {
  const cluster: KeelCluster = await startKeelCluster({ fsync: true, bin, config: { snapshotEntries: SNAPSHOT_ENTRIES, snapshotCatchUpEntries: 100, ...snapshotEntriesAlone(bin) } });
  let paused = false;
  try {
    const list = members(cluster.dataDir);
    const endpoints = list.map((member) => member.clientUrl);
    const value = base64('v'.repeat(VALUE_BYTES));
    const fillStarted = Date.now();
    const txns = Math.ceil(KEYS / PUTS_PER_TXN);
    const failed = await drive(endpoints, 8, txns, (n) => [
      '/v3/kv/txn',
      { success: Array.from({ length: PUTS_PER_TXN }, (_, i) => ({ request_put: { key: base64(`key/${String(n * PUTS_PER_TXN + i).padStart(8, '0')}`), value } })) },
    ]);
    const fillSeconds = (Date.now() - fillStarted) / 1000;
    process.stderr.write(`${label}: ${txns} txns of ${PUTS_PER_TXN} puts in ${fillSeconds.toFixed(0)} s (${failed} failed)\n`);
    const leader = await leaderOf(list);
    const follower = list.find((member) => member.id !== leader.id)!;
    const others = list.filter((member) => member !== follower);
    // Pause the supervisor so the follower stays down, then kill the follower.
    process.kill(cluster.supervisorPid, 'SIGSTOP');
    paused = true;
    process.kill(follower.pid!, 'SIGKILL');
    await sleepMs(500);
    const raftCopy = mkdtempSync(join(tmpdir(), 'keel-restore-bench-'));
    cpSync(join(follower.dataDir, 'raft'), raftCopy, { recursive: true });
    const savedBefore = logLines(leader.logPath, '"snapshot saved"').length;
    const overwriteFailures = await drive(others.map((member) => member.clientUrl), 8, OVERWRITES, (n) => ['/v3/kv/put', { key: base64(`key/${String(n % KEYS).padStart(8, '0')}`), value }]);
    await waitForLines(leader.logPath, '"snapshot saved"', savedBefore, 2, INSTALL_WAIT_SECONDS_MAX);
    process.stderr.write(`${label}: follower ${follower.id} down, ${OVERWRITES} overwrites (${overwriteFailures} failed), the leader saved 2 snapshots since\n`);
    const startedBefore = logLines(follower.logPath, '"member started"').length;
    const installedBefore = logLines(follower.logPath, '"installed a snapshot from the leader"').length;
    const servingBefore = logLines(follower.logPath, '"serving clients"').length;
    const changesBefore = await leaderChanges(others);
    process.kill(cluster.supervisorPid, 'SIGCONT');
    paused = false;
    await waitForLines(follower.logPath, '"member started"', startedBefore, 1, INSTALL_WAIT_SECONDS_MAX);
    await waitForLines(follower.logPath, '"serving clients"', servingBefore, 1, INSTALL_WAIT_SECONDS_MAX);
    await scrapeMetric(follower.clientUrl, 'keel_nodejs_eventloop_lag_max_seconds', SCRAPE_TIMEOUT_MS); // resets the maximum: the start is not the snapshot's
    const windowStart = Date.now();
    // Scrape the follower until 3 s after it installed the leader's snapshot.
    let longest = 0;
    let atLeast = false;
    let installedAt: number | undefined;
    const deadline = Date.now() + INSTALL_WAIT_SECONDS_MAX * 1000;
    while (Date.now() < deadline && (installedAt === undefined || Date.now() < installedAt + AFTER_INSTALL_MS)) {
      const asked = performance.now();
      const stall = await scrapeMetric(follower.clientUrl, 'keel_nodejs_eventloop_lag_max_seconds', FOLLOWER_SCRAPE_TIMEOUT_MS);
      if (stall === undefined) atLeast = true;
      const seconds = stall ?? (performance.now() - asked) / 1000;
      if (seconds > 0.1) process.stderr.write(`${label}: follower stall ${Math.round(seconds * 1000)} ms scraped at ${new Date().toISOString()}${stall === undefined ? ' (scrape failed)' : ''}\n`);
      longest = Math.max(longest, seconds);
      if (installedAt === undefined && logLines(follower.logPath, '"installed a snapshot from the leader"').length > installedBefore) installedAt = Date.now();
      await sleepMs(SCRAPE_INTERVAL_MS);
    }
    if (installedAt === undefined) throw new Error(`${label}: the follower installed no snapshot within ${INSTALL_WAIT_SECONDS_MAX} s`);
    const installLine = logLines(follower.logPath, '"installed a snapshot from the leader"').at(-1);
    const stalls = logLines(follower.logPath, '"stalledMs"').filter((line) => Date.parse(String(line.time)) >= windowStart);
    const stalledLines = stalls.length;
    const loggedStallSeconds = Math.max(0, ...stalls.map((line) => Number(line.stalledMs) / 1000));
    const changesAfter = await leaderChanges(others);
    if (args['keep-logs']) for (const member of list) cpSync(member.logPath, join(args['keep-logs'], label.replace(/\W+/g, '-'), member.id, 'keel.log'));
    const startup = await startupRestore(bin, raftCopy, bin === thisBin);
    rmSync(raftCopy, { recursive: true, force: true });
    return {
      label,
      fillSeconds,
      installStallSeconds: longest,
      installStallAtLeast: atLeast,
      loggedStallSeconds,
      installLine,
      stalledLines,
      leaderChanges: Math.max(0, ...changesAfter.map((after, i) => after - (changesBefore[i] ?? 0))),
      startup,
      loadAverage: loadavg().map((load) => load.toFixed(2)).join(' '),
    };
  } finally {
    if (paused) process.kill(cluster.supervisorPid, 'SIGCONT');
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (![KEYS, VALUE_BYTES, SNAPSHOT_ENTRIES, OVERWRITES, PHASE_SECONDS_MAX].every((value) => Number.isInteger(value) && value > 0)) throw new Error('--keys, --value-bytes, --snapshot-entries, --overwrites and --seconds take positive integers');
  const results: RunResult[] = [];
  if (args['before-bin']) results.push(await run('before', args['before-bin']));
  results.push(await run('this build', thisBin));
  const ms = (seconds: number): string => `${Math.round(seconds * 1000)} ms`;
  console.log(`${KEYS} keys x ${VALUE_BYTES} B values (txns of ${PUTS_PER_TXN}); snapshotEntries ${SNAPSHOT_ENTRIES}; 3 members on loopback, fsync on`);
  console.log(
    markdownTable(
      ['build', 'fill', '(a) follower: longest stall taking the snapshot (scraped)', 'longest it logged', 'its install log line', "'stalled' lines", 'leader changes', '(b) snapshot', 'load: time / stall', 'restore: time / longest stall', 'load avg at end'],
      results.map((result) => [
        result.label,
        `${result.fillSeconds.toFixed(0)} s`,
        `${result.installStallAtLeast ? '>= ' : ''}${ms(result.installStallSeconds)}`,
        ms(result.loggedStallSeconds),
        result.installLine === undefined ? '-' : JSON.stringify(Object.fromEntries(Object.entries(result.installLine).filter(([name]) => ['records', 'seconds', 'slices', 'longestSliceMs'].includes(name)))),
        String(result.stalledLines),
        String(result.leaderChanges),
        `${(result.startup.snapshotBytes / 2 ** 20).toFixed(0)} MiB, ${result.startup.keys} keys`,
        `${ms(result.startup.loadSeconds)} / ${ms(result.startup.loadStallSeconds)}`,
        `${ms(result.startup.restoreSeconds)} / ${ms(result.startup.restoreStallSeconds)}`,
        result.loadAverage,
      ]),
    ),
  );
  if (results.length === 2) {
    const [before, after] = [results[0]!, results[1]!];
    const ratio = (a: number, b: number): string => (a / Math.max(b, 1e-9)).toFixed(3);
    const worst = (result: RunResult): number => Math.max(result.installStallSeconds, result.loggedStallSeconds, Number(result.installLine?.longestSliceMs ?? 0) / 1000);
    console.log(`(a) longest follower stall taking a snapshot (scraped, logged or its longest slice), this build / before: ${ratio(worst(after), worst(before))}`);
    console.log(`(b) longest stall restoring at startup, this build / before: ${ratio(after.startup.restoreStallSeconds, before.startup.restoreStallSeconds)}; restore time: ${ratio(after.startup.restoreSeconds, before.startup.restoreSeconds)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
