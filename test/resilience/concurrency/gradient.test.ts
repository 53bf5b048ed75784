import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GradientLimit } from '../../../src/resilience/concurrency/gradient.js';

test('grows while latency stays flat and the limit is in use', () => {
  const limit = new GradientLimit({ initialLimit: 20, maxLimit: 200 });
  for (let i = 0; i < 200; i++) limit.update({ rttMs: 10, inflight: Math.ceil(limit.limit), dropped: false });
  assert.ok(limit.limit > 100, `limit ${limit.limit}`);
});

test('shrinks when latency rises well above the long-term average', () => {
  const limit = new GradientLimit({ initialLimit: 100, minLimit: 5, maxLimit: 200 });
  for (let i = 0; i < 100; i++) limit.update({ rttMs: 10, inflight: 100, dropped: false });
  const before = limit.limit;
  for (let i = 0; i < 50; i++) limit.update({ rttMs: 100, inflight: 100, dropped: false });
  assert.ok(limit.limit < before / 2, `${before} -> ${limit.limit}`);
  assert.ok(limit.limit >= 5);
});

test('holds the limit while the system is app-limited (under half in flight)', () => {
  const limit = new GradientLimit({ initialLimit: 50 });
  for (let i = 0; i < 20; i++) limit.update({ rttMs: 500, inflight: 3, dropped: false });
  assert.equal(limit.limit, 50);
});

test('defaults: limits 20..200 starting at 20 (Netflix Gradient2)', () => {
  const limit = new GradientLimit();
  assert.equal(limit.limit, 20);
  for (let i = 0; i < 50; i++) limit.update({ rttMs: 1000, inflight: 20, dropped: true });
  assert.equal(limit.limit, 20);
  assert.throws(() => new GradientLimit({ minLimit: 10, maxLimit: 5 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
