import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultNemesisFaults, faultSpecOf, longestWriteGapMs, NEMESIS_FAULT_NAMES, nemesisSchedule, PROCESS_NEMESIS_FAULTS } from '../../../src/chaos/campaign/index.js';
import { netemUnavailableReason } from '../../../src/chaos/netns.js';

test('the nemesis schedule is a function of its seed, stays in its bounds and cycles through every fault', () => {
  const options = { seed: 42, runMs: 120_000, faults: NEMESIS_FAULT_NAMES, faultMs: [1_000, 3_000], quietMs: [500, 2_000] } as const;
  const schedule = nemesisSchedule(options);
  assert.deepEqual(nemesisSchedule(options), schedule, 'one seed, one schedule');
  assert.notDeepEqual(nemesisSchedule({ ...options, seed: 43 }), schedule);
  let previousEnd = 0;
  for (const step of schedule) {
    assert.ok(step.atMs >= previousEnd + 500 && step.atMs <= previousEnd + 2_000, 'a quiet spell between faults');
    assert.ok(step.durationMs >= 1_000 && step.durationMs <= 3_000);
    assert.ok(step.atMs < options.runMs, 'no fault starts after the run');
    previousEnd = step.atMs + step.durationMs;
  }
  const cycle = NEMESIS_FAULT_NAMES.length;
  for (let start = 0; start + cycle <= schedule.length; start += cycle) {
    assert.deepEqual(new Set(schedule.slice(start, start + cycle).map((step) => step.fault)), new Set(NEMESIS_FAULT_NAMES), 'each kind once per cycle');
  }
  assert.deepEqual(faultSpecOf({ atMs: 0, fault: 'pause-leader', durationMs: 1_500 }), { kind: 'pause', target: 'leader', durationMs: 1_500 });
  assert.deepEqual(faultSpecOf({ atMs: 0, fault: 'kill-follower', durationMs: 1_500 }), { kind: 'kill', target: 'follower' });
  assert.throws(() => nemesisSchedule({ ...options, faultMs: [3_000, 1_000] }), RangeError);
  assert.deepEqual(nemesisSchedule({ ...options, faults: [] }), []);
});

test('the longest write gap counts the spells before the first and after the last write', () => {
  assert.equal(longestWriteGapMs([], 0, 1_000), 1_000);
  assert.equal(longestWriteGapMs([100, 200, 900], 0, 1_000), 700);
  assert.equal(longestWriteGapMs([400, 500], 0, 1_000), 500);
  assert.equal(longestWriteGapMs([50, 2_000], 100, 1_000), 900, 'writes outside the window do not count');
});

test('default nemesis faults: process faults on loopback; every fault in namespaces, slow-leader only where the kernel has netem', () => {
  assert.deepEqual(defaultNemesisFaults(false), PROCESS_NEMESIS_FAULTS);
  const inNamespaces = defaultNemesisFaults(true);
  assert.ok(inNamespaces.includes('lossy-network') && inNamespaces.includes('bridge'));
  assert.equal(inNamespaces.includes('slow-leader'), netemUnavailableReason() === undefined);
});
