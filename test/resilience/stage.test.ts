import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantBackoff } from '../../src/resilience/backoff.js';
import { bulkhead } from '../../src/resilience/bulkhead.js';
import { circuitBreaker, consecutiveFailures, timeWindow } from '../../src/resilience/breaker.js';
import { type PolicyContext, wrap } from '../../src/resilience/policy.js';
import { retry } from '../../src/resilience/retry.js';
import { timeout } from '../../src/resilience/timeout.js';
import { capture, networkError, newClock, untilAborted } from './helpers.js';
import type { FakeClock } from '../../src/resilience/clock.js';

function stack(clock: FakeClock, maxConcurrent = 10) {
  const policies = {
    retry: retry({ maxAttempts: 3, clock, backoff: constantBackoff(10) }),
    breaker: circuitBreaker({ strategy: consecutiveFailures(5), clock }),
    bulkhead: bulkhead({ maxConcurrent, queueSize: 5, clock }),
    timeout: timeout(100, { clock }),
  };
  return { ...policies, stack: wrap(policies.retry, policies.breaker, policies.bulkhead, policies.timeout) };
}

test('fused stack: a plain success counts once in every policy and settles with the value (sync or async function)', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock);
  assert.equal(await policy.execute(async () => 'async'), 'async');
  assert.equal(await policy.execute(() => 'sync'), 'sync');
  await assert.rejects(policy.execute(() => {
    throw Object.assign(new Error('bad request'), { status: 400 });
  }), /bad request/);
  assert.equal(each.retry.stats().calls, 3);
  assert.equal(each.retry.stats().successes, 2);
  assert.equal(each.retry.stats().stops['not-retryable'], 1);
  assert.equal(each.breaker.stats().calls, 3);
  assert.equal(each.breaker.stats().failures, 0); // a 4xx is the caller's fault
  assert.deepEqual([each.bulkhead.stats().admitted, each.bulkhead.stats().executing], [3, 0]);
  assert.equal(each.timeout.stats().calls, 3);
  assert.equal(clock.pendingTimers, 0);
});

test('fused stack: the timeout fires at its limit with a lazily built signal, and every policy is released', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock);
  let inner: PolicyContext | undefined;
  const call = capture(policy.execute((context) => {
    inner = context;
    return new Promise<never>(() => {}); // never settles on its own...
  }));
  await clock.advance(99);
  assert.equal(call.done(), false);
  await clock.advance(1);
  // ...and the timeout is cooperative, so the call waits; the signal, read late, is already aborted with our error.
  assert.equal(call.done(), false);
  assert.equal(inner?.signal.aborted, true);
  assert.equal((inner?.signal.reason as { code: string }).code, 'KEEL_RES_TIMEOUT');
  assert.equal(each.timeout.stats().timeouts, 1);
  assert.equal(each.bulkhead.stats().executing, 1);
});

test('fused stack: a function that stops on the signal gets the timeout error; each timed-out attempt is retried', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock);
  const call = capture(policy.execute((context) => untilAborted(context.signal)));
  for (let step = 0; step < 5 && !call.done(); step++) await clock.advance(110);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_TIMEOUT');
  assert.equal(each.timeout.stats().timeouts, 3); // the dependency was too slow: worth another attempt
  assert.equal(each.retry.stats().stops['attempts-exhausted'], 1);
  assert.equal(each.bulkhead.stats().executing, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('fused stack: a transient failure is retried through the inner policies again', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock);
  let attempts = 0;
  const seen: number[] = [];
  const call = capture(policy.execute((context) => {
    seen.push(context.attempt);
    if (++attempts < 3) throw networkError('ECONNRESET');
    return 'third time';
  }));
  await clock.advance(10);
  await clock.advance(10);
  assert.equal(call.value(), 'third time');
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(each.retry.stats().attempts, 3);
  assert.equal(each.retry.stats().retries, 2);
  assert.equal(each.breaker.stats().calls, 3);
  assert.equal(each.breaker.stats().failures, 2);
  assert.equal(each.bulkhead.stats().admitted, 3);
  assert.equal(each.timeout.stats().calls, 3);
});

