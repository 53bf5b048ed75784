import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createChaos } from '../../src/chaos/index.js';
import { processExists } from '../../src/chaos/process-identity.js';
import { stressArguments } from '../../src/chaos/stress.js';
import { sleeper, stateDir, until } from './fixtures/helpers.js';

const skip = existsSync('/usr/bin/stress-ng') ? false : 'stress-ng is not installed';

function stressPid(outcomes: readonly string[]): number {
  const line = outcomes.find((outcome) => outcome.startsWith('stress-ng running as pid'));
  assert.ok(line, outcomes.join('\n'));
  return Number(/pid (\d+)/.exec(line!)![1]);
}

test('stress arguments are bounded and refused when empty or out of range', () => {
  assert.deepEqual(stressArguments({ kind: 'stress', cpuWorkers: 1, cpuLoadPercent: 10, durationMs: 2_500 }), ['--cpu', '1', '--cpu-load', '10', '--timeout', '4s', '--quiet']);
  assert.throws(() => stressArguments({ kind: 'stress', durationMs: 1_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => stressArguments({ kind: 'stress', cpuWorkers: 1_000, durationMs: 1_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => stressArguments({ kind: 'stress', vmWorkers: 1, vmBytes: 2 ** 40, durationMs: 1_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
});

test('stress-ng runs in the target\'s cgroup, tracked by pid, and ends with its lease or on heal', { skip, timeout: 60_000 }, async (t) => {
  const victim = await sleeper(t);
  const chaos = createChaos({ stateDir: stateDir(t) });
  // Light on purpose: the test box is shared.
  const short = await chaos.inject({ kind: 'stress', target: `pid:${victim.pid}`, cpuWorkers: 1, cpuLoadPercent: 5, durationMs: 1_500 });
  const first = stressPid(short.outcomes);
  t.after(() => {
    try {
      process.kill(-first, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  });
  assert.ok(processExists(first));
  await until(() => !processExists(first), 30_000, 'the lease to end stress-ng');

  const long = await chaos.inject({ kind: 'stress', cpuWorkers: 1, cpuLoadPercent: 5, durationMs: 600_000 });
  const second = stressPid(long.outcomes);
  assert.deepEqual((await long.heal())?.errors, []);
  await until(() => !processExists(second), 30_000, 'heal to kill stress-ng');
  assert.equal(chaos.active().length, 0);
});
