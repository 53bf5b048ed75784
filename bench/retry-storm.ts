/**
 * Retry storm: 1,000 clients against a backend of fixed capacity, a brief
 * outage, and four client strategies. A deterministic discrete-time
 * simulation (1 ms steps, seeded, bounded in steps). The keel strategy is
 * driven by keel's own decision code: RetryPolicy.decide with its default
 * backoff, a RatioRetryBudget, a CircuitBreakerPolicy and an
 * AdaptiveThrottlePolicy per client, all on one FakeClock.
 *
 * Usage: npx tsx bench/retry-storm.ts [--seed N] [--clients N]
 */
import {
  type Backoff, CircuitBreakerPolicy, FakeClock, type Outcome, type PolicyContext, AdaptiveThrottlePolicy, RatioRetryBudget, RetryPolicy,
  SeededRandom, TimeoutError, type BreakerPermit,
} from '../src/resilience/index.js';

const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};

const SEED = argument('seed', 1);
const CLIENTS = argument('clients', 1000);
const RATE_PER_CLIENT_PER_SECOND = 1; // base load: CLIENTS requests per second
const CAPACITY_PER_SECOND = 1.2 * CLIENTS * RATE_PER_CLIENT_PER_SECOND; // 20% headroom
const QUEUE_MAX = 2 * CAPACITY_PER_SECOND; // two seconds of work
const ONE_WAY_MS = 5;
const ATTEMPT_TIMEOUT_MS = 1_000;
const DEADLINE_MS = 10_000;
const OUTAGE_START_MS = 10_000;
const OUTAGE_END_MS = 15_000;
const ARRIVALS_END_MS = 60_000;
const END_MS = ARRIVALS_END_MS + DEADLINE_MS + 2_000; // every request resolves before the end
const EVENTS_MAX = 400_000_000; // the bound on simulated work

interface Request {
  readonly client: number;
  readonly createdMs: number;
  attempt: number;
  attemptId: number;
  attemptStartMs: number;
  done: boolean;
  backoff: Backoff | undefined;
  permit: BreakerPermit | undefined;
}

type Event =
  | { kind: 'arrival'; client: number }
  | { kind: 'send'; request: Request }
  | { kind: 'at-backend'; request: Request; attemptId: number }
  | { kind: 'response'; request: Request; attemptId: number; ok: boolean }
  | { kind: 'timeout'; request: Request; attemptId: number };

/** What a client does around each attempt. */
interface Strategy {
  readonly name: string;
  /** Before an attempt: false refuses it locally (the request fails). */
  admit(request: Request): boolean;
  /** After an attempt: the delay before the next one, or undefined to give up. */
  afterAttempt(request: Request, ok: boolean, timedOut: boolean, nowMs: number): number | undefined;
  onNewRequest(request: Request): void;
}

function simpleStrategy(name: string, delay: (request: Request, random: SeededRandom) => number): (random: SeededRandom) => Strategy {
  return (random) => ({
    name,
    admit: () => true,
    onNewRequest: () => {},
    afterAttempt: (request, ok) => (ok ? undefined : delay(request, random)),
  });
}

const naive = simpleStrategy('naive: immediate, unlimited', () => 0);
const backoffNoJitter = simpleStrategy('exponential backoff, no jitter', (request) => Math.min(10_000, 100 * 2 ** (request.attempt - 1)));
const backoffJitter = simpleStrategy('exponential backoff, full jitter', (request, random) => random.next() * Math.min(10_000, 100 * 2 ** (request.attempt - 1)));

function keelStrategy(clock: FakeClock, seed: number): (random: SeededRandom) => Strategy {
  return () => {
    const perClient = Array.from({ length: CLIENTS }, (_, client) => {
      const budget = new RatioRetryBudget({ clock });
      return {
        retry: new RetryPolicy({ clock, budget, random: new SeededRandom(seed * 7919 + client) }),
        budget,
        breaker: new CircuitBreakerPolicy({ clock }),
        throttle: new AdaptiveThrottlePolicy({ clock, random: new SeededRandom(seed * 104_729 + client) }),
      };
    });
    const never = new AbortController().signal;
    const context = (request: Request): PolicyContext => ({
      signal: never, attempt: request.attempt, deadlineMs: request.createdMs + DEADLINE_MS, criticality: 'CRITICAL', key: undefined, request: { method: 'GET' },
    });
    return {
      name: 'keel: jitter + budget + breaker + throttle',
      onNewRequest: (request) => perClient[request.client]!.budget.onRequest(),
      admit: (request) => {
        const client = perClient[request.client]!;
        if (!client.throttle.tryAcquire('CRITICAL')) return false;
        request.permit = client.breaker.tryAcquire();
        if (request.permit === undefined) client.throttle.record(false, 'CRITICAL');
        return request.permit !== undefined;
      },
      afterAttempt: (request, ok, timedOut, nowMs) => {
        const client = perClient[request.client]!;
        if (request.permit !== undefined) client.breaker.release(request.permit, !ok);
        client.throttle.record(ok || timedOut, 'CRITICAL'); // a 503 is a refusal; a timeout was accepted (SRE book)
        if (ok) return undefined;
        const outcome: Outcome = { ok: false, error: timedOut ? new TimeoutError(ATTEMPT_TIMEOUT_MS) : { status: 503 } };
        request.backoff ??= client.retry.startBackoff();
        const decision = client.retry.decide(outcome, { attempt: request.attempt, nowMs, attemptDurationMs: nowMs - request.attemptStartMs, backoff: request.backoff, context: context(request) });
        if (!decision.retry) return undefined;
        request.backoff = decision.backoff;
        return decision.delayMs;
      },
    };
  };
}

