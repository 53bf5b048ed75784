/**
 * Per-call overhead of retry + circuit breaker + bulkhead + timeout around a
 * no-op async function: keel, cockatiel and opossum measured in the same
 * run, in alternating rounds so that machine noise hits all of them alike.
 * opossum has no retry policy; its stack is its breaker with its built-in
 * timeout and capacity (semaphore) options, which is what it offers.
 *
 * Every library does the same work per call: the same policies with the same
 * settings (3 attempts in all: keel's maxAttempts counts the first attempt,
 * cockatiel's counts retries; a 5-failure consecutive breaker; 100 slots;
 * a 1 s cooperative timeout). Rows per single policy show what each costs
 * alone, and the "signal" rows call a function that reads the abort signal
 * it is given, as a real I/O call passing it on would, since keel only
 * builds the timeout's signal when the function asks for it.
 *
 * Usage: npx tsx bench/resilience-overhead.ts [--calls N] [--rounds N] [--only 'library: policies|...']
 * Profile one row: node --cpu-prof --import tsx bench/resilience-overhead.ts --only 'keel: retry + breaker + bulkhead + timeout'
 */
import {
  bulkhead as cockatielBulkhead, circuitBreaker as cockatielBreaker, ConsecutiveBreaker, ExponentialBackoff, handleAll, type IPolicy,
  retry as cockatielRetry, timeout as cockatielTimeout, TimeoutStrategy, wrap as cockatielWrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { bulkhead, circuitBreaker, consecutiveFailures, retry, timeout, wrap } from '../src/resilience/index.js';

const numberArgument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer, got ${String(process.argv[index + 1])}`);
    process.exit(1);
  }
  return value;
};
const CALLS = numberArgument('calls', 20_000);
const ROUNDS = numberArgument('rounds', 15);
const onlyIndex = process.argv.indexOf('--only');
const ONLY = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;

const noop = async (): Promise<number> => 1;
/** Reads the signal as a function passing it to its I/O would (keel builds the timeout's signal only then). */
const readsSignal = async (context: { readonly signal: AbortSignal }): Promise<number> => (context.signal.aborted ? 0 : 1);

const keelPolicies = () => ({
  retry: retry({ maxAttempts: 3 }),
  breaker: circuitBreaker({ strategy: consecutiveFailures(5) }),
  bulkhead: bulkhead({ maxConcurrent: 100 }),
  timeout: timeout(1_000),
});
const cockatielPolicies = () => ({
  retry: cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  breaker: cockatielBreaker(handleAll, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(5) }),
  bulkhead: cockatielBulkhead(100),
  timeout: cockatielTimeout(1_000, TimeoutStrategy.Cooperative),
});
const keel = keelPolicies();
const keelStack = wrap(keel.retry, keel.breaker, keel.bulkhead, keel.timeout);
const keelSignal = keelPolicies();
const keelSignalStack = wrap(keelSignal.retry, keelSignal.breaker, keelSignal.bulkhead, keelSignal.timeout);
const cockatiel = cockatielPolicies();
const cockatielStack = cockatielWrap(cockatiel.retry, cockatiel.breaker, cockatiel.bulkhead, cockatiel.timeout);
const cockatielSignal = cockatielPolicies();
const cockatielSignalStack = cockatielWrap(cockatielSignal.retry, cockatielSignal.breaker, cockatielSignal.bulkhead, cockatielSignal.timeout);
const opossumBreaker = new CircuitBreaker(noop, { timeout: 1_000, capacity: 100, volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: 5_000 });

interface Candidate {
  /** Rows with the same group do the same work; ratios compare with keel's row of the group. */
  readonly group: string;
  readonly library: string;
  /** The group whose keel row this row is compared with, when not its own (opossum offers no retry). */
  readonly comparedWith?: string;
  readonly call: () => Promise<unknown>;
}

const FOUR = 'retry + breaker + bulkhead + timeout';
const cockatielRow = (group: string, policy: IPolicy): Candidate => ({ group, library: 'cockatiel 3', call: () => policy.execute(noop) });
const allCandidates: Candidate[] = [
  { group: 'no policy', library: 'bare call', call: noop },
  { group: FOUR, library: 'keel', call: () => keelStack.execute(noop) },
  cockatielRow(FOUR, cockatielStack),
  { group: 'breaker + timeout + capacity (no retry)', library: 'opossum 9', comparedWith: FOUR, call: () => opossumBreaker.fire() },
  { group: `${FOUR}, function reads the signal`, library: 'keel', call: () => keelSignalStack.execute(readsSignal) },
  { group: `${FOUR}, function reads the signal`, library: 'cockatiel 3', call: () => cockatielSignalStack.execute(readsSignal) },
  ...(['retry', 'breaker', 'bulkhead', 'timeout'] as const).flatMap((name): Candidate[] => [
    { group: `${name} alone`, library: 'keel', call: () => keel[name].execute(noop) },
    cockatielRow(`${name} alone`, cockatiel[name]),
  ]),
];
// --only picks rows by "library: policies": '|' separates choices, each matching exactly when some row matches it exactly (to profile one stack), else as a substring.
const label = (candidate: Candidate): string => `${candidate.library}: ${candidate.group}`;
const picks = ONLY?.split('|').map((pick) => ({ pick, exact: allCandidates.some((candidate) => label(candidate) === pick) }));
const picked = (candidate: Candidate): boolean => picks === undefined || picks.some(({ pick, exact }) => (exact ? label(candidate) === pick : label(candidate).includes(pick)));
const candidates = allCandidates.filter((candidate) => candidate.library === 'bare call' || picked(candidate));

async function round(call: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let index = 0; index < CALLS; index++) await call();
  return Number(process.hrtime.bigint() - started) / CALLS;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

const samples = new Map<Candidate, number[]>(candidates.map((candidate) => [candidate, []]));
for (const candidate of candidates) await round(candidate.call); // warm up the JIT
for (let index = 0; index < ROUNDS; index++) {
  for (const candidate of candidates) samples.get(candidate)!.push(await round(candidate.call));
}
opossumBreaker.shutdown();

const bare = median(samples.get(candidates[0]!)!);
const overheadOf = (candidate: Candidate): number => median(samples.get(candidate)!) - bare;
const keelOverhead = new Map(candidates.filter((candidate) => candidate.library === 'keel').map((candidate) => [candidate.group, overheadOf(candidate)]));
console.log(`Per-call overhead around a no-op async function: ${CALLS} sequential calls per round, median of ${ROUNDS} rounds, Node ${process.version}.`);
console.log('');
console.log('| library | policies | ns per call | overhead over a bare call (ns) | overhead ÷ keel\'s |');
console.log('|---|---|---:|---:|---:|');
for (const candidate of candidates) {
  const isBare = candidate.library === 'bare call';
  const overhead = overheadOf(candidate);
  const keelFigure = keelOverhead.get(candidate.comparedWith ?? candidate.group);
  const ratio = isBare || keelFigure === undefined ? '' : `${(overhead / keelFigure).toFixed(2)}×`;
  console.log(`| ${candidate.library} | ${candidate.group} | ${median(samples.get(candidate)!).toFixed(0)} | ${isBare ? '' : overhead.toFixed(0)} | ${ratio} |`);
}
