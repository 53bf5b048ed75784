import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/resilience/index.js';
import { createBalancer, type PickContext } from '../../src/gateway/balancers/index.js';
import { recordLatency } from '../../src/gateway/balancers/peak-ewma.js';
import { Endpoint } from '../../src/gateway/endpoint.js';

function endpoints(weights: number[]): Endpoint[] {
  return weights.map((weight, index) => new Endpoint({ address: `10.0.0.${index}:80`, zone: '', weight, priority: 0, drain: false }, 0));
}

function context(seed: number, hashKey?: string): PickContext {
  return { nowMs: 0, random: seededRandom(seed), hashKey, weightOf: (e) => e.weight };
}

test('smooth weighted round robin: 5,1,1 gives a a b a c a a', () => {
  const list = endpoints([5, 1, 1]);
  const balancer = createBalancer('round-robin');
  const names = Array.from({ length: 7 }, () => list.indexOf(balancer.pick(list, context(1))));
  assert.deepEqual(names, [0, 0, 1, 0, 2, 0, 0]);
});

test('random and least-request follow weights; least-request avoids the busy endpoint', () => {
  const list = endpoints([3, 1]);
  const ctx = context(7);
  for (const name of ['random', 'least-request'] as const) {
    const balancer = createBalancer(name);
    const counts = [0, 0];
    for (let i = 0; i < 4_000; i++) counts[list.indexOf(balancer.pick(list, ctx))]!++;
    assert.ok(counts[0]! > counts[1]!, `${name}: ${counts.join(',')}`);
  }
  const pair = endpoints([1, 1]);
  pair[0]!.inflight = 50;
  const balancer = createBalancer('least-request');
  let busy = 0;
  for (let i = 0; i < 1_000; i++) if (balancer.pick(pair, ctx) === pair[0]) busy++;
  assert.ok(busy < 300, `busy picked ${busy} times`);
});

test('ring hash and maglev: the same key maps to the same endpoint; removing one moves only its keys', () => {
  for (const name of ['ring-hash', 'maglev'] as const) {
    const list = endpoints([1, 1, 1, 1]);
    const balancer = createBalancer(name);
    const before = new Map<string, Endpoint>();
    for (let i = 0; i < 500; i++) before.set(`user-${i}`, balancer.pick(list, context(1, `user-${i}`)));
    for (const [key, endpoint] of before) assert.equal(balancer.pick(list, context(2, key)), endpoint);
    const smaller = list.slice(0, 3);
    let moved = 0;
    for (const [key, endpoint] of before) {
      const now = balancer.pick(smaller, context(3, key));
      if (endpoint !== list[3] && now !== endpoint) moved++;
    }
    assert.ok(moved < 50, `${name}: ${moved} keys of surviving endpoints moved`);
    const spread = new Set(before.values());
    assert.equal(spread.size, 4, `${name} uses every endpoint`);
  }
});

test('peak EWMA jumps to slow samples, decays towards fast ones, and steers away from the slow endpoint', () => {
  const [fast, slow] = endpoints([1, 1]) as [Endpoint, Endpoint];
  recordLatency(fast, 5, 1);
  recordLatency(slow, 5, 1);
  recordLatency(slow, 200, 2);
  assert.equal(slow.ewmaMs, 200);
  recordLatency(slow, 5, 10_002);
  assert.ok(slow.ewmaMs < 200 && slow.ewmaMs > 5);
  const balancer = createBalancer('peak-ewma');
  let slowPicks = 0;
  for (let i = 0; i < 1_000; i++) if (balancer.pick([fast, slow], context(i)) === slow) slowPicks++;
  assert.ok(slowPicks < 300, `slow picked ${slowPicks}`);
});

test('slow start ramps the weight from the minimum to full', () => {
  const [endpoint] = endpoints([10]) as [Endpoint];
  endpoint.eligibleSinceMs = 1_000;
  assert.equal(endpoint.effectiveWeight(1_000, 10_000, 10), 1);
  assert.equal(endpoint.effectiveWeight(6_000, 10_000, 10), 5);
  assert.equal(endpoint.effectiveWeight(11_000, 10_000, 10), 10);
  assert.equal(endpoint.effectiveWeight(1_000, 0, 10), 10);
  endpoint.ejectedUntilMs = 20_000;
  assert.equal(endpoint.effectiveWeight(25_000, 10_000, 10), 5, 'counts from the end of an ejection');
});

test('property: over one cycle of total weight, smooth WRR picks each endpoint exactly its weight', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }), (weights) => {
    const list = endpoints(weights);
    const balancer = createBalancer('round-robin');
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const counts = new Map<Endpoint, number>();
    for (let pick = 0; pick < total; pick++) {
      const chosen = balancer.pick(list, context(1));
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    return list.every((endpoint) => counts.get(endpoint) === endpoint.weight);
  }), { seed: 6, numRuns: 200 });
});
