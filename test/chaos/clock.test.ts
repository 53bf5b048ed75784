import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChaos } from '../../src/chaos/index.js';
import { startOneMember } from './fixtures/keel-up.js';
import { call, get } from '../node/cluster-harness.js';
import { stateDir, until } from './fixtures/helpers.js';

const DEADLINE_MS = 60_000;
/** Long enough that on any machine the lease outlives the test's wait unless the member's clock is skewed. */
const LEASE_TTL_SECONDS = 60;

async function clockState(url: string): Promise<{ rate: number; aheadMs: number }> {
  return (await (await fetch(`${url}/debug/clock`)).json()) as { rate: number; aheadMs: number };
}

/** A lease with a key attached; resolves with the lease id. */
async function leasedKey(url: string, key: string): Promise<string> {
  const lease = await call(url, '/v3/lease/grant', { TTL: LEASE_TTL_SECONDS });
  await call(url, '/v3/kv/put', { key: Buffer.from(key).toString('base64'), value: Buffer.from('held').toString('base64'), lease: lease.ID });
  return String(lease.ID);
}

test('keel chaos clock: a member clock running ten times fast expires its leases early; a jump forward expires them at once; the undo stops the drift', { timeout: 180_000 }, async (t) => {
  const { dataDir, url } = await startOneMember(t, { KEEL_FAILPOINT_API: '1' });
  const chaos = createChaos({ dataDir, stateDir: stateDir(t) });
  assert.deepEqual(await clockState(url), { rate: 1, aheadMs: 0 });

  await leasedKey(url, 'clock/fast');
  const fast = await chaos.inject({ kind: 'clock', target: 'n1', rate: 10, durationMs: 120_000 });
  assert.equal((await clockState(url)).rate, 10);
  // The wait is bounded by the lease's real TTL: a lease gone within it was expired by the skewed clock
  // (with the clock at 10x, after about a tenth of it).
  await until(async () => (await get(url, 'clock/fast')).value === undefined, (LEASE_TTL_SECONDS - 10) * 1_000, 'the lease to expire on the fast clock');
  assert.ok((await clockState(url)).aheadMs > 0, 'the member clock runs ahead of the host');
  assert.deepEqual((await fast.heal())?.errors, []);
  const afterHeal = await clockState(url);
  assert.equal(afterHeal.rate, 1, 'the undo sets the rate back to 1');

  await leasedKey(url, 'clock/jump');
  const jump = await chaos.inject({ kind: 'clock', target: 'n1', bumpMs: (LEASE_TTL_SECONDS + 30) * 1_000, durationMs: 60_000 });
  assert.ok((await clockState(url)).aheadMs >= afterHeal.aheadMs + (LEASE_TTL_SECONDS + 30) * 1_000 - 1, "the jump shows in the skew (within float rounding)");
  await until(async () => (await get(url, 'clock/jump')).value === undefined, (LEASE_TTL_SECONDS - 10) * 1_000, 'the lease to expire after the jump');
  assert.deepEqual((await jump.heal())?.errors, []);
  // The member still serves: a jump is not mistaken for a stall (which would extend every lease), and writes go on.
  await call(url, '/v3/kv/put', { key: Buffer.from('clock/after').toString('base64'), value: Buffer.from('ok').toString('base64') });
  assert.equal((await get(url, 'clock/after')).value, 'ok');
});

test('keel chaos clock refuses bad skews before any call, and members without the fault-injection API refuse it', { timeout: 120_000 }, async (t) => {
  const { dataDir, url } = await startOneMember(t, { KEEL_FAILPOINT_API: '' });
  const chaos = createChaos({ dataDir, stateDir: stateDir(t) });
  for (const bad of [{}, { rate: 0 }, { rate: 11 }, { rate: Number.NaN }, { bumpMs: -5 }, { bumpMs: 0 }]) {
    await assert.rejects(chaos.inject({ kind: 'clock', target: 'n1', durationMs: 5_000, ...bad }), { code: 'KEEL_CHAOS_INVALID_FAULT' }, JSON.stringify(bad));
  }
  assert.equal((await fetch(`${url}/debug/clock`)).status, 403);
  await assert.rejects(chaos.inject({ kind: 'clock', target: 'n1', rate: 2, durationMs: 5_000 }), { code: 'KEEL_CHAOS_FAILPOINT_REFUSED' });
  await until(() => chaos.active().length === 0, DEADLINE_MS, 'no active fault');
});
