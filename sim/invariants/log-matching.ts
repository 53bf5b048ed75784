import type { Entry, NodeId } from '../../src/raft/types.js';
import { SafetyViolation } from './violation.js';
import { entryKey } from './entry-key.js';

/**
 * Log matching (§5.3): two logs holding an entry with the same index and term
 * hold the same entry there and identical logs before it. Checked
 * inductively as entries are persisted: the same (index, term) must carry the
 * same payload and follow an entry of the same term.
 */
export class LogMatching {
  /** previousTerm -1 means unknown (the entry before was compacted away when this one was persisted). */
  readonly #seen = new Map<string, { payload: string; previousTerm: number }>();

  observePersisted(node: NodeId, entry: Entry, previousTerm: number): void {
    const key = `${entry.index}:${entry.term}`;
    const payload = entryKey(entry);
    const known = this.#seen.get(key);
    if (!known) {
      this.#seen.set(key, { payload, previousTerm });
      return;
    }
    if (known.payload !== payload) {
      throw new SafetyViolation('log matching', `${node} holds a different entry at index ${entry.index} term ${entry.term}`);
    }
    if (known.previousTerm === -1) known.previousTerm = previousTerm;
    if (previousTerm !== -1 && known.previousTerm !== previousTerm) {
      throw new SafetyViolation(
        'log matching',
        `${node} holds index ${entry.index} term ${entry.term} after an entry of term ${previousTerm}, another log after term ${known.previousTerm}`,
      );
    }
  }
}
