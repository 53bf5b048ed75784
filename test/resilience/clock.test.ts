import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, systemClock } from '../../src/resilience/clock.js';

test('FakeClock fires timers in due order, ties in creation order, and only when advanced past them', async () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 20);
  clock.setTimeout(() => fired.push('a'), 10);
  clock.setTimeout(() => fired.push('c'), 20);
  await clock.advance(15);
  assert.deepEqual(fired, ['a']);
  assert.equal(clock.now(), 15);
  await clock.advance(5);
  assert.deepEqual(fired, ['a', 'b', 'c']);
  assert.equal(clock.pendingTimers, 0);
});

test('FakeClock clearTimeout cancels, and a timer set from a callback fires within the same advance', async () => {
  const clock = new FakeClock(0);
  const fired: number[] = [];
  const handle = clock.setTimeout(() => fired.push(1), 10);
  clock.clearTimeout(handle);
  clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 5), 10);
  await clock.advance(100);
  assert.deepEqual(fired, [15]);
});

test('FakeClock lets promise continuations run between timers', async () => {
  const clock = new FakeClock(0);
  const order: string[] = [];
  const wait = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  void (async () => {
    await wait(10);
    order.push('first');
    await wait(10);
    order.push('second');
  })();
  await clock.advance(20);
  assert.deepEqual(order, ['first', 'second']);
});

test('FakeClock refuses negative advances and going backwards', async () => {
  const clock = new FakeClock(100);
  await assert.rejects(clock.advance(-1), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => clock.set(50), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('systemClock reads epoch milliseconds and does not go backwards', () => {
  const a = systemClock.now();
  const b = systemClock.now();
  assert.ok(b >= a);
  assert.ok(Math.abs(a - Date.now()) < 60_000);
});
