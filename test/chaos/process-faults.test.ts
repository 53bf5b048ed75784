import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createChaos, type ClusterView } from '../../src/chaos/index.js';
import { isStopped, processExists } from '../../src/chaos/process-identity.js';
import { fakeMembers, sleeper, stateDir, until } from './fixtures/helpers.js';

const DEADLINE_MS = 20_000;

test('bad faults, selectors and targets are refused with typed codes before anything is injected', async (t) => {
  const victim = (await sleeper(t));
  const chaos = createChaos({ stateDir: stateDir(t) });
  const refusals: [unknown, string][] = [
    [{ kind: 'explode', target: `pid:${victim.pid}` }, 'KEEL_CHAOS_UNKNOWN_FAULT'],
    [{ kind: 'pause', target: 'zone:', durationMs: 1000 }, 'KEEL_CHAOS_UNKNOWN_SELECTOR'],
    [{ kind: 'pause', target: 'pid:x', durationMs: 1000 }, 'KEEL_CHAOS_UNKNOWN_SELECTOR'],
    [{ kind: 'pause', target: '!!', durationMs: 1000 }, 'KEEL_CHAOS_UNKNOWN_SELECTOR'],
    [{ kind: 'pause', target: `pid:${victim.pid}` }, 'KEEL_CHAOS_INVALID_FAULT'],
    [{ kind: 'pause', target: `pid:${victim.pid}`, durationMs: 0 }, 'KEEL_CHAOS_INVALID_FAULT'],
    [{ kind: 'kill', target: `pid:${victim.pid}`, durationMs: 1000 }, 'KEEL_CHAOS_INVALID_FAULT'],
    [{ kind: 'kill', target: 'pid:4194303' }, 'KEEL_CHAOS_TARGET_NOT_FOUND'],
    [{ kind: 'kill', target: 'leader' }, 'KEEL_CHAOS_CLUSTER_FILE'],
  ];
  for (const [spec, code] of refusals) {
    await assert.rejects(chaos.inject(spec as never), (error: { code?: string }) => error.code === code, `${JSON.stringify(spec)} should be refused with ${code}`);
  }
  assert.equal(chaos.active().length, 0);
  assert.ok(processExists(victim.pid!) && !isStopped(victim.pid!), 'the victim was never touched');
});

test('pause stops a process and its lease resumes it through the watchdog; heal() resumes at once', async (t) => {
  const victim = (await sleeper(t));
  const chaos = createChaos({ stateDir: stateDir(t) });
  const fault = await chaos.inject({ kind: 'pause', target: `pid:${victim.pid}`, durationMs: 500 });
  assert.equal(fault.injected, true);
  await until(() => isStopped(victim.pid!), DEADLINE_MS, 'the pause to take');
  assert.equal(chaos.active().length, 1);
  await until(() => !isStopped(victim.pid!), DEADLINE_MS, 'the watchdog to resume it');
  await until(() => chaos.active().length === 0, DEADLINE_MS, 'the record to go');

  const second = await chaos.inject({ kind: 'pause', target: `pid:${victim.pid}`, durationMs: 600_000 });
  await until(() => isStopped(victim.pid!), DEADLINE_MS, 'the second pause to take');
  const report = await second.heal();
  assert.deepEqual(report?.errors, []);
  await until(() => !isStopped(victim.pid!), DEADLINE_MS, 'heal() to resume it');
  assert.equal(chaos.active().length, 0);
});

test('a pause outlives a SIGKILLed controller only until its lease ends', async (t) => {
  const victim = (await sleeper(t));
  const dir = stateDir(t);
  const controller = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/pause-controller.ts'), dir, JSON.stringify({ kind: 'pause', target: `pid:${victim.pid}`, durationMs: 1500 })], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => controller.kill('SIGKILL'));
  let output = '';
  controller.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until(() => output.includes('injected'), DEADLINE_MS, 'the controller to inject');
  await until(() => isStopped(victim.pid!), DEADLINE_MS, 'the pause to take');
  controller.kill('SIGKILL');
  await new Promise((resolve) => controller.once('exit', resolve));
  await until(() => !isStopped(victim.pid!), DEADLINE_MS, 'the watchdog to resume the paused process after the controller died');
  await until(() => !existsSync(join(dir, 'watchdog.pid')), DEADLINE_MS, 'the idle watchdog to exit');
});

