/**
 * checkHistory: is a history linearizable with respect to a model?
 *
 * The history is split by key (P-compositionality: a history of independent
 * objects is linearizable iff each object's is), failed operations and
 * unknown reads are dropped, and each key is decided by the unique-values
 * fast path when it applies (registers whose written values are distinct)
 * or by the general search otherwise. One time budget and one step budget
 * cover the whole history; running out answers "unknown", never "ok".
 * A violation comes with a small counterexample (see minimize.ts).
 */
import { decideKey, type KeyReport, type Method, type Verdict } from './decide.js';
import { effective, type History, type Operation, partitionByKey, positiveOption } from './history.js';
import { minimizeCounterexample } from './minimize.js';
import { assertModelFits, inferModel, type ModelName, modelByName } from './models/index.js';

export type { KeyReport, Method, Verdict } from './decide.js';

export interface CheckOptions {
  /** Default: inferred from the operations (kv, cas-register or register). */
  readonly model?: ModelName;
  /** Wall-clock budget for the whole history (default 60 s). */
  readonly timeLimitMs?: number;
  /** Search steps budget for the whole history (default 50 million). */
  readonly stepsMax?: number;
  /** Use the unique-values fast path when it applies (default true). */
  readonly fastPath?: boolean;
  /** Shrink a violation's counterexample (default true; bounded by `minimizeTimeMs`). */
  readonly minimize?: boolean;
  /** Time allowed for shrinking (default 2 s, never more than what is left of the time limit). */
  readonly minimizeTimeMs?: number;
}

export const TIME_LIMIT_MS_DEFAULT = 60_000;
export const STEPS_MAX_DEFAULT = 50_000_000;

export interface Counterexample {
  readonly key: string;
  /** Why, in a sentence. */
  readonly reason: string;
  /** A small non-linearizable set of the key's operations, by call time. */
  readonly operations: readonly Operation[];
  /** Operations that could not be placed (the search's blocked operation). */
  readonly blocked: readonly Operation[];
  /** The longest linearizable prefix the search found on the key (operations linearized at once), when the search decided it. */
  readonly longestPrefix: number | undefined;
  /** True when shrinking ran to the end (every remaining operation is needed). */
  readonly minimal: boolean;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly model: ModelName;
  readonly source: string;
  /** Operations in the file, and those left once failed ones and unknown reads are dropped. */
  readonly operations: number;
  readonly effectiveOperations: number;
  readonly keys: number;
  readonly elapsedMs: number;
  readonly counterexample: Counterexample | undefined;
  /** Keys left undecided (budget), with what the search explored. */
  readonly undecided: readonly KeyReport[];
  /** Keys decided by each method. */
  readonly methods: Readonly<Record<Method, number>>;
  /** The key whose check took longest, and how long. */
  readonly slowestKey: { readonly key: string; readonly elapsedMs: number } | undefined;
}

export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const timeLimitMs = positiveOption('timeLimitMs', options.timeLimitMs, TIME_LIMIT_MS_DEFAULT);
  const stepsMax = positiveOption('stepsMax', options.stepsMax, STEPS_MAX_DEFAULT);
  const modelName = options.model ?? inferModel(history.operations);
  const model = modelByName(modelName);
  assertModelFits(model, history.operations, history.source);
  const deadline = started + timeLimitMs;
  const partitions = partitionByKey(effective(history.operations));
  const methods: Record<Method, number> = { 'unique-values': 0, search: 0 };
  const undecided: KeyReport[] = [];
  let stepsUsed = 0;
  let slowestKey: { key: string; elapsedMs: number } | undefined;
  let counterexample: Counterexample | undefined;
  let effectiveOperations = 0;
  for (const operations of partitions.values()) effectiveOperations += operations.length;
  for (const [key, operations] of partitions) {
    const keyStarted = performance.now();
    // Small keys finish under the search's clock interval, so the deadline is also checked between keys.
    if (keyStarted > deadline) {
      undecided.push({ key, verdict: 'unknown', method: 'search', operations: operations.length, explored: undefined, reason: 'time budget exhausted before this key was checked' });
      continue;
    }
    const report = decideKey(model, operations, { deadline, stepsMax: Math.max(1, stepsMax - stepsUsed) }, options.fastPath !== false);
    stepsUsed += report.explored?.steps ?? 0;
    const elapsedMs = performance.now() - keyStarted;
    if (slowestKey === undefined || elapsedMs > slowestKey.elapsedMs) slowestKey = { key, elapsedMs };
    if (report.verdict === 'unknown') {
      undecided.push(report);
      continue;
    }
    methods[report.method] += 1;
    if (report.verdict === 'violation') {
      const shrinkMs = Math.min(options.minimizeTimeMs ?? 2000, Math.max(0, deadline - performance.now()));
      const shrunk = minimizeCounterexample(model, operations, report, options.minimize === false ? 0 : shrinkMs, options.fastPath !== false);
      counterexample = {
        key, reason: report.reason ?? 'not linearizable', operations: shrunk.operations, blocked: report.blocked === undefined ? [] : [report.blocked],
        longestPrefix: report.prefix?.length, minimal: shrunk.minimal,
      };
      break;
    }
  }
  const verdict: Verdict = counterexample !== undefined ? 'violation' : undecided.length > 0 ? 'unknown' : 'ok';
  return {
    verdict, model: modelName, source: history.source, operations: history.operations.length, effectiveOperations, keys: partitions.size,
    elapsedMs: performance.now() - started, counterexample, undecided, methods, slowestKey,
  };
}
