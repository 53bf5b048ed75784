import type { NodeId } from '../../src/raft/types.js';
import type { StateMachineSafety } from './state-machine-safety.js';
import { SafetyViolation } from './violation.js';

/**
 * Leader completeness (§5.4): a new leader's log holds every committed entry.
 * Checked when a member becomes leader, against every entry any member has
 * applied (entries it compacted into a snapshot are committed by definition).
 */
export function checkLeaderCompleteness(
  node: NodeId,
  term: number,
  firstIndex: number,
  termAt: (index: number) => number | undefined,
  committed: StateMachineSafety,
): void {
  for (let index = firstIndex; index <= committed.highestApplied; index++) {
    const expected = committed.committedTerm(index);
    if (expected === undefined) continue;
    const actual = termAt(index);
    if (actual !== expected) {
      throw new SafetyViolation(
        'leader completeness',
        `${node} became leader of term ${term} without committed entry ${index} (term ${expected}; it has ${actual ?? 'nothing'})`,
      );
    }
  }
}
