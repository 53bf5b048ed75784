import { describeAction, runAction } from './actions.js';
import type { FaultRecord, FaultStore } from './state.js';

/** What undoing one fault did: each undo step's line, and the errors of those that failed. */
export interface UndoReport {
  readonly id: string;
  readonly steps: readonly string[];
  readonly errors: readonly string[];
}

/**
 * Runs every undo step of `record` (all of them, even after one fails: a
 * partition's rules in three namespaces are three chances to heal), and drops
 * the record once every step has succeeded or found its object already gone.
 */
export async function undoFault(store: FaultStore, record: FaultRecord): Promise<UndoReport> {
  const steps: string[] = [];
  const errors: string[] = [];
  for (const action of record.undo) {
    try {
      const outcome = await runAction(action);
      steps.push(`${describeAction(action)}: ${outcome.result === 'done' ? 'done' : 'already gone'}`);
    } catch (error) {
      errors.push(`${describeAction(action)}: ${(error as Error).message}`);
    }
  }
  if (errors.length === 0) store.remove(record.id);
  return { id: record.id, steps, errors };
}
