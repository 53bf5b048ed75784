import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BREAKER_DEFAULTS, CircuitBreakerPolicy, consecutiveFailures, countWindow, TIME_WINDOW_DEFAULTS, timeWindow,
} from '../../src/resilience/breaker.js';
import type { BreakerState } from '../../src/resilience/breaker.js';
import { capture, httpError, newClock } from './helpers.js';

const fail = async () => {
  throw new Error('down');
};
const ok = async () => 'ok';

async function failTimes(breaker: CircuitBreakerPolicy, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await breaker.execute(fail).catch(() => {});
}

test('consecutive strategy opens after N failures in a row and refuses with the time to the probe', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(3) });
  await failTimes(breaker, 2);
  await breaker.execute(ok);
  await failTimes(breaker, 2);
  assert.equal(breaker.state, 'closed');
  await failTimes(breaker, 1);
  assert.equal(breaker.state, 'open');
  await clock.advance(1000);
  await assert.rejects(breaker.execute(ok), (error: { code: string; retryAfterMs: number }) => error.code === 'KEEL_RES_CIRCUIT_OPEN' && error.retryAfterMs === 4000);
});

test('count window: failure rate over the last N calls, judged after the minimum', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: countWindow({ size: 10, minimumCalls: 4, failureRateThreshold: 0.5 }) });
  await breaker.execute(ok);
  await failTimes(breaker, 2);
  assert.equal(breaker.state, 'closed'); // 3 calls < minimum 4
  await breaker.execute(ok);
  assert.equal(breaker.state, 'open'); // 2 of 4 failed
});

test('count window forgets calls that slide out', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: countWindow({ size: 4, failureRateThreshold: 0.75 }) });
  await failTimes(breaker, 2);
  for (let i = 0; i < 4; i++) await breaker.execute(ok);
  await failTimes(breaker, 2);
  assert.equal(breaker.state, 'closed'); // window: ok ok fail fail = 50%
  await failTimes(breaker, 1);
  assert.equal(breaker.state, 'open'); // ok fail fail fail = 75%
});

test('time window: needs the minimum throughput, and old buckets expire', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: timeWindow({ windowMs: 1000, bucketCount: 10, minimumThroughput: 4, failureRateThreshold: 0.5 }) });
  await failTimes(breaker, 3);
  assert.equal(breaker.state, 'closed');
  await clock.advance(1000); // the three failures leave the window
  await breaker.execute(ok);
  await breaker.execute(ok);
  await breaker.execute(ok);
  await failTimes(breaker, 1);
  assert.equal(breaker.state, 'closed'); // 1 of 4
  await failTimes(breaker, 2);
  assert.equal(breaker.state, 'open'); // 3 of 6
});

test('slow-call rule: slow calls open the breaker even when they succeed', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: countWindow({ size: 4 }), slowCall: { durationMs: 200, rateThreshold: 0.5 } });
  const slow = () => new Promise<string>((resolve) => clock.setTimeout(() => resolve('late'), 300));
  await breaker.execute(ok);
  await breaker.execute(ok);
  for (let i = 0; i < 2; i++) {
    const call = capture(breaker.execute(slow));
    await clock.advance(300);
    assert.equal(call.value(), 'late');
  }
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.stats().slowCalls, 2);
});

test('half-open admits N probes and closes after the success threshold', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1), halfOpenProbes: 3, halfOpenSuccessThreshold: 2, openDurationMs: 1000 });
  await failTimes(breaker, 1);
  await clock.advance(1000);
  assert.equal(breaker.state, 'half-open');
  const gates: Array<() => void> = [];
  const held = () => new Promise<string>((resolve) => gates.push(() => resolve('probe')));
  const probes = [capture(breaker.execute(held)), capture(breaker.execute(held)), capture(breaker.execute(held))];
  await assert.rejects(breaker.execute(ok), { code: 'KEEL_RES_CIRCUIT_OPEN' });
  gates[0]!();
  gates[1]!();
  await clock.advance(0);
  assert.equal(breaker.state, 'closed');
  gates[2]!();
  await clock.advance(0);
  assert.ok(probes.every((probe) => probe.value() === 'probe'));
});

test('a failed probe reopens with a longer open duration (backoff), capped; closing resets it', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1), openDurationMs: 1000, openBackoffFactor: 2, maxOpenDurationMs: 3000 });
  await failTimes(breaker, 1);
  const durations: number[] = [];
  for (let i = 0; i < 3; i++) {
    durations.push(breaker.toJSON().openDurationMs);
    await clock.advance(breaker.toJSON().openDurationMs);
    await failTimes(breaker, 1); // probe fails
  }
  durations.push(breaker.toJSON().openDurationMs);
  assert.deepEqual(durations, [1000, 2000, 3000, 3000]);
  await clock.advance(3000);
  await breaker.execute(ok);
  assert.equal(breaker.state, 'closed');
  await failTimes(breaker, 1);
  assert.equal(breaker.toJSON().openDurationMs, 1000);
});

