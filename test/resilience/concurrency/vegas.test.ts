import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VegasLimit } from '../../../src/resilience/concurrency/vegas.js';

test('grows fast while no queue builds, shrinks once the queue estimate passes beta', () => {
  const limit = new VegasLimit({ initialLimit: 10 });
  limit.update({ rttMs: 10, inflight: 10, dropped: false });
  assert.equal(limit.limit, 16); // +6·log10(10)
  for (let i = 0; i < 5; i++) limit.update({ rttMs: 10, inflight: Math.ceil(limit.limit), dropped: false });
  const grown = limit.limit;
  limit.update({ rttMs: 100, inflight: Math.ceil(grown), dropped: false }); // queue ≈ 0.9 × limit
  assert.ok(limit.limit < grown);
});

test('a drop shrinks by log10(limit); app-limited samples change nothing', () => {
  const limit = new VegasLimit({ initialLimit: 100 });
  limit.update({ rttMs: 10, inflight: 10, dropped: false });
  assert.equal(limit.limit, 100);
  limit.update({ rttMs: 10, inflight: 100, dropped: true });
  assert.equal(limit.limit, 98);
});

test('defaults: start 20, bounds 1..1000, no smoothing (Netflix VegasLimit)', () => {
  const limit = new VegasLimit();
  assert.equal(limit.limit, 20);
  for (let i = 0; i < 500; i++) limit.update({ rttMs: 10, inflight: 10_000, dropped: false });
  assert.equal(limit.limit, 1000);
});
