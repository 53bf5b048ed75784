import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/load/clock.js';
import { runExecutor, type ExecutorContext } from '../../src/load/executors/index.js';
import { constantArrivals, rampingArrivals, vuSteps } from '../../src/load/executors/schedule.js';
import type { ExecutorPlan } from '../../src/load/options.js';

interface Started {
  readonly vu: number;
  readonly atMs: number;
  readonly intendedStartMs: number | undefined;
}

/** Runs a plan on a fake clock; each iteration holds its VU for `iterationMs`. */
async function drive(plan: ExecutorPlan, iterationMs: number, untilMs: number): Promise<{ started: Started[]; dropped: number; active: number[] }> {
  const clock = new FakeClock();
  const started: Started[] = [];
  const active: number[] = [];
  let dropped = 0;
  const context: ExecutorContext = {
    clock,
    signal: new AbortController().signal,
    startMs: 0,
    iterate: async (vu, intendedStartMs) => {
      started.push({ vu, atMs: clock.nowMs(), intendedStartMs });
      await clock.sleepUntil(clock.nowMs() + iterationMs);
    },
    dropped: () => dropped++,
    activeVus: (count) => active.push(count),
  };
  const done = runExecutor(plan, context);
  await clock.advanceTo(untilMs);
  await done;
  return { started, dropped, active };
}

test('constant-arrival-rate: arrivals exactly every 1/rate, each told its intended start', async () => {
  const { started, dropped } = await drive({ executor: 'constant-arrival-rate', rate: 4, timeUnitMs: 1000, durationMs: 2000, preAllocatedVUs: 2, maxVUs: 2, phaseMs: 0 }, 100, 5000);
  assert.deepEqual(started.map((start) => start.atMs), [0, 250, 500, 750, 1000, 1250, 1500, 1750]);
  assert.deepEqual(started.map((start) => start.intendedStartMs), [0, 250, 500, 750, 1000, 1250, 1500, 1750]);
  assert.equal(dropped, 0);
});

test('constant-arrival-rate: an arrival that finds no free VU is dropped, not delayed', async () => {
  // 10/s, each iteration takes 350 ms, 2 VUs: at most 2 of every ~4 arrivals find a VU.
  const { started, dropped } = await drive({ executor: 'constant-arrival-rate', rate: 10, timeUnitMs: 1000, durationMs: 1000, preAllocatedVUs: 2, maxVUs: 2, phaseMs: 0 }, 350, 5000);
  assert.equal(started.length + dropped, 10);
  assert.ok(dropped > 0);
  for (const start of started) assert.equal(start.atMs, start.intendedStartMs, 'never started late');
  assert.deepEqual(started.map((start) => start.atMs), [0, 100, 400, 500, 800, 900]);
  assert.equal(dropped, 4);
});

test('constant-arrival-rate: VUs are allocated up to maxVUs before arrivals drop', async () => {
  const { started, dropped, active } = await drive({ executor: 'constant-arrival-rate', rate: 10, timeUnitMs: 1000, durationMs: 1000, preAllocatedVUs: 1, maxVUs: 4, phaseMs: 0 }, 350, 5000);
  assert.equal(dropped, 0);
  assert.equal(started.length, 10);
  assert.equal(Math.max(...active), 4);
});

test('ramping-arrival-rate: a linear ramp from 0 to 10/s over 2 s gives arrivals at sqrt spacing', async () => {
  const arrivals = [...rampingArrivals(0, 1000, [{ durationMs: 2000, target: 10 }])];
  // Integral of the rate: 10·t²/(2·2000·1000) arrivals by t (ms); arrival k at t = sqrt(400000·k).
  assert.equal(arrivals.length, 10);
  arrivals.forEach((atMs, k) => assert.ok(Math.abs(atMs - Math.sqrt(400_000 * k)) < 1e-6, `arrival ${k} at ${atMs}`));
  const { started } = await drive({ executor: 'ramping-arrival-rate', startRate: 0, timeUnitMs: 1000, stages: [{ durationMs: 2000, target: 10 }], preAllocatedVUs: 10, maxVUs: 10 }, 10, 5000);
  assert.deepEqual(started.map((start) => start.atMs), arrivals);
});

