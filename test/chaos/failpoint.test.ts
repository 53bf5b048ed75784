import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChaos, readClusterView } from '../../src/chaos/index.js';
import { startOneMember } from './fixtures/keel-up.js';
import { put } from '../node/cluster-harness.js';
import { stateDir, until } from './fixtures/helpers.js';

const DEADLINE_MS = 60_000;

async function listed(url: string): Promise<Record<string, string>> {
  return ((await (await fetch(`${url}/debug/failpoints`)).json()) as { failpoints: Record<string, string> }).failpoints;
}

test('failpoints are refused by a member started without the failpoint API, and unknown ones before any call', { timeout: 120_000 }, async (t) => {
  const { dataDir, url } = await startOneMember(t, { KEEL_FAILPOINT_API: '' });
  const chaos = createChaos({ dataDir, stateDir: stateDir(t) });
  assert.equal((await fetch(`${url}/debug/failpoints`)).status, 403);
  await assert.rejects(chaos.inject({ kind: 'failpoint', target: 'n1', name: 'apply-before', action: 'crash', durationMs: 5_000 }), { code: 'KEEL_CHAOS_FAILPOINT_REFUSED' });
  await assert.rejects(chaos.inject({ kind: 'failpoint', target: 'n1', name: 'no-such-point', action: 'crash', durationMs: 5_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  await assert.rejects(chaos.inject({ kind: 'failpoint', target: 'n1', name: 'apply-before', action: 'explode', durationMs: 5_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  // The refused injection left nothing behind for the watchdog.
  await until(() => chaos.active().length === 0, DEADLINE_MS, 'no active fault');
});

test('keel chaos failpoint switches a failpoint on in a running member and off again; a crash failpoint kills it and keel up restarts it clean', { timeout: 120_000 }, async (t) => {
  const { dataDir, url } = await startOneMember(t, { KEEL_FAILPOINT_API: '1' });
  const chaos = createChaos({ dataDir, stateDir: stateDir(t) });
  const sleepy = await chaos.inject({ kind: 'failpoint', target: 'n1', name: 'apply-before', action: 'sleep(1)', durationMs: 60_000 });
  assert.deepEqual(await listed(url), { 'apply-before': 'sleep(1)' });
  await put(url, 'fp/a', 'applied through a sleeping failpoint');
  await sleepy.heal();
  assert.deepEqual(await listed(url), {});

  const pidBefore = readClusterView(dataDir).members[0]!.pid;
  const crash = await chaos.inject({ kind: 'failpoint', target: 'n1', name: 'apply-before', action: 'crash@1', durationMs: 60_000 });
  await put(url, 'fp/b', 'the write that crashes it', 2_000).catch(() => undefined); // may or may not have applied: the member dies applying it
  await until(() => {
    const pid = readClusterView(dataDir).members[0]!.pid;
    return pid !== null && pid !== pidBefore;
  }, DEADLINE_MS, 'keel up to restart the crashed member');
  await until(async () => fetch(`${url}/readyz`).then((r) => r.ok, () => false), DEADLINE_MS, 'the restarted member to be ready');
  assert.deepEqual(await listed(url), {}, 'run-time failpoints die with the process');
  assert.deepEqual((await crash.heal())?.errors, []);
});
