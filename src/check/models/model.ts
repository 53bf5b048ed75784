/**
 * A sequential specification of one object (one key): its initial state and
 * how each operation steps it. `step` answers undefined when the operation
 * cannot happen in that state with the result it reported (a read of the
 * wrong value, a cas whose compare fails: an unknown cas that cannot apply
 * here simply does not happen here).
 */
import type { Operation, OperationName } from '../history.js';

export type ModelName = 'register' | 'cas-register' | 'kv' | 'mutex';
export const MODEL_NAMES: readonly ModelName[] = ['register', 'cas-register', 'kv', 'mutex'];

export interface Model<State> {
  readonly name: ModelName;
  readonly operations: readonly OperationName[];
  init(): State;
  step(state: State, operation: Operation): State | undefined;
  /** A string equal for equal states (the search caches on it). */
  hash(state: State): string;
  /** True when `reader`'s result shows `writer`'s effect (minimization keeps such writers). */
  feeds(writer: Operation, reader: Operation): boolean;
  /**
   * Unknown operations whose effect no operation observed. They may simply
   * not have happened, and choosing so never breaks an explanation, so the
   * checker drops them before searching (exact, and it removes most of the
   * branching unknown operations cause).
   */
  unobservedUnknowns(operations: readonly Operation[]): Set<Operation>;
}
