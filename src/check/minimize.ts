/**
 * Shrinking a violation to a counterexample a person can read.
 *
 * 1. Start small: the operations the fast path named, or, from the search,
 *    the history cut at the blocked operation's return (operations called
 *    after it are dropped; those still running then become unknown, which
 *    keeps a prefix of a linearizable history linearizable, so the cut stays
 *    a violation).
 * 2. Delete operations one at a time while what remains is still not
 *    linearizable, never deleting a write whose value a remaining operation
 *    observed (that would make a trivial "read of a value nobody wrote").
 *
 * Bounded by time: what is left when it runs out is still a violation, just
 * maybe not minimal.
 */
import { isRead, type Operation, uniformOperation } from './history.js';
import type { Model } from './models/model.js';
import { decideKey } from './decide.js';

/** Step budget of one trial during shrinking: a trial that cannot decide counts as "keep the operation". */
const TRIAL_STEPS_MAX = 200_000;
/** Deleting one at a time is quadratic; beyond this many operations only the cut is reported. */
const SHRINK_OPERATIONS_MAX = 2_000;

export interface Shrunk {
  readonly operations: readonly Operation[];
  readonly minimal: boolean;
}

interface Found {
  readonly blocked?: Operation;
  readonly involved?: readonly Operation[];
}

export function minimizeCounterexample(model: Model<unknown>, operations: readonly Operation[], found: Found, timeMs: number, fastPath: boolean): Shrunk {
  const deadline = performance.now() + timeMs;
  const violates = (candidate: readonly Operation[]): boolean => {
    const remaining = deadline - performance.now();
    if (remaining <= 0) return false;
    return decideKey(model, candidate, { deadline, stepsMax: TRIAL_STEPS_MAX }, fastPath).verdict === 'violation';
  };
  let current = [...(found.involved ?? cut(operations, found.blocked))].sort((a, b) => a.call - b.call || a.id - b.id);
  // Without time to confirm, report only what is known to violate: the fast path's conflict, else the whole key.
  if (timeMs <= 0) return { operations: found.involved === undefined ? [...operations].sort((a, b) => a.call - b.call || a.id - b.id) : current, minimal: false };
  // The starting set should be a violation by construction; if a trial cannot confirm it, start from the whole key (known to violate).
  if (!violates(current)) current = [...operations].sort((a, b) => a.call - b.call || a.id - b.id);
  if (current.length > SHRINK_OPERATIONS_MAX) return { operations: current, minimal: false };
  // Reads first (they never feed anything), then the rest, latest first.
  const order = [...current].sort((a, b) => Number(isRead(b)) - Number(isRead(a)) || b.call - a.call);
  let complete = true;
  for (const candidate of order) {
    if (performance.now() > deadline) {
      complete = false;
      break;
    }
    if (current.some((other) => other !== candidate && model.feeds(candidate, other))) continue;
    const without = current.filter((operation) => operation !== candidate);
    if (without.length > 0 && violates(without)) current = without;
  }
  return { operations: current, minimal: complete };
}

/** The history as it stood when `blocked` returned: later calls dropped, operations still running made unknown. */
function cut(operations: readonly Operation[], blocked: Operation | undefined): Operation[] {
  if (blocked === undefined) return [...operations];
  const at = blocked.ret;
  const kept: Operation[] = [];
  for (const operation of operations) {
    if (operation.call > at) continue;
    if (operation.ret <= at) kept.push(operation);
    // Still running: its outcome was unknown at that moment (an unknown read has no effect at all).
    else if (!isRead(operation)) kept.push(uniformOperation({ ...operation, type: 'info', ret: Number.POSITIVE_INFINITY }));
  }
  return kept;
}
