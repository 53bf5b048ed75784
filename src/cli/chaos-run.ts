import { Command, InvalidArgumentError } from 'commander';
import { join, resolve } from 'node:path';
import { defaultNemesisFaults, describeReport, keelUpTarget, NEMESIS_FAULT_NAMES, NEMESIS_FAULTS, runCampaign, type NemesisFaultName } from '../chaos/campaign/index.js';
import { readClusterView } from '../chaos/index.js';
import { defaultStateDir } from '../chaos/index.js';
import { parseDurationMs } from './chaos.js';

/**
 * `keel chaos run`: a Jepsen-style run against a running `keel up`
 * cluster: recorded clients on every member, a seeded nemesis, heal,
 * recovery, then the linearizability check. One seed replays one schedule.
 *
 * Exit codes: 0 linearizable and recovered, 99 not linearizable or not
 * recovered, 3 undecided within the checker's budget, 1 usage or runtime error.
 */
export const EXIT_VIOLATION = 99;
export const EXIT_UNDECIDED = 3;

interface RunFlags {
  dataDir: string;
  stateDir?: string;
  seed?: number;
  /** commander names options after their flags: --duration, --fault-time, --quiet-time (values in ms). */
  duration: number;
  clients: number;
  keys: number;
  faults?: NemesisFaultName[];
  faultTime: [number, number];
  quietTime: [number, number];
  history?: string;
  json?: boolean;
}

function parseCount(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`an integer in [1, ${max}]`);
    return n;
  };
}

function parseFaults(value: string): NemesisFaultName[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(NEMESIS_FAULT_NAMES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`unknown fault ${unknown.join(', ') || '(none given)'}; known: ${NEMESIS_FAULT_NAMES.join(', ')}`);
  return names as NemesisFaultName[];
}

function parseRange(value: string): [number, number] {
  const parts = value.split('-').map((part) => parseDurationMs(part));
  const [low, high] = parts.length === 1 ? [parts[0]!, parts[0]!] : parts;
  if (parts.length > 2 || low === undefined || high === undefined || high < low) throw new InvalidArgumentError('a range is LOW-HIGH, e.g. 1s-4s');
  return [low, high];
}

export function chaosRunCommand(): Command {
  return new Command('run')
    .description('a Jepsen-style run against a keel up cluster: recorded clients, a seeded nemesis, heal, then the linearizability check')
    .option('--data-dir <dir>', 'the keel up data dir (its cluster.json names the members)', './.keel')
    .option('--state-dir <dir>', 'where fault records and the watchdog live (default as keel chaos)')
    .option('--seed <n>', 'seeds the schedule and the clients (default: random, printed)', (value) => {
      const seed = Number(value);
      if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('a seed is an integer');
      return seed;
    })
    .option('--duration <time>', 'how long the nemesis runs (30s, 5m)', parseDurationMs, 30_000)
    .option('--clients <n>', 'recorded clients, spread over the members', parseCount(200), 10)
    .option('--keys <n>', 'keys the clients share (each a compare-and-set register)', parseCount(1_000), 5)
    .option('--faults <list>', `comma-separated, from ${NEMESIS_FAULT_NAMES.join(', ')} (default: all under keel up --netns, but slow-leader only where the kernel has netem; else the process faults)`, parseFaults)
    .option('--fault-time <range>', 'how long each fault lasts', parseRange, [1_000, 4_000])
    .option('--quiet-time <range>', 'quiet time after each fault', parseRange, [1_000, 3_000])
    .option('--history <file>', 'write the recorded history (keel JSONL) there')
    .option('--json', 'print the report as JSON')
    .action(async (flags: RunFlags) => {
      process.exitCode = await run(flags);
    });
}

async function run(flags: RunFlags): Promise<number> {
  const seed = flags.seed ?? Math.floor(Math.random() * 1_000_000);
  const dataDir = resolve(flags.dataDir);
  let target;
  let faults: NemesisFaultName[];
  try {
    const inNamespaces = readClusterView(dataDir).members.every((member) => member.netns !== undefined);
    faults = flags.faults ?? defaultNemesisFaults(inNamespaces);
    const needNetns = faults.filter((name) => NEMESIS_FAULTS[name].network);
    if (needNetns.length > 0 && !inNamespaces) throw new Error(`${needNetns.join(', ')} need a cluster started with keel up --netns`);
    target = keelUpTarget(dataDir, { stateDir: flags.stateDir ?? defaultStateDir(), seed });
    await target.waitHealthy(30_000);
  } catch (error) {
    console.error(`keel chaos run: ${(error as Error).message}`);
    return 1;
  }
  if (!flags.json) console.error(`keel chaos run: seed ${seed} (--seed ${seed} replays this schedule), ${flags.duration / 1000} s on ${target.endpoints.length} members`);
  const report = await runCampaign(target, {
    seed,
    runMs: flags.duration,
    clients: flags.clients,
    keys: flags.keys,
    faults,
    faultMs: flags.faultTime,
    quietMs: flags.quietTime,
    callTimeoutMs: 2_000,
    recoveryTimeoutMs: 60_000,
    checkTimeLimitMs: 120_000,
    historyFile: flags.history ? resolve(flags.history) : join(dataDir, `chaos-run-${seed}.jsonl`),
  });
  if (flags.json) {
    const { check, ...rest } = report;
    console.log(JSON.stringify({ ...rest, check: { verdict: check.verdict, elapsedMs: check.elapsedMs, counterexample: check.counterexample, undecided: check.undecided } }, null, 2));
  } else {
    for (const fault of report.faults) console.log(`${(fault.atMs / 1000).toFixed(1)} s  ${fault.fault} for ${fault.durationMs} ms: ${fault.outcome}`);
    console.log(describeReport(report));
    console.log(`history: ${report.historyFile} (keel check ${report.historyFile} --model cas-register)`);
    if (report.check.counterexample) console.log(`counterexample on key ${report.check.counterexample.key}: ${report.check.counterexample.reason}`);
  }
  if (report.verdict === 'violation' || !report.recovered) return EXIT_VIOLATION;
  return report.verdict === 'unknown' ? EXIT_UNDECIDED : 0;
}
