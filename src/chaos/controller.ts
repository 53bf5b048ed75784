import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom, type Random } from '../resilience/index.js';
import { describeAction, runAction, type Action } from './actions.js';
import { readClusterView, type ClusterView } from './cluster-view.js';
import { InvalidFaultError, UnknownFaultError } from './errors.js';
import { LEASE_MS_MAX, LEASE_MS_MIN } from './limits.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { planProcessFault, PROCESS_FAULT_KINDS, type ProcessFaultSpec } from './process-faults.js';
import { defaultStateDir, FaultStore, type FaultRecord } from './state.js';
import { undoFault, type UndoReport } from './undo.js';
import { ensureWatchdog } from './watchdog.js';
import { FAULT_PLANNERS, type ExtraFaultSpec } from './registry.js';

/** Any fault keel chaos injects. */
export type FaultSpec = ProcessFaultSpec | ExtraFaultSpec;

export const FAULT_KINDS: readonly string[] = [...PROCESS_FAULT_KINDS, ...Object.keys(FAULT_PLANNERS)];

export interface ChaosOptions {
  /** A keel up data dir: its cluster.json names the members, their zones and pids. */
  readonly dataDir?: string;
  /** Or the cluster, given directly (a test's own members). */
  readonly cluster?: ClusterView;
  /** The cluster as it is now, for a `cluster` given in-process whose supervisor restarts members (an experiment's etcd run): a restart waits on it for the new pid. */
  readonly reloadCluster?: () => ClusterView;
  /** Fault records and the watchdog's pid and log (default /run/keel-chaos for root, else under the temporary directory). */
  readonly stateDir?: string;
  /** Seeds the choices selectors make (which follower): one seed, the same picks. */
  readonly seed?: number;
  /** Plan only: nothing is injected. */
  readonly dryRun?: boolean;
  /**
   * heal() sweeps leftovers only in the namespaces of this cluster's members
   * (keel experiment: runs on one host must not heal each other's faults).
   * Default: every keel namespace on the host (`keel chaos heal`, the kill switch).
   */
  readonly sweepOwnOnly?: boolean;
}

/** An injected (or, in a dry run, planned) fault. */
export interface Fault {
  readonly id: string;
  readonly kind: string;
  readonly description: string;
  /** The plan's lines: what was (or would be) done, then how it is undone. */
  readonly plan: readonly string[];
  /** What happened: per target, done or gone, and what custom steps reported. */
  readonly outcomes: readonly string[];
  readonly injected: boolean;
  /** When the watchdog undoes it (ms since the epoch); absent for instant faults. */
  readonly expiresAt?: number;
  /** Undoes it now (idempotent; a no-op for instant faults and dry runs). */
  heal(): Promise<UndoReport | undefined>;
}

/** What `heal()` (the kill switch) did. */
export interface HealReport {
  readonly faults: readonly UndoReport[];
  /** Tagged rules and qdiscs found on the host without a record (a crash between injection and record), removed. */
  readonly sweeps: readonly string[];
}

/**
 * The fault injector, for the CLI and for tests:
 *
 *     const chaos = createChaos({ dataDir: '.keel', seed: 7 });
 *     const fault = await chaos.inject({ kind: 'pause', target: 'leader', durationMs: 3000 });
 *     ...
 *     await fault.heal();
 *
 * Every fault with a duration holds a lease: it is written to the state dir
 * before it is injected, and a watchdog process undoes it when the lease ends
 * even if this process is killed. `heal()` undoes everything recorded and
 * sweeps tagged leftovers.
 */
export class Chaos {
  readonly store: FaultStore;
  readonly seed: number;
  readonly #options: ChaosOptions;
  readonly #random: Random;

  constructor(options: ChaosOptions = {}) {
    this.#options = options;
    this.store = new FaultStore(options.stateDir ?? defaultStateDir());
    this.seed = options.seed ?? Date.now() % 2 ** 31;
    this.#random = seededRandom(this.seed);
  }

  /** Plans `spec` without injecting it (refusing bad input with a typed error). */
  async plan(spec: FaultSpec, id = newFaultId()): Promise<PlannedFault> {
    validateLease(spec);
    const context = this.#context(id);
    if ((PROCESS_FAULT_KINDS as readonly string[]).includes(spec.kind)) return planProcessFault(spec as ProcessFaultSpec, context);
    const planner = FAULT_PLANNERS[spec.kind as keyof typeof FAULT_PLANNERS];
    if (!planner) throw new UnknownFaultError(String(spec.kind), FAULT_KINDS);
    return planner(spec as never, context);
  }

