import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantBackoff, EXPONENTIAL_BACKOFF_DEFAULTS, exponentialBackoff, linearBackoff } from '../../src/resilience/backoff.js';
import { seededRandom } from '../../src/resilience/random.js';
import type { Backoff } from '../../src/resilience/backoff.js';

const fixed = (value: number) => ({ next: () => value });

function delays(backoff: Backoff, count: number): number[] {
  const result: number[] = [];
  for (let step = backoff, i = 0; i < count; step = step.next(), i++) result.push(step.delayMs);
  return result;
}

test('constant and linear backoffs', () => {
  assert.deepEqual(delays(constantBackoff(50).start(fixed(0.5)), 3), [50, 50, 50]);
  assert.deepEqual(delays(linearBackoff({ initialDelayMs: 100, incrementMs: 50, maxDelayMs: 220 }).start(fixed(0.5)), 4), [100, 150, 200, 220]);
});

test('exponential without jitter doubles up to the cap', () => {
  const backoff = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' }).start(fixed(0.5));
  assert.deepEqual(delays(backoff, 6), [100, 200, 400, 800, 1000, 1000]);
});

test('full jitter draws uniformly below the capped exponential; equal jitter keeps the lower half', () => {
  assert.deepEqual(delays(exponentialBackoff({ initialDelayMs: 100, jitter: 'full' }).start(fixed(0.5)), 3), [50, 100, 200]);
  assert.deepEqual(delays(exponentialBackoff({ initialDelayMs: 100, jitter: 'equal' }).start(fixed(0)), 3), [50, 100, 200]);
  const random = seededRandom(1);
  const backoff = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 5000, jitter: 'full' }).start(random);
  delays(backoff, 20).forEach((delay, index) => assert.ok(delay >= 0 && delay <= Math.min(5000, 100 * 2 ** index)));
});

test('decorrelated jitter stays within [base, min(cap, 3 × previous)]', () => {
  const backoff = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 10_000, jitter: 'decorrelated' }).start(seededRandom(3));
  let previous = 100;
  for (const delay of delays(backoff, 30)) {
    assert.ok(delay >= 100 && delay <= Math.min(10_000, previous * 3), `${delay} after ${previous}`);
    previous = delay;
  }
  assert.deepEqual(delays(exponentialBackoff({ initialDelayMs: 100, jitter: 'decorrelated' }).start(fixed(1)), 3), [300, 900, 2700]);
});

test('backoffs are immutable: next() returns a new step and leaves the old one', () => {
  const first = exponentialBackoff({ jitter: 'none' }).start(fixed(0));
  const second = first.next();
  assert.equal(first.delayMs, 100);
  assert.equal(first.retry, 1);
  assert.equal(second.delayMs, 200);
  assert.equal(second.retry, 2);
  assert.equal(first.next().delayMs, 200);
});

test('default: 100 ms base, factor 2, 20 s cap, full jitter (AWS SDK standard mode)', () => {
  assert.deepEqual(EXPONENTIAL_BACKOFF_DEFAULTS, { initialDelayMs: 100, factor: 2, maxDelayMs: 20_000, jitter: 'full' });
  assert.deepEqual(delays(exponentialBackoff().start(fixed(0.999999)), 10).map(Math.round), [100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000]);
});

test('invalid options are config errors', () => {
  assert.throws(() => constantBackoff(-1), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => exponentialBackoff({ factor: 0.5 }), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => exponentialBackoff({ maxDelayMs: Infinity }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
