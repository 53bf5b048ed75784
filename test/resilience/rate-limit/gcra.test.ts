import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../../src/resilience/clock.js';
import { Gcra, gcra } from '../../../src/resilience/rate-limit/gcra.js';

test('a burst from rest, then one permit per emission interval', () => {
  const clock = new FakeClock(0);
  const limiter = new Gcra({ emissionIntervalMs: 100, burst: 3, clock });
  assert.equal(limiter.tryAcquire().remaining, 2);
  assert.equal(limiter.tryAcquire().allowed, true);
  assert.equal(limiter.tryAcquire().allowed, true);
  assert.deepEqual(limiter.tryAcquire(), { allowed: false, retryAfterMs: 100, remaining: 0 });
  clock.set(100);
  assert.equal(limiter.tryAcquire().allowed, true);
  assert.equal(limiter.tryAcquire(4).retryAfterMs, Infinity);
  assert.equal(gcra({ ratePerSecond: 50, clock }).emissionIntervalMs, 20);
});

test('idle once the theoretical arrival time has passed', () => {
  const clock = new FakeClock(0);
  const limiter = gcra({ emissionIntervalMs: 10, burst: 2, clock });
  assert.ok(limiter.isIdle());
  limiter.tryAcquire(2);
  assert.equal(limiter.isIdle(), false);
  clock.set(20);
  assert.ok(limiter.isIdle());
});

/** Reference: the continuous-state leaky bucket (ITU-T I.371's other, equivalent, formulation). */
class LeakyBucket {
  level = 0;
  lastMs = 0;
  constructor(readonly interval: number, readonly burst: number) {}
  acquire(now: number, permits: number): { allowed: boolean; retryAfterMs: number } {
    const drained = Math.max(0, this.level - (now - this.lastMs));
    const limit = this.burst * this.interval;
    if (permits > this.burst) return { allowed: false, retryAfterMs: Infinity };
    if (drained + permits * this.interval > limit) return { allowed: false, retryAfterMs: drained + permits * this.interval - limit };
    this.level = drained + permits * this.interval;
    this.lastMs = now;
    return { allowed: true, retryAfterMs: 0 };
  }
}

test('property: matches the leaky-bucket formulation exactly, and the reported wait is the earliest', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 150 }), permits: fc.integer({ min: 1, max: 7 }) }), { maxLength: 120 }),
      (interval, burst, ops) => {
        const clock = new FakeClock(0);
        const limiter = new Gcra({ emissionIntervalMs: interval, burst, clock });
        const reference = new LeakyBucket(interval, burst);
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          const actual = limiter.tryAcquire(op.permits);
          const expected = reference.acquire(clock.now(), op.permits);
          assert.deepEqual({ allowed: actual.allowed, retryAfterMs: actual.retryAfterMs }, expected);
          if (!actual.allowed && Number.isFinite(actual.retryAfterMs)) {
            const probe = Object.assign(new LeakyBucket(interval, burst), { level: reference.level, lastMs: reference.lastMs });
            assert.equal(probe.acquire(clock.now() + actual.retryAfterMs, op.permits).allowed, true);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
