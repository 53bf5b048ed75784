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

test('probeMultiplier: after the upstream becomes slower for good, the no-load RTT is re-learned and the limit recovers', () => {
  // A closed system with 40 workers: RTT = service × max(1, inflight / 40).
  const workers = 40;
  const run = (serviceMs: number, limit: VegasLimit) => {
    for (let i = 0; i < 3_000; i++) {
      const inflight = Math.ceil(limit.limit);
      limit.update({ rttMs: serviceMs * Math.max(1, inflight / workers), inflight, dropped: false });
    }
    return limit.limit;
  };
  for (const probeMultiplier of [undefined, 30]) {
    const limit = new VegasLimit({ initialLimit: 50, minLimit: 1, maxLimit: 1000, ...(probeMultiplier === undefined ? {} : { probeMultiplier }) });
    const before = run(10, limit);
    assert.ok(before >= workers, `fast upstream: limit ${before}`);
    const after = run(100, limit); // ten times slower, and no queue
    if (probeMultiplier === undefined) assert.ok(after < workers / 2, `without the probe the slow upstream looks queued: limit ${after}`);
    else assert.ok(after >= workers, `with the probe the limit recovers: ${after}`);
  }
  assert.throws(() => new VegasLimit({ probeMultiplier: 0 }), /probeMultiplier/);
});
