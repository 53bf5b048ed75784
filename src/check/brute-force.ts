/**
 * The dumb reference for tests: tries every subset of the unknown
 * operations (each happened or not) and every order of the chosen ones,
 * keeping the orders that respect real time (a before b when a returned
 * before b was called) and that the model accepts. Exponential: tiny
 * histories only.
 */
import { effective, type Operation } from './history.js';
import type { Model } from './models/model.js';

/** More operations than this is refused (8! orders times 2^8 subsets is already slow). */
export const BRUTE_FORCE_OPERATIONS_MAX = 8;

export function bruteForceLinearizable(model: Model<unknown>, history: readonly Operation[]): boolean {
  const operations = effective(history);
  if (operations.length > BRUTE_FORCE_OPERATIONS_MAX) throw new RangeError(`brute force takes at most ${BRUTE_FORCE_OPERATIONS_MAX} operations`);
  const unknown = operations.filter((operation) => operation.type === 'info');
  const known = operations.filter((operation) => operation.type !== 'info');
  for (let mask = 0; mask < 1 << unknown.length; mask += 1) {
    const chosen = [...known, ...unknown.filter((_, index) => (mask & (1 << index)) !== 0)];
    if (permutations(chosen).some((order) => valid(model, order))) return true;
  }
  return false;
}

function valid(model: Model<unknown>, order: readonly Operation[]): boolean {
  for (let later = 0; later < order.length; later += 1) {
    for (let earlier = 0; earlier < later; earlier += 1) {
      if ((order[later] as Operation).ret < (order[earlier] as Operation).call) return false;
    }
  }
  let state = model.init();
  for (const operation of order) {
    const next = model.step(state, operation);
    if (next === undefined) return false;
    state = next;
  }
  return true;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  const out: T[][] = [];
  items.forEach((item, index) => {
    for (const rest of permutations([...items.slice(0, index), ...items.slice(index + 1)])) out.push([item, ...rest]);
  });
  return out;
}
