/** One key's decision: the unique-values fast path when it applies, the general search otherwise. */
import type { Operation } from './history.js';
import type { Model } from './models/model.js';
import { type SearchBudget, type SearchExplored, searchLinearizable } from './search.js';
import { checkUniqueRegister, uniqueValuesHold } from './unique-register.js';

export type Verdict = 'ok' | 'violation' | 'unknown';
export type Method = 'unique-values' | 'search';

export interface KeyReport {
  readonly key: string;
  readonly verdict: Verdict;
  readonly method: Method;
  readonly operations: number;
  readonly explored: SearchExplored | undefined;
  readonly reason: string | undefined;
}

export interface KeyDecision extends KeyReport {
  /** Search: the operation that could not be placed, and the longest linearizable prefix. */
  readonly blocked?: Operation;
  readonly prefix?: readonly Operation[];
  /** Fast path: the operations that conflict. */
  readonly involved?: readonly Operation[];
}

/** Decides one key's operations (effective ones); `budget` is shared. */
export function decideKey(model: Model<unknown>, all: readonly Operation[], budget: SearchBudget, fastPath = true): KeyDecision {
  const key = all[0]?.key ?? '';
  const unobserved = model.unobservedUnknowns(all);
  const operations = unobserved.size === 0 ? all : all.filter((operation) => !unobserved.has(operation));
  if (fastPath && model.name !== 'kv' && uniqueValuesHold(operations)) {
    const result = checkUniqueRegister(operations);
    if (result.verdict === 'ok') return { key, verdict: 'ok', method: 'unique-values', operations: operations.length, explored: undefined, reason: undefined };
    return { key, verdict: 'violation', method: 'unique-values', operations: operations.length, explored: undefined, reason: result.reason, involved: result.operations };
  }
  const result = searchLinearizable(model, operations, budget);
  if (result.verdict === 'ok') return { key, verdict: 'ok', method: 'search', operations: operations.length, explored: result.explored, reason: undefined };
  if (result.verdict === 'unknown') return { key, verdict: 'unknown', method: 'search', operations: operations.length, explored: result.explored, reason: `${result.reason} budget exhausted` };
  return {
    key, verdict: 'violation', method: 'search', operations: operations.length, explored: result.explored, reason: `no order of the operations explains ${describeBlocked(result.blocked)}`,
    blocked: result.blocked, prefix: result.prefix,
  };
}

function describeBlocked(operation: Operation): string {
  return `the ${operation.f} by process ${operation.process}${operation.line === undefined ? '' : ` (line ${operation.line})`}`;
}

