import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeoutPolicy, timeout } from '../../src/resilience/timeout.js';
import { capture, newClock, untilAborted } from './helpers.js';

test('cooperative: aborts the signal at the limit and rejects with KEEL_RES_TIMEOUT once the function stops', async () => {
  const clock = newClock();
  const policy = timeout(100, { clock });
  let seen: AbortSignal | undefined;
  const call = capture(policy.execute((context) => {
    seen = context.signal;
    return untilAborted(context.signal);
  }));
  await clock.advance(99);
  assert.equal(call.done(), false);
  await clock.advance(1);
  assert.equal(seen?.aborted, true);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_TIMEOUT');
  assert.equal(policy.stats().timeouts, 1);
});

test('cooperative: a function that ignores the signal is awaited, and its late result is returned', async () => {
  const clock = newClock();
  const policy = timeout(100, { clock });
  const call = capture(policy.execute(() => new Promise<string>((resolve) => clock.setTimeout(() => resolve('late'), 300))));
  await clock.advance(200);
  assert.equal(call.done(), false);
  await clock.advance(100);
  assert.equal(call.value(), 'late');
});

test('aggressive: rejects at the limit without waiting for the function', async () => {
  const clock = newClock();
  const policy = timeout(100, { clock, mode: 'aggressive' });
  const call = capture(policy.execute(() => new Promise<string>((resolve) => clock.setTimeout(() => resolve('late'), 300))));
  await clock.advance(100);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_TIMEOUT');
});

test('the deadline wins when it is sooner, and the narrowed deadline is passed inward', async () => {
  const clock = newClock();
  const policy = timeout(1000, { clock });
  const deadlineMs = clock.now() + 300;
  let inner: number | undefined;
  const call = capture(policy.execute((context) => {
    inner = context.deadlineMs;
    return untilAborted(context.signal);
  }, { deadlineMs }));
  await clock.advance(300);
  assert.equal(inner, deadlineMs);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_DEADLINE_EXCEEDED');

  let narrowed: number | undefined;
  await policy.execute((context) => {
    narrowed = context.deadlineMs;
  }, { deadlineMs: clock.now() + 5000 });
  assert.equal(narrowed, clock.now() + 1000);
});

test('work whose deadline has passed is refused without calling the function', async () => {
  const clock = newClock();
  const policy = timeout(1000, { clock });
  let called = false;
  await assert.rejects(policy.execute(() => { called = true; }, { deadlineMs: clock.now() }), { code: 'KEEL_RES_DEADLINE_EXCEEDED' });
  assert.equal(called, false);
  assert.equal(policy.stats().refused, 1);
});

test('the caller abort passes through untouched; a fast call clears its timer', async () => {
  const clock = newClock();
  const policy = timeout(100, { clock });
  const controller = new AbortController();
  const call = capture(policy.execute((context) => untilAborted(context.signal), { signal: controller.signal }));
  controller.abort();
  await clock.advance(0);
  assert.equal((call.error() as Error).name, 'AbortError');
  assert.equal(await policy.execute(async () => 'fast'), 'fast');
  assert.equal(clock.pendingTimers, 0);
});

test('defaults: cooperative mode (cockatiel\'s default); invalid limits are config errors', () => {
  assert.equal(new TimeoutPolicy({ timeoutMs: 5 }).mode, 'cooperative');
  assert.throws(() => timeout(-1), { code: 'KEEL_RES_CONFIG_INVALID' });
});