test('a full bulkhead sends the call down the general path, which queues it; then the fast path resumes', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock, 1);
  let release: (value: string) => void = () => {};
  const first = capture(policy.execute(() => new Promise<string>((resolve) => (release = resolve))));
  const second = capture(policy.execute(async () => 'second'));
  await clock.advance(0);
  assert.deepEqual([each.bulkhead.stats().executing, each.bulkhead.stats().queued], [1, 1]);
  release('first');
  await clock.advance(0);
  assert.deepEqual([first.value(), second.value()], ['first', 'second']);
  assert.equal(await policy.execute(async () => 'third'), 'third');
  assert.deepEqual([each.bulkhead.stats().admitted, each.bulkhead.stats().executing, each.bulkhead.stats().queued], [3, 0, 0]);
});

test('a call already past its deadline is refused by the timeout inside a fused stack, and the outer policies see the refusal', async () => {
  const clock = newClock();
  const { stack: policy, ...each } = stack(clock);
  let called = false;
  const call = policy.execute(() => {
    called = true;
  }, { deadlineMs: clock.now() - 1 });
  await assert.rejects(call, (error: { code: string }) => error.code === 'KEEL_RES_DEADLINE_EXCEEDED');
  assert.equal(called, false);
  assert.equal(each.timeout.stats().refused, 1);
  assert.equal(each.retry.stats().stops['not-retryable'], 1);
  assert.equal(each.breaker.stats().failures, 0);
  assert.equal(each.bulkhead.stats().executing, 0);
});

test('the caller\'s abort reaches a lazily built signal, before or after it is first read', async () => {
  const clock = newClock();
  const policy = timeout(1_000, { clock });
  const early = new AbortController();
  const late = new AbortController();
  let earlyContext: PolicyContext | undefined;
  const first = capture(policy.execute(async (context) => {
    earlyContext = context;
    await clock.advance(0);
    return 'done';
  }, { signal: early.signal }));
  early.abort(new Error('caller gave up'));
  const second = capture(policy.execute((context) => untilAborted(context.signal), { signal: late.signal }));
  late.abort(new Error('caller gave up too'));
  await clock.advance(1);
  assert.equal(earlyContext?.signal.aborted, true);
  assert.equal((earlyContext?.signal.reason as Error).message, 'caller gave up');
  assert.equal(first.value(), 'done');
  assert.equal(second.done(), true);
  assert.equal(clock.pendingTimers, 0);
});

test('a spread copy of a timeout\'s context keeps its signal when handed to another policy', async () => {
  const clock = newClock();
  const outer = timeout(100, { clock });
  const inner = bulkhead({ clock });
  let innerSignal: AbortSignal | undefined;
  const call = capture(outer.execute((context) => inner.execute((innermost) => {
    innerSignal = innermost.signal;
    return untilAborted(innermost.signal);
  }, { ...context, key: 'copied' })));
  await clock.advance(100);
  assert.equal(innerSignal?.aborted, true);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_TIMEOUT');
});

test('a breaker whose strategy ignores time reads no clock for closed calls; a time-window breaker does', () => {
  const clock = newClock();
  const untimed = circuitBreaker({ strategy: consecutiveFailures(3), clock });
  const timed = circuitBreaker({ strategy: timeWindow(), clock });
  assert.ok(Number.isNaN(untimed.tryAcquire()?.startedMs));
  assert.equal(timed.tryAcquire()?.startedMs, clock.now());
  untimed.events.on('success', () => {});
  assert.equal(untimed.tryAcquire()?.startedMs, clock.now()); // a listener wants durations
});

test('consecutive failures still open an untimed breaker at the right time and report how long it stays open', async () => {
  const clock = newClock();
  const breaker = circuitBreaker({ strategy: consecutiveFailures(2), openDurationMs: 1_000, clock });
  for (let index = 0; index < 2; index++) await assert.rejects(breaker.execute(() => Promise.reject(networkError('ECONNRESET'))));
  await clock.advance(400);
  await assert.rejects(breaker.execute(async () => 'refused'), (error: { code: string; retryAfterMs?: number }) => error.code === 'KEEL_RES_CIRCUIT_OPEN' && error.retryAfterMs === 600);
});
