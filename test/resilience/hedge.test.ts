import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RatioRetryBudget } from '../../src/resilience/budget.js';
import { HEDGE_DEFAULTS, HedgePolicy, percentileOf } from '../../src/resilience/hedge.js';
import { capture, newClock, untilAborted } from './helpers.js';
import type { FakeClock } from '../../src/resilience/clock.js';
import type { PolicyContext } from '../../src/resilience/policy.js';

function unlimited(clock: FakeClock) {
  return new RatioRetryBudget({ clock, ratio: 1, minRetriesPerSecond: 100 });
}

test('sends a hedge after the delay; the first answer wins and the loser is aborted', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: 50, budget: unlimited(clock) });
  const signals: AbortSignal[] = [];
  const call = capture(hedge.execute((context: PolicyContext) => {
    signals.push(context.signal);
    if (context.attempt === 1) return untilAborted(context.signal);
    return new Promise<string>((resolve) => clock.setTimeout(() => resolve('hedge'), 10));
  }));
  await clock.advance(49);
  assert.equal(signals.length, 1);
  await clock.advance(11);
  assert.equal(call.value(), 'hedge');
  assert.equal(signals[0]!.aborted, true);
  assert.equal(signals[0]!.reason.code, 'KEEL_RES_ABORTED');
  assert.deepEqual({ ...hedge.stats(), delayMs: 0 }, { calls: 1, hedges: 1, hedgeWins: 1, budgetExhausted: 0, delayMs: 0 });
});

test('no hedge when the first attempt answers in time', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: 50, budget: unlimited(clock) });
  let calls = 0;
  assert.equal(await hedge.execute(() => { calls++; return 'fast'; }), 'fast');
  await clock.advance(100);
  assert.equal(calls, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('a failed attempt triggers the next hedge at once; all failing rejects with the last error', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: 1000, maxAttempts: 3, budget: unlimited(clock) });
  const attempts: number[] = [];
  const call = capture(hedge.execute(async (context: PolicyContext) => {
    attempts.push(context.attempt);
    throw new Error(`fail ${context.attempt}`);
  }));
  await clock.advance(0);
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.equal((call.error() as Error).message, 'fail 3');
});

test('the hedge budget bounds hedging', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: 10, budget: new RatioRetryBudget({ clock, ratio: 0, minRetriesPerSecond: 0.1 }) });
  const slow = (context: PolicyContext) => new Promise<number>((resolve) => clock.setTimeout(() => resolve(context.attempt), context.attempt === 1 ? 100 : 20));
  const first = capture(hedge.execute(slow));
  const second = capture(hedge.execute(slow));
  await clock.advance(200);
  assert.equal(first.value(), 2);
  assert.equal(second.value(), 1);
  assert.equal(hedge.stats().budgetExhausted, 1);
});

test('percentile delay: the initial delay until enough samples, then the configured percentile', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: { percentile: 0.9, minSamples: 10, initialDelayMs: 77 }, sampleSize: 16, budget: unlimited(clock) });
  assert.equal(hedge.delayMs, 77);
  for (let i = 1; i <= 16; i++) hedge.recordLatency(i * 10);
  assert.equal(hedge.delayMs, 150);
  assert.equal(percentileOf([5, 1, 3, 2, 4], 0.5), 3);
});

test('the winner\'s signal stays unaborted (its caller may still be reading under it); only attempts still running are aborted', async () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: 10, maxAttempts: 3, budget: unlimited(clock) });
  const signals: AbortSignal[] = [];
  const call = capture(hedge.execute((context: PolicyContext) => {
    signals.push(context.signal);
    if (context.attempt === 2) return Promise.reject(new Error('refused'));
    if (context.attempt === 3) return new Promise<number>((resolve) => clock.setTimeout(() => resolve(3), 5));
    return untilAborted(context.signal);
  }));
  await clock.advance(10);
  await clock.advance(5);
  assert.equal(call.value(), 3);
  assert.deepEqual(signals.map((signal) => signal.aborted), [true, false, false]);
});

test('percentile delay: minDelayMs is a floor under both the initial delay and the percentile', () => {
  const clock = newClock();
  const hedge = new HedgePolicy({ clock, delay: { percentile: 0.5, minSamples: 4, initialDelayMs: 3, minDelayMs: 20 }, sampleSize: 16, budget: unlimited(clock) });
  assert.equal(hedge.delayMs, 20);
  for (let i = 1; i <= 16; i++) hedge.recordLatency(i);
  assert.equal(hedge.delayMs, 20);
  for (let i = 1; i <= 16; i++) hedge.recordLatency(100 + i);
  assert.equal(hedge.delayMs, 108);
  assert.throws(() => new HedgePolicy({ delay: { percentile: 0.5, minDelayMs: -1 } }), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('defaults: p95 after 20 samples, 100 ms before, one hedge, a 10% budget', () => {
  assert.deepEqual(HEDGE_DEFAULTS, { percentile: 0.95, minSamples: 20, initialDelayMs: 100, maxAttempts: 2, sampleSize: 1_000 });
  const hedge = new HedgePolicy({ clock: newClock() });
  assert.equal(hedge.delayMs, 100);
  assert.equal(hedge.maxAttempts, 2);
  assert.throws(() => new HedgePolicy({ maxAttempts: 11 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
