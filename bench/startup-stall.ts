/**
 * How long does a member's startup hold its event loop? A one-member
 * `keel node` (loopback, fsync on) is filled with `--keys` keys of
 * `--value-bytes` bytes in Txns of 100 puts (8 clients), with
 * `--snapshot-entries` chosen (the log ratio off) so that it has saved a large snapshot and
 * holds a log tail after it; it is stopped (SIGTERM) and started again over
 * the same data directory, `--restarts` times. Per restart:
 *
 * - the longest event-loop stall of the startup: the member runs with
 *   bench/lib/loop-gaps.mjs preloaded (`node --import`), a 5 ms interval
 *   from the process's first moment that logs every gap over 50 ms; the
 *   longest gap logged from spawn until LOOP_GAP_AFTER_SERVING_MS after
 *   'serving clients' (so the raft loop's first turns count) is reported,
 *   with every gap over 200 ms. The first gap includes loading the modules
 *   (~0.3-0.5 s here, in every build), and whatever the start does before
 *   its first await. The member's own `keel_nodejs_eventloop_lag_max_seconds`,
 *   scraped once it serves, is shown too: it misses a stall before its
 *   histogram's second callback, which is where a synchronous load sits;
 * - the time from process spawn to 'member started', and from 'member
 *   started' to 'serving clients' (the log lines' own times);
 * - with `--cpu-prof DIR`, the last restart runs under `node --cpu-prof`
 *   (slower: its figures are the table's last), its profile left in
 *   DIR/<build>/ (summarise it with bench/lib/cpu-profile.ts).
 *
 * With `--before-bin DIST_MAIN_JS` the same is done first with that build on
 * its own data, then with this one; the table prints both and the ratio.
 * Wrap it in `flock /tmp/bench.lock` on a shared box.
 *
 * Usage: npx tsx bench/startup-stall.ts [--before-bin PATH] [--keys 1000000] [--value-bytes 64] [--snapshot-entries 8000] [--restarts 2] [--cpu-prof DIR] [--seconds 900]
 * Every loop is bounded in count and time. Exit codes: 0 ok, 1 usage or runtime error.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { scrapeMetric } from './lib/metrics.js';
import { freeLoopbackPorts, postJson, sleepMs } from './lib/net.js';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    'before-bin': { type: 'string' },
    keys: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '64' },
    'snapshot-entries': { type: 'string', default: '8000' },
    restarts: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
    seconds: { type: 'string', default: '900' },
  },
});
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);
const SNAPSHOT_ENTRIES = Number(args['snapshot-entries']);
const RESTARTS = Number(args.restarts);
const PHASE_SECONDS_MAX = Number(args.seconds);
const PUTS_PER_TXN = 100;
const CLIENTS = 8;
const REQUEST_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 60_000;
const ERRORS_MAX = 200;
const STOP_WAIT_MS = 60_000;
const LOOP_GAP_AFTER_SERVING_MS = 3_000;
const thisBin = join(import.meta.dirname, '../dist/src/cli/main.js');
const loopGaps = pathToFileURL(join(import.meta.dirname, 'lib/loop-gaps.mjs')).href;

interface Restart {
  /** The longest loop gap from spawn until shortly after 'serving clients'. */
  readonly gapSeconds: number;
  /** Every gap over 200 ms in that span, in order. */
  readonly longGapsSeconds: readonly number[];
  readonly stallSeconds: number;
  readonly toStartedSeconds: number;
  readonly startedToServingSeconds: number;
}

interface RunResult {
  readonly label: string;
  readonly fillSeconds: number;
  readonly snapshotBytes: number;
  readonly walBytes: number;
  readonly restarts: readonly Restart[];
  readonly loadAverage: string;
}

interface Member {
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly spawnedAt: number;
}

function logLine(logPath: string, marker: string, after: number): Record<string, unknown> | undefined {
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(after)) {
    if (!line.includes(marker)) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // a torn last line
    }
  }
  return undefined;
}

function loopGapLines(logPath: string, after: number): { loopGapMs: number; time: string }[] {
  const gaps: { loopGapMs: number; time: string }[] = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n').slice(after)) {
    if (!line.startsWith('{"loopGapMs"')) continue;
    try {
      gaps.push(JSON.parse(line) as { loopGapMs: number; time: string });
    } catch {
      // a torn last line
    }
  }
  return gaps;
}

