import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/resilience/clock.js';
import { KeyedRateLimiter } from '../../../src/resilience/rate-limit/keyed.js';
import { rateLimit, rateLimitHeaders } from '../../../src/resilience/rate-limit/policy.js';
import { TokenBucket } from '../../../src/resilience/rate-limit/token-bucket.js';

test('refuses with RateLimitedError carrying the wait; counts stats', async () => {
  const clock = new FakeClock(0);
  const policy = rateLimit(new TokenBucket({ capacity: 1, refillIntervalMs: 250, clock }));
  assert.equal(await policy.execute(() => 'ok'), 'ok');
  await assert.rejects(policy.execute(() => 'no'), (error: { code: string; retryAfterMs: number }) => error.code === 'KEEL_RES_RATE_LIMITED' && error.retryAfterMs === 250);
  assert.deepEqual(policy.stats(), { allowed: 1, rejected: 1, exempt: 0 });
});

test('keyed by context.key; exemptions by criticality', async () => {
  const clock = new FakeClock(0);
  const keyed = new KeyedRateLimiter(() => new TokenBucket({ capacity: 1, refillIntervalMs: 1000, clock }));
  const policy = rateLimit(keyed, { exempt: (context) => context.criticality === 'CRITICAL_PLUS' });
  await policy.execute(() => 1, { key: 'a' });
  await assert.rejects(policy.execute(() => 1, { key: 'a' }), { code: 'KEEL_RES_RATE_LIMITED', key: 'a' });
  assert.equal(await policy.execute(() => 2, { key: 'b' }), 2);
  assert.equal(await policy.execute(() => 3, { key: 'a', criticality: 'CRITICAL_PLUS' }), 3);
});

test('response headers: Retry-After in whole seconds, IETF RateLimit field', () => {
  assert.deepEqual(rateLimitHeaders({ allowed: false, retryAfterMs: 1200, remaining: 0 }), { ratelimit: '"default";r=0;t=2', 'retry-after': '2' });
  assert.deepEqual(rateLimitHeaders({ allowed: true, retryAfterMs: 0, remaining: 4 }, 'api'), { ratelimit: '"api";r=4;t=0' });
  assert.deepEqual(rateLimitHeaders({ allowed: false, retryAfterMs: Infinity, remaining: 0 }), { ratelimit: '"default";r=0' });
});
