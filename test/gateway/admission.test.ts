import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Criticality, FakeClock, seededRandom } from '../../src/resilience/index.js';
import { Admission, type Release } from '../../src/gateway/admission.js';
import { SojournMonitor } from '../../src/gateway/codel.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { GatewayConfigError, GatewayError } from '../../src/gateway/errors.js';

function admissionWith(options: Record<string, unknown>, clock: FakeClock): Admission {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }],
    clusters: { c: { endpoints: [{ address: 'x:1' }], adaptiveConcurrency: { initialLimit: 4, minLimit: 4, maxLimit: 4, ...options } } },
  });
  return new Admission(config.clusters, clock);
}

const isOverloaded = (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_OVERLOADED';

/** Resolves to the release, or to the time (ms since `from`) at which it was refused. */
function outcome(admitted: Release | Promise<Release>, clock: FakeClock): Promise<Release | number> {
  const from = clock.now();
  return Promise.resolve(admitted).then((release) => release, (error: unknown) => {
    assert.ok(isOverloaded(error), String(error));
    return clock.now() - from;
  });
}

test('SojournMonitor: standing only after a whole interval whose shortest wait exceeds the target', () => {
  const monitor = new SojournMonitor(5, 100, 0);
  monitor.observe(50, 10);
  monitor.observe(3, 60);
  monitor.observe(50, 100);
  assert.equal(monitor.standing, false, 'one wait under the target in the interval: a good queue');
  monitor.observe(40, 150);
  monitor.observe(60, 200);
  assert.equal(monitor.standing, true);
  monitor.observe(0, 250);
  monitor.observe(60, 300);
  assert.equal(monitor.standing, false, 'the queue emptied once in the interval');
});

test('while critical traffic queues, sheddable traffic is refused on arrival and its waiters are shed at once', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 10, queueIntervalMs: 100, criticalShare: 0.5 }, clock);
  const held: Release[] = [];
  // Both partitions at their share (2 of 4 each), so the next request of either has to wait.
  for (let index = 0; index < 2; index++) held.push(admission.admit('c', 'SHEDDABLE') as Release, admission.admit('c', 'CRITICAL') as Release);
  const sheddableWaiter = outcome(admission.admit('c', 'SHEDDABLE'), clock);
  await clock.advance(10);
  const criticalWaiter = outcome(admission.admit('c', 'CRITICAL'), clock);
  assert.equal(await sheddableWaiter, 10, 'the queued sheddable request is refused the moment a critical one has to wait');
  assert.throws(() => admission.admit('c', 'SHEDDABLE_PLUS'), isOverloaded);
  held.pop()!(false);
  const admitted = await criticalWaiter;
  assert.equal(typeof admitted, 'function', 'the freed permit goes to the critical waiter');
  // Permits are free, but for one interval after critical traffic queued, sheddable traffic still gets none.
  held.pop()!(false);
  held.pop()!(false);
  assert.throws(() => admission.admit('c', 'SHEDDABLE'), isOverloaded);
  await clock.advance(100);
  const later = admission.admit('c', 'SHEDDABLE');
  assert.equal(typeof later, 'function', 'once critical traffic has not queued for an interval, sheddable traffic gets what is left');
  (later as Release)(false);
  (admitted as Release)(false);
  for (const release of held) release(false);
  assert.deepEqual((admission.toJSON().c as { inflight: number }).inflight, 0);
});

test('critical traffic queueing does not starve CRITICAL behind CRITICAL_PLUS: both share the critical partition', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 10 }, clock);
  const held: Release[] = [];
  for (let index = 0; index < 4; index++) held.push(admission.admit('c', 'CRITICAL_PLUS') as Release);
  const plus = outcome(admission.admit('c', 'CRITICAL_PLUS'), clock);
  const critical = outcome(admission.admit('c', 'CRITICAL'), clock);
  held.pop()!(false);
  held.pop()!(false);
  assert.equal(typeof (await plus), 'function');
  assert.equal(typeof (await critical), 'function');
  for (const release of [...held, (await plus) as Release, (await critical) as Release]) release(false);
});

