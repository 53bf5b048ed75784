import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BULKHEAD_DEFAULTS, BulkheadPolicy, KeyedBulkheadPolicy } from '../../src/resilience/bulkhead.js';
import { capture, newClock } from './helpers.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<string>((resolve) => {
    open = () => resolve('done');
  });
  return { fn: () => promise, open };
}

test('admits up to maxConcurrent, then queues, then refuses', async () => {
  const clock = newClock();
  const bulkhead = new BulkheadPolicy({ clock, maxConcurrent: 2, queueSize: 1 });
  const g = gate();
  const running = [capture(bulkhead.execute(g.fn)), capture(bulkhead.execute(g.fn))];
  const queued = capture(bulkhead.execute(async () => 'queued'));
  await assert.rejects(bulkhead.execute(async () => 'x'), { code: 'KEEL_RES_BULKHEAD_FULL' });
  assert.deepEqual(bulkhead.stats(), { executing: 2, queued: 1, admitted: 2, rejected: 1, queueTimeouts: 0 });
  g.open();
  await clock.advance(0);
  assert.ok(running.every((call) => call.value() === 'done'));
  assert.equal(queued.value(), 'queued');
  assert.equal(bulkhead.stats().executing, 0);
  assert.ok(bulkhead.idle);
});

test('a waiter leaves the queue after the queue timeout', async () => {
  const clock = newClock();
  const bulkhead = new BulkheadPolicy({ clock, maxConcurrent: 1, queueSize: 1, queueTimeoutMs: 500 });
  const g = gate();
  void bulkhead.execute(g.fn);
  const waiter = capture(bulkhead.execute(async () => 'late'));
  await clock.advance(500);
  assert.equal((waiter.error() as { code: string }).code, 'KEEL_RES_BULKHEAD_QUEUE_TIMEOUT');
  assert.equal(bulkhead.stats().queued, 0);
  g.open();
});

test('a waiter whose signal aborts leaves the queue', async () => {
  const clock = newClock();
  const bulkhead = new BulkheadPolicy({ clock, maxConcurrent: 1, queueSize: 1 });
  const g = gate();
  void bulkhead.execute(g.fn);
  const controller = new AbortController();
  const waiter = capture(bulkhead.execute(async () => 'x', { signal: controller.signal }));
  controller.abort();
  await clock.advance(0);
  assert.equal((waiter.error() as { code: string }).code, 'KEEL_RES_ABORTED');
  assert.equal(bulkhead.stats().queued, 0);
  g.open();
});

test('the queue is ordered by criticality, and a more critical arrival displaces the least critical waiter', async () => {
  const clock = newClock();
  const bulkhead = new BulkheadPolicy({ clock, maxConcurrent: 1, queueSize: 2, queueTimeoutMs: 10_000 });
  const g = gate();
  void bulkhead.execute(g.fn);
  const order: string[] = [];
  const run = (name: string) => async () => {
    order.push(name);
    return name;
  };
  const sheddable = capture(bulkhead.execute(run('sheddable'), { criticality: 'SHEDDABLE' }));
  const critical = capture(bulkhead.execute(run('critical'), { criticality: 'CRITICAL' }));
  const criticalPlus = capture(bulkhead.execute(run('critical-plus'), { criticality: 'CRITICAL_PLUS' }));
  await assert.rejects(bulkhead.execute(run('another'), { criticality: 'SHEDDABLE' }), { code: 'KEEL_RES_BULKHEAD_FULL' });
  await clock.advance(0);
  assert.equal((sheddable.error() as { reason: string }).reason, 'displaced');
  g.open();
  await clock.advance(0);
  assert.deepEqual(order, ['critical-plus', 'critical']);
  assert.equal(critical.value(), 'critical');
  assert.equal(criticalPlus.value(), 'critical-plus');
});

test('a slot is released when the function throws', async () => {
  const bulkhead = new BulkheadPolicy({ maxConcurrent: 1 });
  await assert.rejects(bulkhead.execute(async () => { throw new Error('x'); }));
  assert.equal(await bulkhead.execute(async () => 'ok'), 'ok');
});

test('keyed bulkheads keep separate pools per dependency and evict only idle pools', async () => {
  const keyed = new KeyedBulkheadPolicy({ maxConcurrent: 1, maxKeys: 2 });
  const a = gate();
  const b = gate();
  void keyed.execute(a.fn, { key: 'a' });
  void keyed.execute(b.fn, { key: 'b' });
  await assert.rejects(keyed.execute(async () => 'x', { key: 'a' }), { code: 'KEEL_RES_BULKHEAD_FULL' });
  await assert.rejects(keyed.execute(async () => 'x', { key: 'c' }), { code: 'KEEL_RES_BULKHEAD_FULL' }); // both pools busy: no room for c
  a.open();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await keyed.execute(async () => 'c ran', { key: 'c' }), 'c ran'); // a was idle and evicted
  assert.deepEqual(Object.keys(keyed.stats()).sort(), ['b', 'c']);
  b.open();
});

test('defaults: 25 concurrent (Resilience4j), no queue (fail fast), 1 s queue timeout', () => {
  assert.deepEqual(BULKHEAD_DEFAULTS, { maxConcurrent: 25, queueSize: 0, queueTimeoutMs: 1_000 });
  const bulkhead = new BulkheadPolicy();
  assert.equal(bulkhead.maxConcurrent, 25);
  assert.throws(() => new BulkheadPolicy({ maxConcurrent: 0 }), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => new BulkheadPolicy({ queueSize: 1e9 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