interface Result {
  readonly name: string;
  readonly peakAmplification: number;
  readonly recoveryMs: number | undefined;
  readonly successRatio: number;
  readonly goodputPerSecond: number;
  readonly attemptsPerRequest: number;
}

function simulate(makeStrategy: (random: SeededRandom) => Strategy, clock: FakeClock, seed: number): Result {
  const random = new SeededRandom(seed);
  const strategy = makeStrategy(new SeededRandom(seed + 1));
  const wheel: Array<Event[] | undefined> = new Array(END_MS + 1);
  const schedule = (atMs: number, event: Event): void => {
    const slot = Math.ceil(atMs);
    if (slot > END_MS) return;
    (wheel[slot] ??= []).push(event);
  };
  const seconds = Math.ceil(END_MS / 1000);
  const backendArrivals = new Float64Array(seconds);
  const created = new Float64Array(seconds);
  const succeeded = new Float64Array(seconds);
  const queue: Array<{ request: Request; attemptId: number }> = [];
  let queueHead = 0;
  let credit = 0;
  let nextAttemptId = 1;
  let attempts = 0;
  let events = 0;
  const exponential = (meanMs: number) => -Math.log(1 - random.next()) * meanMs;
  for (let client = 0; client < CLIENTS; client++) schedule(exponential(1000 / RATE_PER_CLIENT_PER_SECOND), { kind: 'arrival', client });

  const finish = (request: Request, ok: boolean, nowMs: number): void => {
    request.done = true;
    if (ok && nowMs <= request.createdMs + DEADLINE_MS) succeeded[Math.floor(request.createdMs / 1000)]! += 1;
  };
  const send = (request: Request, nowMs: number): void => {
    if (!strategy.admit(request)) return finish(request, false, nowMs);
    const attemptId = nextAttemptId++;
    request.attemptId = attemptId;
    request.attemptStartMs = nowMs;
    attempts++;
    schedule(nowMs + ONE_WAY_MS, { kind: 'at-backend', request, attemptId });
    schedule(nowMs + ATTEMPT_TIMEOUT_MS, { kind: 'timeout', request, attemptId });
  };
  const attemptEnded = (request: Request, ok: boolean, timedOut: boolean, nowMs: number): void => {
    if (ok) {
      strategy.afterAttempt(request, true, false, nowMs);
      return finish(request, true, nowMs);
    }
    const delay = strategy.afterAttempt(request, false, timedOut, nowMs);
    if (delay === undefined || nowMs + delay >= request.createdMs + DEADLINE_MS) return finish(request, false, nowMs);
    request.attempt++;
    schedule(nowMs + Math.max(1, delay), { kind: 'send', request });
  };

  for (let nowMs = 0; nowMs <= END_MS; nowMs++) {
    clock.set(clock.now() + (nowMs === 0 ? 0 : 1));
    const down = nowMs >= OUTAGE_START_MS && nowMs < OUTAGE_END_MS;
    if (nowMs === OUTAGE_START_MS) {
      for (let index = queueHead; index < queue.length; index++) schedule(nowMs + ONE_WAY_MS, { kind: 'response', ...queue[index]!, ok: false });
      queue.length = queueHead = 0;
    }
    const due = wheel[nowMs];
    wheel[nowMs] = undefined;
    for (const event of due ?? []) {
      if (++events > EVENTS_MAX) throw new Error('event bound reached');
      switch (event.kind) {
        case 'arrival': {
          if (nowMs < ARRIVALS_END_MS) {
            const request: Request = { client: event.client, createdMs: nowMs, attempt: 1, attemptId: 0, attemptStartMs: nowMs, done: false, backoff: undefined, permit: undefined };
            created[Math.floor(nowMs / 1000)]! += 1;
            strategy.onNewRequest(request);
            send(request, nowMs);
            schedule(nowMs + exponential(1000 / RATE_PER_CLIENT_PER_SECOND), event);
          }
          break;
        }
        case 'send':
          if (!event.request.done) send(event.request, nowMs);
          break;
        case 'at-backend':
          backendArrivals[Math.floor(nowMs / 1000)]! += 1;
          if (down || queue.length - queueHead >= QUEUE_MAX) schedule(nowMs + ONE_WAY_MS, { kind: 'response', request: event.request, attemptId: event.attemptId, ok: false });
          else queue.push({ request: event.request, attemptId: event.attemptId });
          break;
        case 'response':
        case 'timeout':
          if (event.request.done || event.request.attemptId !== event.attemptId) break;
          event.request.attemptId = 0; // this attempt is over
          attemptEnded(event.request, event.kind === 'response' && event.ok, event.kind === 'timeout', nowMs);
          break;
      }
    }
    if (!down) {
      // The backend serves FIFO at its capacity, whether or not the client still waits (wasted work).
      credit = Math.min(credit + CAPACITY_PER_SECOND / 1000, 2);
      while (credit >= 1 && queueHead < queue.length) {
        const served = queue[queueHead++]!;
        credit--;
        schedule(nowMs + ONE_WAY_MS, { kind: 'response', ...served, ok: true });
      }
      if (queueHead > 65_536 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
    }
  }

  const baseRate = CLIENTS * RATE_PER_CLIENT_PER_SECOND;
  const lastWindow = ARRIVALS_END_MS / 1000 - 1;
  const ratio = (second: number) => (created[second]! === 0 ? 1 : succeeded[second]! / created[second]!);
  let recoveredAt: number | undefined;
  for (let second = lastWindow; second >= OUTAGE_END_MS / 1000 && ratio(second) >= 0.95; second--) recoveredAt = second;
  const totalCreated = created.reduce((a, b) => a + b, 0);
  const totalSucceeded = succeeded.reduce((a, b) => a + b, 0);
  return {
    name: strategy.name,
    peakAmplification: Math.max(...backendArrivals) / baseRate,
    recoveryMs: recoveredAt === undefined ? undefined : recoveredAt * 1000 - OUTAGE_END_MS,
    successRatio: totalSucceeded / totalCreated,
    goodputPerSecond: totalSucceeded / (ARRIVALS_END_MS / 1000),
    attemptsPerRequest: attempts / totalCreated,
  };
}

const strategies: Array<[string, (clock: FakeClock) => (random: SeededRandom) => Strategy]> = [
  ['naive', () => naive],
  ['no-jitter', () => backoffNoJitter],
  ['jitter', () => backoffJitter],
  ['keel', (clock) => keelStrategy(clock, SEED)],
];

const started = performance.now();
const results = strategies.map(([, make]) => {
  const clock = new FakeClock(0);
  return simulate(make(clock), clock, SEED);
});
const seconds = (ms: number | undefined) => (ms === undefined ? `not within ${(ARRIVALS_END_MS - OUTAGE_END_MS) / 1000} s` : `${(ms / 1000).toFixed(0)} s`);
console.log(`Retry storm: ${CLIENTS} clients × ${RATE_PER_CLIENT_PER_SECOND} req/s (Poisson), backend capacity ${CAPACITY_PER_SECOND} req/s with a ${QUEUE_MAX}-deep FIFO queue,`);
console.log(`outage (every request answered 503) from ${OUTAGE_START_MS / 1000} s to ${OUTAGE_END_MS / 1000} s, ${ATTEMPT_TIMEOUT_MS} ms attempt timeout, ${DEADLINE_MS / 1000} s request deadline, ${ONE_WAY_MS} ms one way, seed ${SEED}.`);
console.log('');
console.log('| strategy | peak load ÷ base rate | time to recover after the outage | requests served in deadline | goodput (req/s) | attempts per request |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const result of results) {
  console.log(`| ${result.name} | ${result.peakAmplification.toFixed(1)}× | ${seconds(result.recoveryMs)} | ${(result.successRatio * 100).toFixed(1)}% | ${result.goodputPerSecond.toFixed(0)} | ${result.attemptsPerRequest.toFixed(2)} |`);
}
console.log('');
console.log(`(simulated ${END_MS / 1000} s per strategy in ${((performance.now() - started) / 1000).toFixed(1)} s of wall time)`);