test('each level has its own CoDel target: standing critical waiters keep their patience, sheddable ones are shed sooner', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 100, queueTargetDelayMs: 5, queueIntervalMs: 100, criticalShare: 0.5, queueTargetDelayMsByCriticality: { CRITICAL: 40 } }, clock);
  const held: Release[] = [];
  for (let index = 0; index < 2; index++) held.push(admission.admit('c', 'CRITICAL_PLUS') as Release, admission.admit('c', 'SHEDDABLE_PLUS') as Release);
  const waitOnce = async (criticality: Criticality) => {
    const waiting = outcome(admission.admit('c', criticality), clock);
    await clock.advance(200);
    return waiting;
  };
  assert.equal(await waitOnce('CRITICAL'), 100, 'a healthy queue lets a waiter wait one interval');
  assert.equal(await waitOnce('CRITICAL'), 40, 'standing: the CRITICAL target');
  await clock.advance(100); // critical pressure has passed; sheddable traffic may queue again
  assert.equal(await waitOnce('SHEDDABLE'), 100);
  assert.equal(await waitOnce('SHEDDABLE'), 5, 'standing: the cluster target');
  for (const release of held) release(false);
});

test('a standing level is served LIFO (adaptive LIFO), a healthy one FIFO; queueLifoWhenStanding: false keeps FIFO', async () => {
  for (const lifo of [true, false]) {
    const clock = new FakeClock(0);
    const admission = admissionWith({ queueSize: 100, queueTargetDelayMs: 5, queueIntervalMs: 100, queueTargetDelayMsByCriticality: { CRITICAL: 50 }, queueLifoWhenStanding: lifo }, clock);
    const held: Release[] = [];
    for (let index = 0; index < 4; index++) held.push(admission.admit('c', 'CRITICAL') as Release);
    // Make the CRITICAL level stand: one waiter times out after an interval.
    const first = outcome(admission.admit('c', 'CRITICAL'), clock);
    await clock.advance(150);
    assert.equal(await first, 100);
    const order: string[] = [];
    const waiters = ['old', 'middle', 'new'].map(async (name) => {
      const result = await outcome(admission.admit('c', 'CRITICAL'), clock);
      order.push(name);
      return result;
    });
    await clock.advance(1);
    held.pop()!(false);
    await clock.advance(0);
    assert.deepEqual(order, [lifo ? 'new' : 'old']);
    await clock.advance(200);
    for (const result of await Promise.all(waiters)) if (typeof result === 'function') result(false);
    for (const release of held) release(false);
  }
});

test('a full queue sheds the oldest waiter of the least critical level, never a more critical one', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 2 }, clock);
  const held: Release[] = [];
  for (let index = 0; index < 4; index++) held.push(admission.admit('c', 'SHEDDABLE_PLUS') as Release);
  const older = outcome(admission.admit('c', 'SHEDDABLE'), clock);
  await clock.advance(1);
  const newer = outcome(admission.admit('c', 'SHEDDABLE'), clock);
  const plus = outcome(admission.admit('c', 'SHEDDABLE_PLUS'), clock);
  assert.equal(await older, 1, 'the oldest SHEDDABLE waiter made room');
  assert.throws(() => admission.admit('c', 'SHEDDABLE'), isOverloaded, 'no less critical waiter to displace: refused');
  assert.equal((admission.toJSON().c as { queued: number }).queued, 2);
  await clock.advance(200);
  await newer;
  await plus;
  for (const release of held) release(false);
});

