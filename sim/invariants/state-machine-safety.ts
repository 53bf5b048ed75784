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
  /** Whether the store took each applied command (false: refused, e.g. NOSPACE); undefined until the first member applied it. */
  readonly #taken: (boolean | undefined)[] = [];
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

  /**
   * What the store did with the entry at `index` on `node`: took it or
   * refused it. Every member must decide alike (a quota is part of the
   * replicated state), or their states diverge. Returns true for the first
   * member to report.
   */
  observeOutcome(node: NodeId, index: number, taken: boolean): boolean {
    const known = this.#taken[index];
    if (known === undefined) {
      this.#taken[index] = taken;
      return true;
    }
    if (known !== taken) {
      throw new SafetyViolation('state machine safety', `${node} ${taken ? 'took' : 'refused'} the command at index ${index}, which the first member to apply it ${known ? 'took' : 'refused'}`);
    }
    return false;
  }

  /** Term of the committed entry at `index`, if some member applied it. */
  committedTerm(index: number): number | undefined {
    return this.#terms[index];
  }
}