test('heal() is a kill switch: it resumes what a crashed controller paused, lease or not', async (t) => {
  const victim = (await sleeper(t));
  const dir = stateDir(t);
  const first = createChaos({ stateDir: dir });
  await first.inject({ kind: 'pause', target: `pid:${victim.pid}`, durationMs: 600_000 });
  await until(() => isStopped(victim.pid!), DEADLINE_MS, 'the pause to take');
  // Another process (here: another instance) heals from the records alone.
  const report = await createChaos({ stateDir: dir }).heal();
  assert.equal(report.faults.length, 1);
  await until(() => !isStopped(victim.pid!), DEADLINE_MS, 'heal() to resume it');
});

test('kill, term and restart act on pids; a process already gone is reported, not retried', async (t) => {
  const dir = stateDir(t);
  const chaos = createChaos({ stateDir: dir });
  const a = (await sleeper(t));
  const exitA = new Promise((resolve) => a.once('exit', (code, signal) => resolve(signal)));
  await chaos.inject({ kind: 'kill', target: `pid:${a.pid}` });
  assert.equal(await exitA, 'SIGKILL');

  const b = (await sleeper(t));
  const exitB = new Promise((resolve) => b.once('exit', (code, signal) => resolve(signal)));
  await chaos.inject({ kind: 'term', target: String(b.pid) });
  assert.equal(await exitB, 'SIGTERM');

  const c = (await sleeper(t));
  const restarted = await chaos.inject({ kind: 'restart', target: `pid:${c.pid}` });
  const line = restarted.outcomes.find((outcome) => outcome.includes('started again as pid'));
  assert.ok(line, restarted.outcomes.join('\n'));
  const newPid = Number(/as pid (\d+)/.exec(line!)![1]);
  t.after(() => process.kill(newPid, 'SIGKILL'));
  assert.ok(processExists(newPid) && newPid !== c.pid);

  // A member whose pid died after cluster.json was written: reported gone, nothing retried.
  const d = (await sleeper(t));
  const deadPid = d.pid!;
  d.kill('SIGKILL');
  await new Promise((resolve) => d.once('exit', resolve));
  const cluster: ClusterView = { members: [{ id: 'n1', zone: 'a', clientUrl: 'http://127.0.0.1:9', pid: deadPid }] };
  const fault = await createChaos({ stateDir: dir, cluster }).inject({ kind: 'pause', target: 'n1', durationMs: 1000 });
  assert.match(fault.outcomes.join('\n'), /n1: not running/);
  assert.equal(fault.plan.filter((entry) => entry.startsWith('inject:')).length, 0);
});

test('selectors: leader and follower from /v3/maintenance/status, follower seeded, zone and all', async (t) => {
  const members = await fakeMembers(t, 3, 1);
  const pids = [(await sleeper(t)).pid!, (await sleeper(t)).pid!, (await sleeper(t)).pid!];
  const cluster: ClusterView = { members: members.urls.map((clientUrl, index) => ({ id: `n${index + 1}`, zone: 'abc'[index]!, clientUrl, pid: pids[index]! })) };
  const dir = stateDir(t);
  const plan = async (target: string, seed = 1): Promise<readonly string[]> =>
    (await createChaos({ stateDir: dir, cluster, seed, dryRun: true }).inject({ kind: 'kill', target })).plan;
  assert.deepEqual(await plan('leader'), [`inject: SIGKILL pid ${pids[1]} (n2 (leader))`]);
  assert.deepEqual(await plan('zone:c'), [`inject: SIGKILL pid ${pids[2]} (n3)`]);
  assert.equal((await plan('all')).length, 3);
  assert.equal((await plan('followers')).length, 2);
  const picks = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => plan('follower', seed)));
  assert.ok(picks.every((lines) => lines.length === 1 && !lines[0]!.includes('n2')), 'a follower is never the leader');
  assert.deepEqual(await plan('follower', 42), await plan('follower', 42), 'one seed, one pick');
  members.setLeader(2);
  assert.deepEqual(await plan('leader'), [`inject: SIGKILL pid ${pids[2]} (n3 (leader))`]);
  await assert.rejects(plan('zone:q'), { code: 'KEEL_CHAOS_TARGET_NOT_FOUND' });
  await assert.rejects(plan('n9'), { code: 'KEEL_CHAOS_TARGET_NOT_FOUND' });
  await assert.rejects(plan('gateway'), { code: 'KEEL_CHAOS_TARGET_NOT_FOUND' });
  assert.ok(pids.every((pid) => !isStopped(pid) && processExists(pid)), 'dry runs touched nothing');
});
