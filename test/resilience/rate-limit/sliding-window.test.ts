import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../../src/resilience/clock.js';
import { SlidingLog, slidingWindow, SlidingWindowCounter } from '../../../src/resilience/rate-limit/sliding-window.js';

test('sliding log: exact count over the last window and the time the oldest grant leaves', () => {
  const clock = new FakeClock(0);
  const limiter = slidingWindow({ limit: 2, windowMs: 1000, clock });
  assert.ok(limiter instanceof SlidingLog);
  limiter.tryAcquire();
  clock.set(400);
  limiter.tryAcquire();
  clock.set(600);
  assert.deepEqual(limiter.tryAcquire(), { allowed: false, retryAfterMs: 400, remaining: 0 });
  clock.set(1000);
  assert.equal(limiter.tryAcquire().allowed, true);
  assert.throws(() => new SlidingLog({ limit: 1e9, windowMs: 1 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('sliding counter: weights the previous window by the part still covered', () => {
  const clock = new FakeClock(0);
  const limiter = slidingWindow({ limit: 10, windowMs: 1000, mode: 'counter', clock });
  assert.ok(limiter instanceof SlidingWindowCounter);
  for (let i = 0; i < 10; i++) assert.ok(limiter.tryAcquire().allowed);
  clock.set(1500); // estimate = 10 × 0.5 = 5
  for (let i = 0; i < 5; i++) assert.ok(limiter.tryAcquire().allowed);
  const refused = limiter.tryAcquire();
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterMs, 100); // at 1600: 10 × 0.4 + 5 = 9
});

/** Reference for the log: every grant kept; count those inside (t − W, t]; step forward to find the wait. */
function referenceLog(grants: number[], now: number, windowMs: number, limit: number, permits: number): { allowed: boolean; retryAfterMs: number } {
  const live = (t: number) => grants.filter((g) => g > t - windowMs).length;
  if (permits > limit) return { allowed: false, retryAfterMs: Infinity };
  if (live(now) + permits <= limit) return { allowed: true, retryAfterMs: 0 };
  let t = now;
  while (live(t) + permits > limit) t++;
  return { allowed: false, retryAfterMs: t - now };
}

test('property: the sliding log matches an exact reference, decisions and waits', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 200 }),
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 100 }), permits: fc.integer({ min: 1, max: 7 }) }), { maxLength: 100 }),
      (limit, windowMs, ops) => {
        const clock = new FakeClock(0);
        const limiter = new SlidingLog({ limit, windowMs, clock });
        const grants: number[] = [];
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          const expected = referenceLog(grants, clock.now(), windowMs, limit, op.permits);
          const actual = limiter.tryAcquire(op.permits);
          assert.deepEqual({ allowed: actual.allowed, retryAfterMs: actual.retryAfterMs }, expected);
          if (actual.allowed) for (let i = 0; i < op.permits; i++) grants.push(clock.now());
        }
      },
    ),
    { numRuns: 300 },
  );
});

/** Reference for the counter: every grant kept with its window number; the same estimate, recomputed from scratch. */
function referenceCounter(grants: Array<{ at: number; permits: number }>, now: number, windowMs: number, limit: number, permits: number): boolean {
  const index = Math.floor(now / windowMs);
  const sum = (window: number) => grants.filter((g) => Math.floor(g.at / windowMs) === window).reduce((total, g) => total + g.permits, 0);
  const elapsed = now - index * windowMs;
  const estimate = (sum(index - 1) * (windowMs - elapsed)) / windowMs + sum(index);
  return permits <= limit && estimate + permits <= limit;
}

test('property: the sliding counter matches its reference, and its wait is the earliest millisecond that passes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 200 }),
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 100 }), permits: fc.integer({ min: 1, max: 9 }) }), { maxLength: 100 }),
      (limit, windowMs, ops) => {
        const clock = new FakeClock(0);
        const limiter = new SlidingWindowCounter({ limit, windowMs, clock });
        const grants: Array<{ at: number; permits: number }> = [];
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          const now = clock.now();
          const actual = limiter.tryAcquire(op.permits);
          assert.equal(actual.allowed, referenceCounter(grants, now, windowMs, limit, op.permits));
          if (actual.allowed) grants.push({ at: now, permits: op.permits });
          else if (Number.isFinite(actual.retryAfterMs)) {
            assert.ok(referenceCounter(grants, now + actual.retryAfterMs, windowMs, limit, op.permits), 'allowed after the wait');
            assert.ok(actual.retryAfterMs === 1 || !referenceCounter(grants, now + actual.retryAfterMs - 1, windowMs, limit, op.permits), 'not allowed a millisecond before');
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