  /** Plans and injects `spec`; in a dry run, plans only. */
  async inject(spec: FaultSpec): Promise<Fault> {
    const id = newFaultId();
    const planned = await this.plan(spec, id);
    const plan = planLines(planned);
    if (this.#options.dryRun) return { id, kind: planned.kind, description: planned.description, plan, outcomes: planned.notes, injected: false, heal: async () => undefined };
    const undo: Action[] = [...planned.undo];
    const expiresAt = planned.durationMs === undefined ? undefined : Date.now() + planned.durationMs;
    const record = (): FaultRecord => ({ id, kind: planned.kind, description: planned.description, createdAt: Date.now(), expiresAt: expiresAt!, undo });
    if (expiresAt !== undefined) {
      // Intent first: the record and its watchdog exist before the fault does.
      this.store.write(record());
      ensureWatchdog(this.store);
    }
    const outcomes: string[] = [...planned.notes];
    try {
      for (const action of planned.inject) {
        const outcome = await runAction(action);
        outcomes.push(`${describeAction(action)}: ${outcome.result === 'done' ? 'done' : 'gone (not retried)'}`);
      }
      if (planned.custom) {
        const lines = await planned.custom.run((more) => {
          undo.push(...more);
          if (expiresAt !== undefined) this.store.write(record());
        });
        outcomes.push(...lines);
      }
    } catch (error) {
      if (expiresAt !== undefined) await undoFault(this.store, record());
      throw error;
    }
    let healed: Promise<UndoReport> | undefined;
    const heal = async (): Promise<UndoReport | undefined> => {
      if (expiresAt === undefined) return undefined;
      healed ??= undoFault(this.store, record());
      return healed;
    };
    return { id, kind: planned.kind, description: planned.description, plan, outcomes, injected: true, ...(expiresAt !== undefined ? { expiresAt } : {}), heal };
  }

  /** The kill switch: undoes every recorded fault now, then sweeps tagged rules and qdiscs left without a record. */
  async heal(): Promise<HealReport> {
    const faults: UndoReport[] = [];
    for (const record of [...this.store.list(), ...this.store.failed()]) faults.push(await undoFault(this.store, record));
    const sweeps = this.#options.dryRun ? [] : await sweepTagged(this.#options.sweepOwnOnly ? this.#ownNamespaces() : undefined);
    return { faults, sweeps };
  }

  /** The namespaces of the cluster's members (none when it has no netns members). */
  #ownNamespaces(): string[] {
    const view = this.#context('heal').view;
    return (view?.members ?? []).flatMap((member) => (member.netns === undefined ? [] : [member.netns]));
  }

  /** Faults recorded as active (their leases not yet undone). */
  active(): FaultRecord[] {
    return this.store.list();
  }

  #context(id: string): PlanContext {
    const dataDir = this.#options.dataDir;
    // A data dir without cluster.json is no error until a selector needs the cluster (pid:<n> does not).
    const view = this.#options.cluster ?? (dataDir !== undefined && existsSync(join(dataDir, 'cluster.json')) ? readClusterView(dataDir) : undefined);
    return {
      ...(view ? { view } : {}),
      ...(this.#options.reloadCluster !== undefined ? { reload: this.#options.reloadCluster } : dataDir !== undefined ? { reload: () => readClusterView(dataDir) } : {}),
      random: this.#random,
      store: this.store,
      id,
    };
  }
}

/** Tagged leftovers: each registered backend sweeps its own (nft tables and qdiscs in keel namespaces). */
async function sweepTagged(only: readonly string[] | undefined): Promise<string[]> {
  const { sweepNetwork } = await import('./registry.js');
  return sweepNetwork(only);
}

export function createChaos(options: ChaosOptions = {}): Chaos {
  return new Chaos(options);
}

function validateLease(spec: FaultSpec): void {
  const duration = (spec as { durationMs?: unknown }).durationMs;
  if (duration === undefined) return;
  if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < LEASE_MS_MIN || duration > LEASE_MS_MAX) {
    throw new InvalidFaultError(`a duration is an integer number of ms in [${LEASE_MS_MIN}, ${LEASE_MS_MAX}]; got ${String(duration)}`);
  }
}

/** Fault ids tag rules and tables, so they are short and of [a-z0-9] only: `kc` and 8 hex digits. */
function newFaultId(): string {
  return `kc${randomBytes(4).toString('hex')}`;
}

function planLines(planned: PlannedFault): string[] {
  return [
    ...planned.notes.map((note) => `note: ${note}`),
    ...planned.inject.map((action) => `inject: ${describeAction(action)}`),
    ...(planned.custom && planned.custom.description !== '' ? [`then: ${planned.custom.description}`] : []),
    ...(planned.durationMs !== undefined ? [`lease: ${planned.durationMs} ms, then the watchdog runs:`] : []),
    ...planned.undo.map((action) => `undo: ${describeAction(action)}`),
  ];
}
