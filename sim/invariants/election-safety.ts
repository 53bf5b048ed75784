import type { NodeId } from '../../src/raft/types.js';
import { SafetyViolation } from './violation.js';

/** At most one leader per term (§5.2). */
export class ElectionSafety {
  readonly #leaders = new Map<number, NodeId>();

  observeLeader(term: number, id: NodeId): void {
    const existing = this.#leaders.get(term);
    if (existing !== undefined && existing !== id) {
      throw new SafetyViolation('election safety', `term ${term} has two leaders: ${existing} and ${id}`);
    }
    this.#leaders.set(term, id);
  }

  terms(): number {
    return this.#leaders.size;
  }
}
