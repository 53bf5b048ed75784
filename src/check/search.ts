/**
 * The general linearizability search: Wing & Gong's algorithm with Lowe's
 * state cache, laid out as Porcupine does. Calls and returns sit in one
 * doubly linked list in time order (a call before a return at equal times:
 * such operations overlap). Walking the list, a call whose operation can
 * step the model is "lifted" (linearized now, its call and return leave the
 * list) and the walk restarts; meeting a return means that operation must
 * have been linearized already, so the search backtracks. A configuration
 * (set of linearized operations, model state) seen before is not explored
 * twice.
 *
 * Unknown (`info`) operations have no return entry: they may be linearized
 * at any point after their call, or never. The search succeeds once every
 * `ok` operation is linearized.
 *
 * Budgets: a deadline and a step count; running out answers "unknown",
 * never "ok", with what was explored.
 */
import type { Operation } from './history.js';
import type { Model } from './models/model.js';
import { SeededRandom } from '../raft/random.js';

export interface SearchBudget {
  /** performance.now() value after which the search gives up. */
  readonly deadline: number;
  /** Loop iterations after which it gives up. */
  readonly stepsMax: number;
}

export interface SearchExplored {
  readonly steps: number;
  readonly cacheEntries: number;
  /** The most operations linearized at once (the longest linearizable prefix found). */
  readonly longestPrefix: number;
}

export type SearchResult =
  | { readonly verdict: 'ok'; readonly explored: SearchExplored; readonly order: readonly Operation[] }
  | { readonly verdict: 'violation'; readonly explored: SearchExplored; readonly prefix: readonly Operation[]; readonly blocked: Operation }
  | { readonly verdict: 'unknown'; readonly explored: SearchExplored; readonly reason: 'time' | 'steps' };

/** Stop adding to the cache beyond this many bitset words (about 128 MiB); the search stays correct, only slower. */
const CACHE_WORDS_MAX = 32 * 1024 * 1024;
/** Read the clock once per this many steps. */
const CLOCK_EVERY_STEPS = 1024;

