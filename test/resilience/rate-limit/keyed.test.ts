import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/resilience/clock.js';
import { KEYED_DEFAULTS, KeyedRateLimiter } from '../../../src/resilience/rate-limit/keyed.js';
import { TokenBucket } from '../../../src/resilience/rate-limit/token-bucket.js';

test('one limiter per key', () => {
  const clock = new FakeClock(0);
  const keyed = new KeyedRateLimiter(() => new TokenBucket({ capacity: 1, refillIntervalMs: 1000, clock }));
  assert.ok(keyed.tryAcquire('alice').allowed);
  assert.equal(keyed.tryAcquire('alice').allowed, false);
  assert.ok(keyed.tryAcquire('bob').allowed);
  assert.equal(keyed.size, 2);
});

test('memory stays bounded under a flood of keys; idle limiters are evicted before busy ones', () => {
  const clock = new FakeClock(0);
  const keyed = new KeyedRateLimiter(() => new TokenBucket({ capacity: 1, refillIntervalMs: 1000, clock }), { maxKeys: 3 });
  keyed.tryAcquire('busy-1');
  keyed.tryAcquire('busy-2');
  for (let i = 0; i < 1000; i++) keyed.tryAcquire(`flood-${i}`);
  assert.equal(keyed.size, 3);
  assert.ok(keyed.evictions >= 997);
  clock.set(1000); // every bucket has refilled: all idle
  keyed.tryAcquire('recent');
  assert.equal(keyed.tryAcquire('recent').allowed, false);
  keyed.tryAcquire('another');
  assert.equal(keyed.tryAcquire('recent').allowed, false, 'the busy key survived while an idle one was dropped');
});

test('default: 10,000 keys', () => {
  assert.equal(KEYED_DEFAULTS.maxKeys, 10_000);
});

test('refund reaches the key\'s limiter; an unknown key is a no-op', () => {
  const clock = new FakeClock(0);
  const keyed = new KeyedRateLimiter(() => new TokenBucket({ capacity: 1, refillIntervalMs: 1000, clock }), { maxKeys: 3 });
  keyed.tryAcquire('a');
  assert.equal(keyed.tryAcquire('a').allowed, false);
  keyed.refund('a');
  assert.equal(keyed.tryAcquire('a').allowed, true);
  keyed.refund('never-seen');
  assert.equal(keyed.size, 1);
});