function lineCount(logPath: string): number {
  try {
    return readFileSync(logPath, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

async function waitForLine(member: Member, marker: string, after: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + PHASE_SECONDS_MAX * 1000;
  while (Date.now() < deadline) {
    const line = logLine(member.logPath, marker, after);
    if (line) return line;
    if (member.child.exitCode !== null) throw new Error(`the member exited (${member.child.exitCode}) before '${marker}'; see ${member.logPath}`);
    await sleepMs(50);
  }
  throw new Error(`no '${marker}' within ${PHASE_SECONDS_MAX} s`);
}

function startMember(bin: string, dataDir: string, ports: readonly number[], profileDir: string | undefined): Member {
  const logPath = join(dataDir, 'keel.log');
  const log = createWriteStream(logPath, { flags: 'a' });
  const nodeArgs = ['--import', loopGaps, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const child = spawn(
    process.execPath,
    [...nodeArgs, bin, 'node', '--id', 'n1', '--data-dir', join(dataDir, 'member'), '--listen-peer', `127.0.0.1:${ports[0]}`, '--listen-client', `127.0.0.1:${ports[1]}`, '--peers', `n1=127.0.0.1:${ports[0]}`, '--snapshot-entries', String(SNAPSHOT_ENTRIES), '--snapshot-catch-up-entries', '100', ...(bin === thisBin ? ['--snapshot-log-ratio', '0'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return { child, logPath, spawnedAt: Date.now() };
}

async function stopMember(member: Member): Promise<void> {
  if (member.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => member.child.once('exit', () => resolve()));
  member.child.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleepMs(STOP_WAIT_MS).then(() => true)]);
  if (timedOut) {
    member.child.kill('SIGKILL');
    await exited;
  }
}

function bytesUnder(dir: string, suffix: string): number {
  let total = 0;
  try {
    for (const name of readdirSync(dir)) if (name.endsWith(suffix)) total += statSync(join(dir, name)).size;
  } catch {
    // no such directory
  }
  return total;
}

function newestBytes(dir: string, suffix: string): number {
  const names = readdirSync(dir).filter((name) => name.endsWith(suffix)).sort();
  return names.length === 0 ? 0 : statSync(join(dir, names.at(-1)!)).size;
}

/** Waits (bounded) until a put succeeds: the member has elected itself. */
async function firstWrite(endpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await postJson(endpoint, '/v3/kv/put', { key: Buffer.from('warmup').toString('base64'), value: '' }, REQUEST_TIMEOUT_MS);
      return;
    } catch {
      await sleepMs(200);
    }
  }
  throw new Error('the member accepted no write');
}

/** Runs `count` Txns from CLIENTS loops, bounded by the phase deadline; returns the failures. */
async function fill(endpoint: string): Promise<number> {
  const deadline = Date.now() + PHASE_SECONDS_MAX * 1000;
  const value = Buffer.from('v'.repeat(VALUE_BYTES)).toString('base64');
  const txns = Math.ceil(KEYS / PUTS_PER_TXN);
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < txns && Date.now() < deadline && failures < ERRORS_MAX) {
        const n = next++;
        const success = Array.from({ length: PUTS_PER_TXN }, (_, i) => ({ request_put: { key: Buffer.from(`key/${String(n * PUTS_PER_TXN + i).padStart(8, '0')}`).toString('base64'), value } }));
        try {
          await postJson(endpoint, '/v3/kv/txn', { success }, REQUEST_TIMEOUT_MS);
        } catch {
          failures++;
        }
      }
    }),
  );
  return failures;
}