export function searchLinearizable<State>(model: Model<State>, operations: readonly Operation[], budget: SearchBudget): SearchResult {
  const count = operations.length;
  // Nodes: 0..count-1 calls, count..2count-1 returns, 2count the head sentinel; -1 is the end.
  const head = 2 * count;
  const next = new Int32Array(2 * count + 1).fill(-1);
  const prev = new Int32Array(2 * count + 1).fill(-1);
  const entries: { node: number; time: number; kind: number }[] = [];
  let required = 0;
  for (let index = 0; index < count; index += 1) {
    const operation = operations[index] as Operation;
    entries.push({ node: index, time: operation.call, kind: 0 });
    if (operation.ret !== Number.POSITIVE_INFINITY) {
      entries.push({ node: count + index, time: operation.ret, kind: 1 });
      required += 1;
    }
  }
  entries.sort((a, b) => a.time - b.time || a.kind - b.kind || a.node - b.node);
  let last = head;
  for (const entry of entries) {
    next[last] = entry.node;
    prev[entry.node] = last;
    last = entry.node;
  }
  const hasReturn = (index: number): boolean => (operations[index] as Operation).ret !== Number.POSITIVE_INFINITY;
  const lift = (index: number): void => {
    next[prev[index] as number] = next[index] as number;
    if ((next[index] as number) !== -1) prev[next[index] as number] = prev[index] as number;
    if (hasReturn(index)) {
      const match = count + index;
      next[prev[match] as number] = next[match] as number;
      if ((next[match] as number) !== -1) prev[next[match] as number] = prev[match] as number;
    }
  };
  const unlift = (index: number): void => {
    if (hasReturn(index)) {
      const match = count + index;
      next[prev[match] as number] = match;
      if ((next[match] as number) !== -1) prev[next[match] as number] = match;
    }
    next[prev[index] as number] = index;
    if ((next[index] as number) !== -1) prev[next[index] as number] = index;
  };

  const words = Math.ceil(count / 32) || 1;
  const linearized = new Uint32Array(words);
  // Fixed seed: the same history explores the same way on every run.
  const random = new SeededRandom(0x6b65656c);
  const zobristLow = new Uint32Array(count).map(() => random.nextUint32());
  const zobristHigh = new Uint32Array(count).map(() => random.nextUint32());
  let hashLow = 0;
  let hashHigh = 0;
  const flip = (index: number): void => {
    linearized[index >>> 5] = (linearized[index >>> 5] as number) ^ (1 << (index & 31));
    hashLow ^= zobristLow[index] as number;
    hashHigh ^= zobristHigh[index] as number;
  };
  // The cache: configurations by a 53-bit number (the Zobrist hash of the set mixed with the state's id), then compared exactly.
  const stateIds = new Map<unknown, number>();
  const cache = new Map<number, { readonly stateId: number; readonly bits: Uint32Array }[]>();
  let cacheWords = 0;
  let cacheEntries = 0;
  /** True when (linearized, state) is new; remembers it. */
  const remember = (state: State): boolean => {
    // Primitive states (all of keel's models) are their own key: no string built per step.
    const stateKey: unknown = state === null || typeof state !== 'object' ? state : model.hash(state);
    let stateId = stateIds.get(stateKey);
    if (stateId === undefined) {
      stateId = stateIds.size;
      stateIds.set(stateKey, stateId);
    }
    const key = ((hashLow ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0) * 0x200000 + (hashHigh & 0x1fffff);
    const seen = cache.get(key);
    if (seen !== undefined) {
      for (const candidate of seen) {
        if (candidate.stateId !== stateId) continue;
        let same = true;
        for (let word = 0; word < words; word += 1) {
          if (candidate.bits[word] !== linearized[word]) {
            same = false;
            break;
          }
        }
        if (same) return false;
      }
    }
    if (cacheWords + words <= CACHE_WORDS_MAX) {
      const stored = { stateId, bits: linearized.slice() };
      if (seen === undefined) cache.set(key, [stored]);
      else seen.push(stored);
      cacheWords += words;
      cacheEntries += 1;
    }
    return true;
  };

  const stack: { index: number; state: State }[] = [];
  let state = model.init();
  let linearizedRequired = 0;
  let steps = 0;
  let longest: number[] = [];
  let blocked = -1;
  const explored = (): SearchExplored => ({ steps, cacheEntries, longestPrefix: Math.max(longest.length, stack.length) });
  let entry = next[head] as number;
  for (;;) {
    if (linearizedRequired === required) return { verdict: 'ok', explored: explored(), order: stack.map((frame) => operations[frame.index] as Operation) };
    steps += 1;
    if (steps >= budget.stepsMax) return { verdict: 'unknown', explored: explored(), reason: 'steps' };
    if (steps % CLOCK_EVERY_STEPS === 0 && performance.now() > budget.deadline) return { verdict: 'unknown', explored: explored(), reason: 'time' };
    if (entry !== -1 && entry < count) {
      const operation = operations[entry] as Operation;
      const stepped = model.step(state, operation);
      if (stepped !== undefined) {
        flip(entry);
        if (remember(stepped)) {
          stack.push({ index: entry, state });
          state = stepped;
          if (hasReturn(entry)) linearizedRequired += 1;
          lift(entry);
          entry = next[head] as number;
          continue;
        }
        flip(entry);
      }
      entry = next[entry] as number;
      continue;
    }
    // A return (or, defensively, the end): its operation should have been linearized by now. Backtrack.
    if (stack.length >= longest.length && entry !== -1) {
      if (stack.length > longest.length || blocked === -1) {
        longest = stack.map((frame) => frame.index);
        blocked = entry - count;
      }
    }
    const frame = stack.pop();
    if (frame === undefined) {
      return { verdict: 'violation', explored: explored(), prefix: longest.map((index) => operations[index] as Operation), blocked: operations[Math.max(blocked, 0)] as Operation };
    }
    state = frame.state;
    flip(frame.index);
    if (hasReturn(frame.index)) linearizedRequired -= 1;
    unlift(frame.index);
    entry = next[frame.index] as number;
  }
}