test('state exports and restores; a half-open snapshot restores as open', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1) });
  await failTimes(breaker, 1);
  const snapshot = JSON.parse(JSON.stringify(breaker));
  assert.equal(snapshot.state, 'open');
  const restored = new CircuitBreakerPolicy({ clock, initialState: snapshot });
  await assert.rejects(restored.execute(ok), { code: 'KEEL_RES_CIRCUIT_OPEN' });
  await clock.advance(5000);
  assert.equal(await restored.execute(ok), 'ok');
  assert.equal(restored.state, 'closed');
  const fromHalfOpen = new CircuitBreakerPolicy({ clock, initialState: { ...snapshot, state: 'half-open', openedAtMs: clock.now() } });
  assert.equal(fromHalfOpen.state, 'open');
  assert.throws(() => new CircuitBreakerPolicy({ initialState: { ...snapshot, version: 2 } }), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('isolate holds the breaker open until every handle is disposed; reset closes', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock });
  const first = breaker.isolate();
  const second = breaker.isolate();
  await assert.rejects(breaker.execute(ok), { code: 'KEEL_RES_CIRCUIT_ISOLATED' });
  first.dispose();
  first.dispose();
  assert.equal(breaker.state, 'isolated');
  second.dispose();
  assert.equal(breaker.state, 'closed');
  breaker.isolate();
  breaker.reset();
  assert.equal(await breaker.execute(ok), 'ok');
});

test('events on every transition, with reasons', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1), openDurationMs: 100 });
  const transitions: string[] = [];
  breaker.events.on('state-change', (event) => transitions.push(`${event.from}->${event.to}`));
  await failTimes(breaker, 1);
  await clock.advance(100);
  await breaker.execute(ok);
  breaker.isolate().dispose();
  assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->closed', 'closed->isolated', 'isolated->closed']);
});

test('4xx responses and local refusals are not failures; 5xx responses are', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(2) });
  for (let i = 0; i < 5; i++) await breaker.execute(async () => { throw httpError(404); }).catch(() => {});
  assert.equal(breaker.state, 'closed');
  await breaker.execute(async () => ({ status: 500 }));
  await breaker.execute(async () => ({ status: 502 }));
  assert.equal(breaker.state, 'open');
});

test('outcomes of calls admitted before a transition are ignored', async () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1), openDurationMs: 100 });
  let release!: () => void;
  const slowFailure = capture(breaker.execute(() => new Promise<string>((_resolve, reject) => { release = () => reject(new Error('late')); })));
  await failTimes(breaker, 1);
  await clock.advance(100);
  assert.equal(await breaker.execute(ok), 'ok');
  release();
  await clock.advance(0);
  assert.ok(slowFailure.done());
  assert.equal(breaker.state, 'closed');
});

test('the synchronous core: tryAcquire / release', () => {
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock, strategy: consecutiveFailures(1) });
  const permit = breaker.tryAcquire();
  assert.ok(permit);
  breaker.release(permit, true);
  assert.equal(breaker.tryAcquire(), undefined);
  assert.equal(breaker.rejectionError().message, 'the circuit breaker is open');
});

test('defaults: time window 50% over 10 s with 20 calls; open 5 s, ×2 up to 60 s; one probe', async () => {
  assert.deepEqual(TIME_WINDOW_DEFAULTS, { windowMs: 10_000, bucketCount: 10, minimumThroughput: 20, failureRateThreshold: 0.5 });
  assert.deepEqual(BREAKER_DEFAULTS, { openDurationMs: 5_000, openBackoffFactor: 2, maxOpenDurationMs: 60_000, halfOpenProbes: 1 });
  const clock = newClock();
  const breaker = new CircuitBreakerPolicy({ clock });
  await failTimes(breaker, 19);
  assert.equal(breaker.state, 'closed');
  await failTimes(breaker, 1);
  const states: BreakerState[] = [breaker.state];
  await clock.advance(5000);
  states.push(breaker.state);
  assert.deepEqual(states, ['open', 'half-open']);
  assert.throws(() => consecutiveFailures(0), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => new CircuitBreakerPolicy({ halfOpenProbes: 2, halfOpenSuccessThreshold: 3 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