test('bad admission settings are refused naming the field', () => {
  const parse = (adaptiveConcurrency: Record<string, unknown>) => () => parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }], clusters: { c: { endpoints: [{ address: 'x:1' }], adaptiveConcurrency } },
  });
  const naming = (field: string) => (error: unknown) => error instanceof GatewayConfigError && error.issues.some((issue) => issue.includes(field));
  assert.throws(parse({ limitAlgorithm: 'magic' }), naming('clusters.c.adaptiveConcurrency.limitAlgorithm'));
  assert.throws(parse({ queueTargetDelayMsByCriticality: { CRITICAL: -1 } }), naming('queueTargetDelayMsByCriticality.CRITICAL'));
  assert.throws(parse({ queueTargetDelayMsByCriticality: { URGENT: 5 } }), naming('queueTargetDelayMsByCriticality'));
  assert.throws(parse({ queueLifoWhenStanding: 'yes' }), naming('queueLifoWhenStanding'));
});

/**
 * The bench's scenario on a fake clock: a simulated backend (a mock, since a
 * unit test cannot own real time: 2 workers, 20-22 ms per request, FIFO)
 * behind the real admission code, offered 2× and 10× its capacity with the
 * bench's criticality mix and 500 ms deadlines. bench/overload.ts measures
 * the same with real processes.
 */
async function simulate(multiplier: number, limitAlgorithm: 'vegas' | 'gradient'): Promise<{ criticalShare: number; p99Ms: number }> {
  const clock = new FakeClock(0);
  const random = seededRandom(17);
  const admission = admissionWith({
    limitAlgorithm, initialLimit: 4, minLimit: 2, maxLimit: 32, queueSize: 500, queueTargetDelayMs: 20, queueIntervalMs: 100,
    queueTargetDelayMsByCriticality: { CRITICAL_PLUS: 50, CRITICAL: 50 },
  }, clock);
  const workers = 2;
  const capacity = (workers * 1000) / 21; // requests per second at the mean service time
  let busy = 0;
  const backendQueue: (() => void)[] = [];
  const serve = (done: () => void): void => {
    busy++;
    clock.setTimeout(() => {
      busy--;
      done();
      const next = backendQueue.shift();
      if (next !== undefined) serve(next);
    }, 20 + random.next() * 2);
  };
  const mix: readonly [Criticality, number][] = [['CRITICAL_PLUS', 0.1], ['CRITICAL', 0.4], ['SHEDDABLE_PLUS', 0.2], ['SHEDDABLE', 0.3]];
  const seconds = 2;
  const rate = capacity * multiplier;
  const latencies: number[] = [];
  let offeredCritical = 0;
  let draw = 0;
  for (let index = 0; index < rate * seconds; index++) {
    await clock.advance((index * 1000) / rate - clock.now());
    draw = (draw + 0.6180339887) % 1;
    let sum = 0;
    const criticality = (mix.find(([, share]) => (sum += share) > draw) ?? mix[3]!)[0];
    const critical = criticality === 'CRITICAL_PLUS' || criticality === 'CRITICAL';
    if (critical) offeredCritical++;
    const began = clock.now();
    let admitted: Release | Promise<Release>;
    try {
      admitted = admission.admit('c', criticality, began + 500);
    } catch {
      continue; // refused on arrival
    }
    void Promise.resolve(admitted).then((release) => {
      const done = () => {
        release(false);
        if (critical && clock.now() - began <= 500) latencies.push(clock.now() - began);
      };
      if (busy < workers) serve(done);
      else backendQueue.push(done);
    }, () => {});
  }
  await clock.advance(1_000);
  latencies.sort((a, b) => a - b);
  const criticalShare = latencies.length / Math.min(offeredCritical, capacity * seconds);
  return { criticalShare, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? Infinity };
}

test('simulated overload: critical traffic gets ≥ 95% of min(demand, capacity) with p99 ≤ half its deadline, at 2× and 10×', async () => {
  for (const multiplier of [2, 10]) {
    const { criticalShare, p99Ms } = await simulate(multiplier, 'vegas');
    assert.ok(criticalShare >= 0.95, `${multiplier}×: critical got ${(criticalShare * 100).toFixed(1)}% of min(demand, capacity)`);
    assert.ok(p99Ms <= 250, `${multiplier}×: critical p99 ${p99Ms.toFixed(0)} ms`);
  }
});
