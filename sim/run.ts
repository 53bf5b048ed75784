import { AssertionError } from '../src/raft/assert.js';
import type { Plants } from './node.js';
import { drawOptions } from './options.js';
import type { SimOptions, SimOverrides } from './options.js';
import { Simulator } from './simulator.js';
import type { SimStats } from './simulator.js';
import { LivenessFailure, SafetyViolation } from './invariants/violation.js';

/** Exit codes, as CONVENTIONS.md fixes them for the simulator. */
export const ExitCode = { Ok: 0, Crash: 127, Liveness: 128, Safety: 129 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface SeedResult {
  readonly seed: number;
  readonly options: SimOptions;
  readonly exitCode: ExitCode;
  readonly stats: SimStats;
  readonly failure?: string;
  readonly wallMs: number;
}

/** Runs one seed to completion, turning every failure into its exit code. */
export function runSeed(seed: number, overrides: SimOverrides = {}, plants: Plants = {}): SeedResult {
  const options = drawOptions(seed, overrides);
  const started = performance.now();
  const simulator = new Simulator(options, plants);
  let exitCode: ExitCode = ExitCode.Ok;
  let failure: string | undefined;
  try {
    simulator.run();
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
    if (error instanceof SafetyViolation) exitCode = ExitCode.Safety;
    else if (error instanceof LivenessFailure) exitCode = ExitCode.Liveness;
    else {
      exitCode = ExitCode.Crash;
      if (!(error instanceof AssertionError) && error instanceof Error && error.stack) failure = error.stack;
    }
  }
  return {
    seed,
    options,
    exitCode,
    stats: simulator.stats,
    ...(failure !== undefined ? { failure } : {}),
    wallMs: performance.now() - started,
  };
}

/** The command that replays a seed exactly. */
export function reproduceCommand(result: SeedResult, overrides: SimOverrides): string {
  const parts = [`keel sim --seed ${result.seed}`];
  if (overrides.nodes !== undefined) parts.push(`--nodes ${overrides.nodes}`);
  if (overrides.steps !== undefined) parts.push(`--steps ${overrides.steps}`);
  return parts.join(' ');
}

/** Parses "1..500" or "7" or "1,5,9" into seeds. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d+)\.\.(\d+)$/.exec(part.trim());
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (to < from) throw new RangeError(`empty seed range ${part}`);
      for (let seed = from; seed <= to; seed++) seeds.push(seed);
    } else if (/^\d+$/.test(part.trim())) {
      seeds.push(Number(part.trim()));
    } else {
      throw new RangeError(`not a seed or range: ${part}`);
    }
  }
  return seeds;
}