async function run(label: string, bin: string): Promise<RunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-startup-bench-'));
  const ports = await freeLoopbackPorts(2);
  const endpoint = `http://127.0.0.1:${ports[1]}`;
  const profileDir = args['cpu-prof'] ? join(args['cpu-prof'], label.replace(/\W+/g, '-')) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  let member = startMember(bin, dataDir, ports, undefined);
  try {
    await waitForLine(member, '"serving clients"', 0);
    await firstWrite(endpoint);
    const fillStarted = Date.now();
    const failed = await fill(endpoint);
    const fillSeconds = (Date.now() - fillStarted) / 1000;
    process.stderr.write(`${label}: ${KEYS / PUTS_PER_TXN} txns in ${fillSeconds.toFixed(0)} s (${failed} failed)\n`);
    const restarts: Restart[] = [];
    for (let restart = 0; restart < RESTARTS; restart++) {
      await stopMember(member);
      const before = lineCount(member.logPath);
      member = startMember(bin, dataDir, ports, restart === RESTARTS - 1 ? profileDir : undefined);
      const started = await waitForLine(member, '"member started"', before);
      const serving = await waitForLine(member, '"serving clients"', before);
      const stall = await scrapeMetric(endpoint, 'keel_nodejs_eventloop_lag_max_seconds', SCRAPE_TIMEOUT_MS);
      await sleepMs(LOOP_GAP_AFTER_SERVING_MS);
      const until = Date.parse(String(serving.time)) + LOOP_GAP_AFTER_SERVING_MS;
      const gaps = loopGapLines(member.logPath, before).filter((gap) => Date.parse(gap.time) <= until);
      const result = {
        gapSeconds: Math.max(0, ...gaps.map((gap) => gap.loopGapMs)) / 1000,
        longGapsSeconds: gaps.filter((gap) => gap.loopGapMs > 200).map((gap) => gap.loopGapMs / 1000),
        stallSeconds: stall ?? Number.NaN,
        toStartedSeconds: (Date.parse(String(started.time)) - member.spawnedAt) / 1000,
        startedToServingSeconds: (Date.parse(String(serving.time)) - Date.parse(String(started.time))) / 1000,
      };
      process.stderr.write(`${label}: restart ${restart + 1}: ${JSON.stringify(result)}\n`);
      restarts.push(result);
    }
    const raft = join(dataDir, 'member', 'raft');
    return { label, fillSeconds, snapshotBytes: newestBytes(join(raft, 'snap'), '.snap'), walBytes: bytesUnder(join(raft, 'wal'), '.wal'), restarts, loadAverage: loadavg().map((load) => load.toFixed(2)).join(' ') };
  } finally {
    await stopMember(member);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (![KEYS, VALUE_BYTES, SNAPSHOT_ENTRIES, RESTARTS, PHASE_SECONDS_MAX].every((value) => Number.isInteger(value) && value > 0)) throw new Error('--keys, --value-bytes, --snapshot-entries, --restarts and --seconds take positive integers');
  const results: RunResult[] = [];
  if (args['before-bin']) results.push(await run('before', args['before-bin']));
  results.push(await run('this build', thisBin));
  const ms = (seconds: number): string => `${Math.round(seconds * 1000)} ms`;
  const list = (values: readonly number[]): string => values.map(ms).join(', ');
  console.log(`${KEYS} keys x ${VALUE_BYTES} B values (txns of ${PUTS_PER_TXN}); snapshotEntries ${SNAPSHOT_ENTRIES}; 1 member on loopback, fsync on; ${RESTARTS} restarts each`);
  console.log(
    markdownTable(
      ['build', 'fill', 'newest snapshot', 'WAL segments', 'longest startup stall, loop gaps (each restart)', 'gaps over 200 ms (last restart)', 'its own lag gauge at first scrape', "spawn to 'member started'", "'member started' to 'serving clients'", 'load avg at end'],
      results.map((result) => [
        result.label,
        `${result.fillSeconds.toFixed(0)} s`,
        `${(result.snapshotBytes / 2 ** 20).toFixed(0)} MiB`,
        `${(result.walBytes / 2 ** 20).toFixed(0)} MiB`,
        list(result.restarts.map((restart) => restart.gapSeconds)),
        list(result.restarts.at(-1)!.longGapsSeconds),
        list(result.restarts.map((restart) => restart.stallSeconds)),
        list(result.restarts.map((restart) => restart.toStartedSeconds)),
        list(result.restarts.map((restart) => restart.startedToServingSeconds)),
        result.loadAverage,
      ]),
    ),
  );
  if (results.length === 2) {
    const worst = (result: RunResult): number => Math.max(...result.restarts.map((restart) => restart.gapSeconds));
    console.log(`longest startup stall, this build / before: ${(worst(results[1]!) / Math.max(worst(results[0]!), 1e-9)).toFixed(3)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
