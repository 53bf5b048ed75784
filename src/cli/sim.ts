import { Command, InvalidArgumentError } from 'commander';
import { ExitCode, parseSeeds, reproduceCommand, runSeed } from '../../sim/run.js';
import type { SeedResult } from '../../sim/run.js';
import type { SimOverrides } from '../../sim/options.js';
import { drawOptions } from '../../sim/options.js';
import { Simulator } from '../../sim/simulator.js';

interface SimFlags {
  seed?: number;
  seeds?: string;
  nodes?: number;
  steps?: number;
  trace?: boolean;
  json?: boolean;
}

/** `keel sim`: run the deterministic simulator on one seed or many. */
export function simCommand(): Command {
  return new Command('sim')
    .description('run the seeded raft simulator: faults, membership changes, linearizability checks, liveness after healing')
    .option('--seed <n>', 'run one seed', integer)
    .option('--seeds <range>', 'run many seeds, e.g. 1..500 or 3,7,9')
    .option('--nodes <n>', 'initial voters: 3, 5 or 7 (default: drawn from the seed)', nodeCount)
    .option('--steps <n>', 'events per seed (default 20000)', integer)
    .option('--trace', 'print every notable event of a single seed')
    .option('--json', 'print the summary as JSON')
    .action((flags: SimFlags) => {
      process.exitCode = runSim(flags);
    });
}

function runSim(flags: SimFlags): number {
  if (flags.seed === undefined && flags.seeds === undefined) {
    console.error('keel sim: give --seed N or --seeds A..B (for example: keel sim --seeds 1..500)');
    return 1;
  }
  const overrides: SimOverrides = {
    ...(flags.nodes !== undefined ? { nodes: flags.nodes } : {}),
    ...(flags.steps !== undefined ? { steps: flags.steps } : {}),
  };
  if (flags.seed !== undefined && flags.trace) return traceSeed(flags.seed, overrides);
  const seeds = flags.seed !== undefined ? [flags.seed] : parseSeeds(flags.seeds!);
  const started = performance.now();
  const totals = { seeds: 0, failures: 0, steps: 0, simulatedMs: 0, elections: 0, writes: 0, reads: 0, crashes: 0, partitions: 0, snapshots: 0, restoreSlices: 0, applySteps: 0, entriesReadBack: 0, membership: 0, renewals: 0, revokes: 0 };
  const sizes = new Map<number, number>();
  let worst: number = ExitCode.Ok;
  for (const seed of seeds) {
    const result = runSeed(seed, overrides);
    totals.seeds++;
    totals.steps += result.stats.steps;
    totals.simulatedMs += result.stats.simulatedMs;
    totals.elections += result.stats.leaderElections;
    totals.writes += result.stats.writesAcknowledged;
    totals.reads += result.stats.readsChecked;
    totals.crashes += result.stats.crashes;
    totals.partitions += result.stats.partitions;
    totals.snapshots += result.stats.snapshotsSent;
    totals.restoreSlices += result.stats.restoreSlices;
    totals.applySteps += result.stats.applySteps;
    totals.entriesReadBack += result.stats.entriesReadBack;
    totals.membership += result.stats.membershipChanges;
    totals.renewals += result.stats.leaseRenewals;
    totals.revokes += result.stats.leaseRevokes;
    sizes.set(result.options.nodes, (sizes.get(result.options.nodes) ?? 0) + 1);
    if (result.exitCode !== ExitCode.Ok) {
      totals.failures++;
      worst = Math.max(worst, result.exitCode);
      printFailure(result, overrides);
    } else if (seeds.length === 1 && !flags.json) {
      console.log(`seed ${seed} ok: ${describe(result)}`);
    }
  }
  const wallMs = Math.round(performance.now() - started);
  if (flags.json) {
    console.log(JSON.stringify({ ...totals, wallMs, nodes: Object.fromEntries(sizes) }));
  } else {
    const mix = [...sizes.entries()].sort(([a], [b]) => a - b).map(([n, count]) => `${count}x${n}`).join(' ');
    console.log(
      `${totals.seeds} seeds (${mix} nodes), ${totals.failures} failed; ${totals.steps} steps, ` +
        `${(totals.simulatedMs / 1000).toFixed(0)} s simulated in ${(wallMs / 1000).toFixed(1)} s wall; ` +
        `${totals.elections} elections, ${totals.writes} writes acknowledged, ${totals.reads} reads checked linearizable, ` +
        `${totals.crashes} crashes, ${totals.partitions} partitions, ${totals.snapshots} snapshots sent (${totals.restoreSlices} restore slices), ${totals.applySteps} DeleteRange apply steps, ${totals.entriesReadBack} log entries read back, ${totals.membership} membership changes, ` +
        `${totals.renewals} lease renewals and ${totals.revokes} revokes checked`,
    );
  }
  return worst;
}

function describe(result: SeedResult): string {
  const s = result.stats;
  return `${result.options.nodes} nodes, ${s.steps} steps, ${(s.simulatedMs / 1000).toFixed(1)} s simulated in ${Math.round(result.wallMs)} ms; ${s.leaderElections} elections (max term ${s.maxTerm}), ${s.writesAcknowledged} writes${s.writesRefused > 0 ? ` (+${s.writesRefused} refused: NOSPACE)` : ''}, ${s.readsChecked} reads checked, ${s.crashes} crashes, ${s.partitions} partitions, ${s.snapshotsSent} snapshots (${s.restoreSlices} restore slices), ${s.applySteps} apply steps, ${s.entriesReadBack} entries read back, ${s.membershipChanges} membership changes, ${s.transfers} transfers, ${s.leaseRenewals} lease renewals, ${s.leaseRevokes} revokes`;
}

function printFailure(result: SeedResult, overrides: SimOverrides): void {
  const kind = result.exitCode === ExitCode.Safety ? 'SAFETY' : result.exitCode === ExitCode.Liveness ? 'LIVENESS' : 'CRASH';
  console.log(`seed ${result.seed} ${kind} (exit ${result.exitCode}): ${result.failure}`);
  console.log(`  reproduce: ${reproduceCommand(result, overrides)}`);
}

function traceSeed(seed: number, overrides: SimOverrides): number {
  const simulator = new Simulator(drawOptions(seed, overrides));
  simulator.trace = (line) => console.log(line);
  console.log(`options ${JSON.stringify(simulator.options)}`);
  try {
    simulator.run();
    console.log(`seed ${seed} ok`);
    return ExitCode.Ok;
  } catch (error) {
    console.log(String(error));
    const code = (error as { code?: string }).code;
    return code === 'KEEL_SIM_SAFETY_VIOLATION' ? ExitCode.Safety : code === 'KEEL_SIM_LIVENESS_FAILURE' ? ExitCode.Liveness : ExitCode.Crash;
  }
}

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

function nodeCount(value: string): number {
  const n = integer(value);
  if (![1, 3, 5, 7].includes(n)) throw new InvalidArgumentError('must be 1, 3, 5 or 7');
  return n;
}
