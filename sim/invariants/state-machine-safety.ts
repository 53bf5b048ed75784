import type { Entry, NodeId } from '../../src/raft/types.js';
import { entryKey } from './entry-key.js';
import { SafetyViolation } from './violation.js';

/**
 * State machine safety (§5.4.3): no two members apply different entries at
 * the same index. It also keeps the applied log, which the other checks use
 * as the ground truth of what is committed.
 */
export class StateMachineSafety {
  readonly #applied: (string | undefined)[] = [];
  readonly #terms: number[] = [];
  /** Highest index any member applied: everything up to it is committed. */
  highestApplied = 0;

  observeApplied(node: NodeId, entry: Entry): boolean {
    const key = entryKey(entry);
    const known = this.#applied[entry.index];
    if (known === undefined) {
      this.#applied[entry.index] = key;
      this.#terms[entry.index] = entry.term;
      if (entry.index > this.highestApplied) this.highestApplied = entry.index;
      return true;
    }
    if (known !== key) {
      throw new SafetyViolation('state machine safety', `${node} applied a different entry at index ${entry.index} (term ${entry.term}, first applied with term ${this.#terms[entry.index]})`);
    }
    return false;
  }

  /** Term of the committed entry at `index`, if some member applied it. */
  committedTerm(index: number): number | undefined {
    return this.#terms[index];
  }
}
