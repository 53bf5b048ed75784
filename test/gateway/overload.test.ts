import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/resilience/index.js';
import { Admission, type Release } from '../../src/gateway/admission.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { GatewayError } from '../../src/gateway/errors.js';

function admissionWith(options: Record<string, number>, clock = new FakeClock(0)): Admission {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }],
    clusters: { c: { endpoints: [{ address: 'x:1' }], adaptiveConcurrency: { initialLimit: 10, minLimit: 10, maxLimit: 10, ...options } } },
  });
  return new Admission(config.clusters, clock);
}

const isOverloaded = (error: unknown) =>
  GatewayError.is(error) && error.code === 'KEEL_GW_OVERLOADED' && error.status === 503 && error.reason === 'overloaded' && error.headers['retry-after'] === '1';

test('admission sheds sheddable traffic first and names the reason', () => {
  const admission = admissionWith({ queueSize: 0 });
  const releases: Release[] = [];
  for (let index = 0; index < 10; index++) releases.push(admission.admit('c', 'SHEDDABLE') as Release);
  assert.throws(() => admission.admit('c', 'SHEDDABLE'), isOverloaded);
  // critical traffic still has its guaranteed share of the limit
  for (let index = 0; index < 9; index++) releases.push(admission.admit('c', 'CRITICAL') as Release);
  assert.throws(() => admission.admit('c', 'CRITICAL'), isOverloaded);
  for (const release of releases) release(false);
});

test('the admission queue serves the most critical first and sheds the least critical when full', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 2, criticalShare: 0.5 }, clock);
  const held: Release[] = [];
  for (let index = 0; index < 5; index++) held.push(admission.admit('c', 'SHEDDABLE') as Release);
  for (let index = 0; index < 5; index++) held.push(admission.admit('c', 'CRITICAL') as Release);
  const order: string[] = [];
  const sheddable = (admission.admit('c', 'SHEDDABLE') as Promise<Release>).then((r) => (order.push('sheddable'), r), (e: unknown) => (order.push(`sheddable:${isOverloaded(e)}`), undefined));
  const critical = (admission.admit('c', 'CRITICAL') as Promise<Release>).then((r) => (order.push('critical'), r));
  const criticalPlus = (admission.admit('c', 'CRITICAL_PLUS') as Promise<Release>).then((r) => (order.push('critical-plus'), r));
  await clock.advance(0);
  assert.deepEqual(order, ['sheddable:true'], 'a full queue displaces its least critical waiter');
  held.pop()!(false);
  held.pop()!(false);
  await clock.advance(0);
  assert.deepEqual(order, ['sheddable:true', 'critical-plus', 'critical']);
  (await criticalPlus)(false);
  (await critical)(false);
  await sheddable;
  for (const release of held) release(false);
});

test('CoDel: once waits stand above the target, waiters are shed after the target instead of the interval', async () => {
  const clock = new FakeClock(0);
  const admission = admissionWith({ queueSize: 100, queueTargetDelayMs: 5, queueIntervalMs: 100 }, clock);
  const held: Release[] = [];
  for (let index = 0; index < 10; index++) held.push(admission.admit('c', 'CRITICAL') as Release);
  const timedOut = async (): Promise<number> => {
    const start = clock.now();
    const waiting = (admission.admit('c', 'CRITICAL') as Promise<Release>).then(() => -1, (e: unknown) => (isOverloaded(e) ? clock.now() - start : -2));
    await clock.advance(200);
    return waiting;
  };
  assert.equal(await timedOut(), 100, 'a healthy queue lets a waiter wait one interval');
  assert.equal(await timedOut(), 5, 'a standing queue sheds after the target');
  for (const release of held) release(false);
});