test('ramping-arrival-rate: a hold stage after a ramp continues at the constant rate', () => {
  const arrivals = [...rampingArrivals(2, 1000, [{ durationMs: 1000, target: 2 }, { durationMs: 1000, target: 4 }])];
  assert.deepEqual(arrivals.slice(0, 2), [0, 500]);
  assert.equal(arrivals.length, 5); // 2 in the first second, 3 in the second (the mean of 2 and 4)
  for (let k = 1; k < arrivals.length; k++) assert.ok(arrivals[k]! > arrivals[k - 1]!);
});

test('constant arrivals with a phase interleave workers', () => {
  assert.deepEqual([...constantArrivals(2, 1000, 2000, 250)], [250, 750, 1250, 1750]);
});

test('ramping-vus: the count changes at linear instants, up and down', () => {
  assert.deepEqual(vuSteps(0, [{ durationMs: 1000, target: 4 }, { durationMs: 1000, target: 4 }, { durationMs: 1000, target: 2 }]), [
    { atMs: 250, vus: 1 },
    { atMs: 500, vus: 2 },
    { atMs: 750, vus: 3 },
    { atMs: 1000, vus: 4 },
    { atMs: 2500, vus: 3 },
    { atMs: 3000, vus: 2 },
    { atMs: 3000, vus: 0 },
  ]);
});

test('ramping-vus: VUs start at their step and stop after their iteration when the ramp goes down', async () => {
  const { started } = await drive({ executor: 'ramping-vus', startVUs: 0, stages: [{ durationMs: 1000, target: 2 }, { durationMs: 1000, target: 0 }] }, 100, 5000);
  const firstOf = (vu: number): number => started.find((start) => start.vu === vu)!.atMs;
  assert.equal(firstOf(0), 500);
  assert.equal(firstOf(1), 1000);
  const lastOf = (vu: number): number => Math.max(...started.filter((start) => start.vu === vu).map((start) => start.atMs));
  assert.ok(lastOf(1) < 1500, `VU 1 stops once the count drops to 1 at 1500 ms (last start ${lastOf(1)})`);
  assert.ok(lastOf(0) < 2000);
  assert.equal(started.filter((start) => start.vu === 0 && start.atMs >= 500 && start.atMs < 1500).length, 10);
});

test('constant-vus: each VU loops back to back for the duration', async () => {
  const { started } = await drive({ executor: 'constant-vus', vus: 3, durationMs: 1000 }, 100, 5000);
  assert.equal(started.length, 30);
  assert.ok(started.every((start) => start.intendedStartMs === undefined));
});

test('shared-iterations: VUs share exactly the iterations asked for', async () => {
  const { started } = await drive({ executor: 'shared-iterations', vus: 3, iterations: 10, maxDurationMs: 60_000 }, 100, 60_000);
  assert.equal(started.length, 10);
  assert.deepEqual(new Set(started.map((start) => start.vu)), new Set([0, 1, 2]));
});

test('per-vu-iterations: each VU runs its iterations; maxDuration bounds them', async () => {
  const full = await drive({ executor: 'per-vu-iterations', vus: 2, iterations: 5, maxDurationMs: 60_000 }, 100, 60_000);
  assert.equal(full.started.length, 10);
  const bounded = await drive({ executor: 'per-vu-iterations', vus: 2, iterations: 1000, maxDurationMs: 1000 }, 100, 60_000);
  assert.equal(bounded.started.length, 20);
});

test('ramping-vus: steps already due when the loop wakes late are taken together', async () => {
  const fake = new FakeClock();
  // A loaded event loop: every wake-up comes on the next 500 ms boundary.
  const clock = { nowMs: () => fake.nowMs(), sleepUntil: (atMs: number, signal?: AbortSignal) => fake.sleepUntil(Math.ceil(atMs / 500) * 500, signal) };
  const active: number[] = [];
  const context: ExecutorContext = {
    clock,
    signal: new AbortController().signal,
    startMs: 0,
    iterate: (_vu) => clock.sleepUntil(clock.nowMs() + 10_000),
    dropped: () => undefined,
    activeVus: (count) => active.push(count),
  };
  const done = runExecutor({ executor: 'ramping-vus', startVUs: 0, stages: [{ durationMs: 1000, target: 1000 }, { durationMs: 1000, target: 1000 }] }, context);
  // The first wake-up comes late (as on a loaded event loop): by 500 ms, 500 VUs are due at once.
  await fake.advanceTo(500);
  assert.equal(active.at(-1), 500);
  await fake.advanceTo(3000);
  await done;
  assert.equal(Math.max(...active), 1000);
});
