/**
 * Per-call overhead of retry + circuit breaker + bulkhead + timeout around a
 * no-op async function: keel, cockatiel and opossum measured in the same
 * run, in alternating rounds so that machine noise hits all of them alike.
 * opossum has no retry policy; its stack is its breaker with its built-in
 * timeout and capacity (semaphore) options, which is what it offers.
 *
 * Usage: npx tsx bench/resilience-overhead.ts [--calls N] [--rounds N]
 */
import {
  bulkhead as cockatielBulkhead, circuitBreaker as cockatielBreaker, ConsecutiveBreaker, ExponentialBackoff, handleAll, retry as cockatielRetry,
  timeout as cockatielTimeout, TimeoutStrategy, wrap as cockatielWrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { bulkhead, circuitBreaker, consecutiveFailures, retry, timeout, wrap } from '../src/resilience/index.js';

const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const CALLS = argument('calls', 20_000);
const ROUNDS = argument('rounds', 15);

const noop = async (): Promise<number> => 1;

const keelStack = wrap(
  retry({ maxAttempts: 3 }),
  circuitBreaker({ strategy: consecutiveFailures(5) }),
  bulkhead({ maxConcurrent: 100 }),
  timeout(1_000),
);
const cockatielStack = cockatielWrap(
  cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  cockatielBreaker(handleAll, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(5) }),
  cockatielBulkhead(100),
  cockatielTimeout(1_000, TimeoutStrategy.Cooperative),
);
const opossumBreaker = new CircuitBreaker(noop, { timeout: 1_000, capacity: 100, volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: 5_000 });

const candidates: Array<{ name: string; stack: string; call: () => Promise<unknown> }> = [
  { name: 'bare call', stack: 'no policy', call: noop },
  { name: 'keel', stack: 'retry + breaker + bulkhead + timeout', call: () => keelStack.execute(noop) },
  { name: 'cockatiel 3', stack: 'retry + breaker + bulkhead + timeout', call: () => cockatielStack.execute(noop) },
  { name: 'opossum 9', stack: 'breaker + timeout + capacity (no retry)', call: () => opossumBreaker.fire() },
];

async function round(call: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let index = 0; index < CALLS; index++) await call();
  return Number(process.hrtime.bigint() - started) / CALLS;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

for (const candidate of candidates) await round(candidate.call); // warm up the JIT
const samples = new Map(candidates.map((candidate) => [candidate.name, [] as number[]]));
for (let index = 0; index < ROUNDS; index++) {
  for (const candidate of candidates) samples.get(candidate.name)!.push(await round(candidate.call));
}
opossumBreaker.shutdown();

const bare = median(samples.get('bare call')!);
const keel = median(samples.get('keel')!) - bare;
console.log(`Per-call overhead around a no-op async function: ${CALLS} sequential calls per round, median of ${ROUNDS} rounds, Node ${process.version}.`);
console.log('');
console.log('| library | policies | ns per call | overhead over a bare call (ns) | overhead ÷ keel\'s |');
console.log('|---|---|---:|---:|---:|');
for (const candidate of candidates) {
  const total = median(samples.get(candidate.name)!);
  const overhead = total - bare;
  const ratio = candidate.name === 'bare call' ? '' : `${(overhead / keel).toFixed(2)}×`;
  console.log(`| ${candidate.name} | ${candidate.stack} | ${total.toFixed(0)} | ${candidate.name === 'bare call' ? '' : overhead.toFixed(0)} | ${ratio} |`);
}
