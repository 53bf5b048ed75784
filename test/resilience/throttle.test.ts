import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ADAPTIVE_THROTTLE_DEFAULTS, AdaptiveThrottlePolicy } from '../../src/resilience/throttle.js';
import { FakeClock } from '../../src/resilience/clock.js';
import { httpError } from './helpers.js';

const always = (value: number) => ({ next: () => value });

test('probability 0 while the backend accepts everything', async () => {
  const throttle = new AdaptiveThrottlePolicy({ clock: new FakeClock(0) });
  for (let i = 0; i < 100; i++) await throttle.execute(() => 'ok');
  assert.equal(throttle.probability(), 0);
});

test('the SRE formula: max(0, (requests − K·accepts) / (requests + 1))', async () => {
  const clock = new FakeClock(0);
  const throttle = new AdaptiveThrottlePolicy({ clock, random: always(0.999) });
  for (let i = 0; i < 10; i++) await throttle.execute(() => 'ok');
  for (let i = 0; i < 30; i++) await throttle.execute(async () => { throw httpError(503); }).catch(() => {});
  // requests 40, accepts 10: (40 - 20) / 41
  assert.equal(throttle.probability(), 20 / 41);
});

test('rejects locally with that probability, counting the rejected request', async () => {
  const clock = new FakeClock(0);
  let draw = 0.999;
  const throttle = new AdaptiveThrottlePolicy({ clock, random: { next: () => draw } });
  for (let i = 0; i < 9; i++) await throttle.execute(async () => { throw httpError(429); }).catch(() => {});
  assert.equal(throttle.probability(), 9 / 10);
  draw = 0.5;
  let called = false;
  await assert.rejects(throttle.execute(() => { called = true; }), { code: 'KEEL_RES_THROTTLED' });
  assert.equal(called, false);
  assert.equal(throttle.stats().requests, 10);
  assert.equal(throttle.stats().throttled, 1);
});

test('per criticality: sheddable rejections do not throttle critical traffic', async () => {
  const throttle = new AdaptiveThrottlePolicy({ clock: new FakeClock(0), random: always(0) });
  for (let i = 0; i < 20; i++) await throttle.execute(async () => { throw httpError(503); }, { criticality: 'SHEDDABLE' }).catch(() => {});
  assert.ok(throttle.probability('SHEDDABLE') > 0.5);
  assert.equal(throttle.probability('CRITICAL'), 0);
  const shared = new AdaptiveThrottlePolicy({ clock: new FakeClock(0), perCriticality: false });
  for (let i = 0; i < 20; i++) await shared.execute(async () => { throw httpError(503); }, { criticality: 'SHEDDABLE' }).catch(() => {});
  assert.ok(shared.probability('CRITICAL') > 0.5);
});

test('the window forgets: after two quiet minutes the probability is 0 again', async () => {
  const clock = new FakeClock(0);
  const throttle = new AdaptiveThrottlePolicy({ clock, random: always(0.999) });
  for (let i = 0; i < 20; i++) await throttle.execute(async () => { throw httpError(503); }).catch(() => {});
  assert.ok(throttle.probability() > 0);
  await clock.advance(120_000);
  assert.equal(throttle.probability(), 0);
});

test('property: matches a reference that recounts the window from the full history', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 5000 }), accepted: fc.boolean() }), { maxLength: 200 }),
      fc.constantFrom(1, 1.5, 2, 3),
      (ops, k) => {
        const clock = new FakeClock(0);
        const throttle = new AdaptiveThrottlePolicy({ clock, k, random: always(0.999999), windowMs: 20_000, bucketCount: 10 });
        const history: Array<{ bucket: number; accepted: boolean }> = [];
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          const bucket = Math.floor(clock.now() / 2000);
          const live = history.filter((entry) => entry.bucket > bucket - 10);
          const requests = live.length;
          const accepts = live.filter((entry) => entry.accepted).length;
          assert.equal(throttle.probability(), Math.max(0, (requests - k * accepts) / (requests + 1)));
          if (throttle.tryAcquire()) {
            throttle.record(op.accepted);
            history.push({ bucket, accepted: op.accepted });
          } else history.push({ bucket, accepted: false });
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('defaults: K = 2 and a two-minute window (SRE book), per-criticality counts', () => {
  assert.deepEqual(ADAPTIVE_THROTTLE_DEFAULTS, { k: 2, windowMs: 120_000, bucketCount: 60, perCriticality: true });
  assert.equal(new AdaptiveThrottlePolicy().k, 2);
  assert.throws(() => new AdaptiveThrottlePolicy({ k: 0.5 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});
