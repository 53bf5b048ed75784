import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AimdLimit } from '../../../src/resilience/concurrency/aimd.js';

test('adds one per sample while at least half the limit is in use; ×0.9 on a drop or a timeout', () => {
  const limit = new AimdLimit({ initialLimit: 10 });
  limit.update({ rttMs: 5, inflight: 5, dropped: false });
  assert.equal(limit.limit, 11);
  limit.update({ rttMs: 5, inflight: 2, dropped: false });
  assert.equal(limit.limit, 11);
  limit.update({ rttMs: 5, inflight: 11, dropped: true });
  assert.equal(limit.limit, 9);
  limit.update({ rttMs: 5_000, inflight: 9, dropped: false });
  assert.equal(limit.limit, 8);
});

test('defaults: start 20, bounds 1..200, backoff 0.9, 5 s timeout (Netflix AIMDLimit)', () => {
  const limit = new AimdLimit();
  assert.equal(limit.limit, 20);
  for (let i = 0; i < 100; i++) limit.update({ rttMs: 1, inflight: 1, dropped: true });
  assert.equal(limit.limit, 1);
});
