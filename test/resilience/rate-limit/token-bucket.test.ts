import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../../src/resilience/clock.js';
import { TokenBucket, tokenBucket } from '../../../src/resilience/rate-limit/token-bucket.js';

test('starts full, spends tokens, refills on interval boundaries, reports the exact wait', () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket({ capacity: 2, refillIntervalMs: 100, clock });
  assert.deepEqual(bucket.tryAcquire(), { allowed: true, retryAfterMs: 0, remaining: 1 });
  assert.equal(bucket.tryAcquire().allowed, true);
  clock.set(30);
  assert.deepEqual(bucket.tryAcquire(), { allowed: false, retryAfterMs: 70, remaining: 0 });
  clock.set(100);
  assert.equal(bucket.tryAcquire().allowed, true);
  assert.equal(bucket.tryAcquire(3).retryAfterMs, Infinity);
});

test('ratePerSecond shorthand and idle detection', () => {
  const clock = new FakeClock(0);
  const bucket = tokenBucket({ capacity: 5, ratePerSecond: 10, clock });
  assert.equal(bucket.refillIntervalMs, 100);
  assert.ok(bucket.isIdle());
  bucket.tryAcquire();
  assert.equal(bucket.isIdle(), false);
  clock.set(100);
  assert.ok(bucket.isIdle());
  assert.throws(() => new TokenBucket({ capacity: 0, refillIntervalMs: 1 }), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => bucket.tryAcquire(0), { code: 'KEEL_RES_CONFIG_INVALID' });
});

/** Reference: step time one millisecond at a time, adding tokens at every interval boundary. */
class ReferenceBucket {
  tokens: number;
  now = 0;
  constructor(readonly capacity: number, readonly refill: number, readonly interval: number) {
    this.tokens = capacity;
  }
  advanceTo(t: number): void {
    while (this.now < t) {
      this.now++;
      if (this.now % this.interval === 0) this.tokens = Math.min(this.capacity, this.tokens + this.refill);
    }
  }
  acquire(permits: number): { allowed: boolean; retryAfterMs: number } {
    if (permits > this.capacity) return { allowed: false, retryAfterMs: Infinity };
    if (this.tokens >= permits) {
      this.tokens -= permits;
      return { allowed: true, retryAfterMs: 0 };
    }
    const probe = new ReferenceBucket(this.capacity, this.refill, this.interval);
    probe.tokens = this.tokens;
    probe.now = this.now;
    while (probe.tokens < permits) probe.advanceTo(probe.now + 1);
    return { allowed: false, retryAfterMs: probe.now - this.now };
  }
}

test('property: matches a millisecond-stepped reference exactly, decisions and waits', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 120 }), permits: fc.integer({ min: 1, max: 9 }) }), { maxLength: 120 }),
      (capacity, refill, interval, ops) => {
        const clock = new FakeClock(0);
        const bucket = new TokenBucket({ capacity, refillTokens: refill, refillIntervalMs: interval, clock });
        const reference = new ReferenceBucket(capacity, refill, interval);
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          reference.advanceTo(clock.now());
          const actual = bucket.tryAcquire(op.permits);
          const expected = reference.acquire(op.permits);
          assert.equal(actual.allowed, expected.allowed);
          assert.equal(actual.retryAfterMs, expected.retryAfterMs);
          assert.equal(actual.remaining, reference.tokens);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('refund gives permits back, never above capacity', () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket({ capacity: 2, refillIntervalMs: 1000, clock });
  bucket.tryAcquire(2);
  assert.equal(bucket.tryAcquire().allowed, false);
  bucket.refund();
  assert.equal(bucket.tokens, 1);
  bucket.refund(5);
  assert.equal(bucket.tokens, 2);
  assert.throws(() => bucket.refund(0), { code: 'KEEL_RES_CONFIG_INVALID' });
});
