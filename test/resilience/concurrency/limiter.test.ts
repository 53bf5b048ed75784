import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveConcurrencyPolicy } from '../../../src/resilience/concurrency/limiter.js';
import { AimdLimit } from '../../../src/resilience/concurrency/aimd.js';
import { criticalityPartitions } from '../../../src/resilience/concurrency/partitioned.js';
import { FakeClock } from '../../../src/resilience/clock.js';
import { TimeoutError } from '../../../src/resilience/errors.js';

const fixed = (value: number) => ({ limit: value, update: () => value });

test('refuses past the limit with KEEL_RES_CONCURRENCY_LIMITED', async () => {
  const limiter = new AdaptiveConcurrencyPolicy({ limit: fixed(2), clock: new FakeClock(0) });
  const a = limiter.tryAcquire('CRITICAL');
  const b = limiter.tryAcquire('CRITICAL');
  assert.ok(a && b);
  await assert.rejects(limiter.execute(() => 'x'), { code: 'KEEL_RES_CONCURRENCY_LIMITED' });
  limiter.release(a, false);
  assert.equal(await limiter.execute(() => 'y'), 'y');
  assert.equal(limiter.stats().rejected, 1);
});

test('feeds RTTs and drops to the algorithm', async () => {
  const clock = new FakeClock(0);
  const limiter = new AdaptiveConcurrencyPolicy({ limit: new AimdLimit({ initialLimit: 10 }), clock });
  await limiter.execute(async () => { throw new TimeoutError(1); }).catch(() => {});
  assert.equal(limiter.limit, 9);
});

test('partitions: 90% for critical, 10% for sheddable; idle room is lent, reserved room is not taken', () => {
  const limiter = new AdaptiveConcurrencyPolicy({ limit: fixed(10), partitions: criticalityPartitions(), clock: new FakeClock(0) });
  // sheddable may borrow while the total is under the limit
  for (let i = 0; i < 10; i++) assert.ok(limiter.tryAcquire('SHEDDABLE'), `sheddable ${i}`);
  assert.equal(limiter.tryAcquire('SHEDDABLE'), undefined);
  // critical keeps its guaranteed 9 even above the total
  for (let i = 0; i < 9; i++) assert.ok(limiter.tryAcquire('CRITICAL'), `critical ${i}`);
  assert.equal(limiter.tryAcquire('CRITICAL_PLUS'), undefined);
  assert.deepEqual(limiter.stats().partitions, { critical: { inflight: 9, limit: 9 }, sheddable: { inflight: 10, limit: 1 } });
});

test('partitions must cover every level once, with shares summing to at most 1', () => {
  assert.throws(() => new AdaptiveConcurrencyPolicy({ partitions: [{ name: 'x', share: 1, criticalities: ['CRITICAL'] }] }), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => criticalityPartitions(1), { code: 'KEEL_RES_CONFIG_INVALID' });
});
