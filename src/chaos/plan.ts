import type { Random } from '../resilience/index.js';
import type { Action } from './actions.js';
import type { ClusterView } from './cluster-view.js';
import type { FaultStore } from './state.js';

/**
 * A fault, planned: what to do and how to undo it, as data. Planning reads
 * the cluster (who leads, which pids) and refuses bad input, but changes
 * nothing; `--dry-run` prints a plan and stops there.
 */
export interface PlannedFault {
  readonly kind: string;
  /** One line for reports: `pause n2 (leader) for 3000 ms`. */
  readonly description: string;
  readonly inject: readonly Action[];
  /** Steps that undo the fault, kept on disk while it is active. Empty for instant faults (kill, term, restart). */
  readonly undo: readonly Action[];
  /** The lease: the fault is undone this long after injection. Absent for instant faults. */
  readonly durationMs?: number;
  /** Facts found while planning: a target already down, a follower picked by the seed. */
  readonly notes: readonly string[];
  /** Work past the plain actions (waiting for a restart, starting stress-ng): runs after `inject`, may add undo steps. */
  readonly custom?: CustomStep;
}

export interface CustomStep {
  /** The step as a plan line. */
  readonly description: string;
  /** Runs the step; returns undo steps it created (to add to the record) and lines for the report. */
  run(addUndo: (actions: readonly Action[]) => void): Promise<readonly string[]>;
}

/** What a planner is given. */
export interface PlanContext {
  /** The cluster, when a data dir or a view was given. */
  readonly view?: ClusterView;
  /** Reads the cluster again (restart waits for a new pid in cluster.json). */
  readonly reload?: () => ClusterView;
  readonly random: Random;
  readonly store: FaultStore;
  /** The fault's id, chosen before planning so rules and qdiscs can be tagged with it. */
  readonly id: string;
}
