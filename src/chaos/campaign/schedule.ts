import { seededRandom } from '../../resilience/index.js';
import type { FaultSpec } from '../controller.js';
import { netemUnavailableReason } from '../netns.js';

/**
 * The nemesis of a Jepsen-style run: a seeded schedule of faults, one at a
 * time, each followed by a quiet spell so the cluster can recover and the
 * run measures availability, not only survival. Pure: one seed, one
 * schedule, so a failing run is replayed exactly.
 */

/** A nemesis fault: how to inject it for a given duration, and whether it needs `keel up --netns`. */
interface NemesisFault {
  readonly network: boolean;
  /** It needs tc's netem qdisc, which some kernels lack (see netemUnavailableReason). */
  readonly netem?: boolean;
  spec(durationMs: number): FaultSpec;
}

/** Faults the nemesis cycles through, by name (Jepsen's nemeses, through keel chaos). */
export const NEMESIS_FAULTS = {
  /** kill -9 the leader; keel up (or the runner, for etcd) restarts it. The duration is the wait before the next step. */
  'kill-leader': { network: false, spec: () => ({ kind: 'kill', target: 'leader' }) },
  'kill-follower': { network: false, spec: () => ({ kind: 'kill', target: 'follower' }) },
  /** SIGSTOP the leader for the fault's duration: a deposed leader wakes up. */
  'pause-leader': { network: false, spec: (durationMs) => ({ kind: 'pause', target: 'leader', durationMs }) },
  'pause-follower': { network: false, spec: (durationMs) => ({ kind: 'pause', target: 'follower', durationMs }) },
  /** Cut the leader off from the others (a minority leader must not serve). */
  'isolate-leader': { network: true, spec: (durationMs) => ({ kind: 'partition', shape: 'isolate-leader', durationMs }) },
  'isolate-follower': { network: true, spec: (durationMs) => ({ kind: 'partition', shape: 'isolate', target: 'follower', durationMs }) },
  /** Two halves joined by one member that sees both (Jepsen's bridge). */
  bridge: { network: true, spec: (durationMs) => ({ kind: 'partition', shape: 'bridge', durationMs }) },
  /** Every link between members drops a fifth of its packets (a lossy partition of shape all: nft, no netem needed). */
  'lossy-network': { network: true, spec: (durationMs) => ({ kind: 'partition', shape: 'all', lossPercent: 20, durationMs }) },
  /** 100 ms (±30) on everything the leader sends: heartbeats, appends and answers arrive late. */
  'slow-leader': { network: true, netem: true, spec: (durationMs) => ({ kind: 'netem', target: 'leader', delayMs: 100, jitterMs: 30, durationMs }) },
} as const satisfies Record<string, NemesisFault>;

export type NemesisFaultName = keyof typeof NEMESIS_FAULTS;

export const NEMESIS_FAULT_NAMES = Object.keys(NEMESIS_FAULTS) as NemesisFaultName[];

/** The faults that need no network namespaces: process faults, for clusters on loopback. */
export const PROCESS_NEMESIS_FAULTS = NEMESIS_FAULT_NAMES.filter((name) => !NEMESIS_FAULTS[name].network);

/**
 * The faults a run takes by default: every one for a cluster in namespaces,
 * except those needing netem on a kernel without it; process faults only
 * on loopback.
 */
export function defaultNemesisFaults(inNamespaces: boolean): NemesisFaultName[] {
  if (!inNamespaces) return [...PROCESS_NEMESIS_FAULTS];
  const netem = netemUnavailableReason() === undefined;
  return NEMESIS_FAULT_NAMES.filter((name) => netem || !(NEMESIS_FAULTS[name] as NemesisFault).netem);
}

/** One fault of the schedule, at `atMs` from the start of the run. */
export interface NemesisStep {
  readonly atMs: number;
  readonly fault: NemesisFaultName;
  /** How long the fault lasts (lasting faults) or how long the runner waits before the next step (instant ones). */
  readonly durationMs: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  /** The faulty part of the run; no fault starts after it. */
  readonly runMs: number;
  readonly faults: readonly NemesisFaultName[];
  /** A fault lasts between these (ms). */
  readonly faultMs: readonly [number, number];
  /** Quiet time after each fault (ms). */
  readonly quietMs: readonly [number, number];
}

/** Faults a schedule holds at most, whatever the run length: bounded. */
export const NEMESIS_STEPS_MAX = 10_000;

/** The seeded schedule: faults drawn in turn from a shuffled cycle, so each kind comes up once per cycle. */
export function nemesisSchedule(options: ScheduleOptions): NemesisStep[] {
  if (options.faults.length === 0) return [];
  for (const [name, [low, high]] of [['faultMs', options.faultMs], ['quietMs', options.quietMs]] as const) {
    if (!(Number.isFinite(low) && Number.isFinite(high) && low >= 0 && high >= low)) throw new RangeError(`${name} must be [low, high] with 0 <= low <= high`);
  }
  const random = seededRandom(options.seed);
  const between = ([low, high]: readonly [number, number]): number => Math.round(low + random.next() * (high - low));
  const steps: NemesisStep[] = [];
  let cycle: NemesisFaultName[] = [];
  let atMs = between(options.quietMs);
  while (atMs < options.runMs && steps.length < NEMESIS_STEPS_MAX) {
    if (cycle.length === 0) cycle = shuffle([...options.faults], () => random.next());
    const fault = cycle.pop()!;
    const durationMs = between(options.faultMs);
    steps.push({ atMs, fault, durationMs });
    atMs += durationMs + between(options.quietMs);
  }
  return steps;
}

function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** The chaos spec that injects one step. */
export function faultSpecOf(step: NemesisStep): FaultSpec {
  return NEMESIS_FAULTS[step.fault].spec(step.durationMs);
}
