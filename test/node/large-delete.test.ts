import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { b64, call, Cluster, eventually } from './cluster-harness.js';

// System test: real `keel node` processes. A DeleteRange, or a lease revoke,
// of more keys than a member deletes in one turn of its event loop
// (DELETE_STEP_KEYS, 10,000, in keel-node.ts) is applied in steps on every
// member (StoreStateMachine.applyInSteps), and still answers as one command
// at one revision, as etcd does.

const KEYS = 25_000;
const PREFIX = 'sweep/';
const PUTS_PER_TXN = 100;

/** Count of keys with the prefix on `url`, serializable (the member's own applied state), at `revision` (0 = current). */
async function countOn(url: string, revision = 0): Promise<number> {
  const response = await call(url, '/v3/kv/range', { key: b64(PREFIX), range_end: b64('sweep0'), count_only: true, serializable: true, ...(revision > 0 ? { revision } : {}) });
  return Number(response.count ?? 0);
}

/** Writes KEYS keys under PREFIX in txns of PUTS_PER_TXN puts (attached to `lease` if given); returns the revision after the last. */
async function fill(cluster: Cluster, lease?: string): Promise<number> {
  let revision = 0;
  for (let first = 0; first < KEYS; first += PUTS_PER_TXN) {
    const success = Array.from({ length: PUTS_PER_TXN }, (_, i) => ({
      request_put: { key: b64(`${PREFIX}${String(first + i).padStart(6, '0')}`), value: b64('v'), ...(lease ? { lease } : {}) },
    }));
    // Puts of fixed values: a txn that timed out and may have applied is safe to send again (it rewrites the same keys).
    for (let attempt = 1; ; attempt++) {
      try {
        const leader = await cluster.leader();
        const response = await call(leader.clientUrl, '/v3/kv/txn', { success }, 30_000);
        revision = Number((response.header as { revision: string }).revision);
        break;
      } catch (error) {
        if (attempt === 5) throw error;
      }
    }
  }
  return revision;
}

/** Each member's 'applied an entry in steps' lines, parsed. */
function steppedLines(cluster: Cluster): { steps: number }[][] {
  return cluster.members.map((member) =>
    member.stderr
      .split('\n')
      .filter((line) => line.includes('applied an entry in steps'))
      .map((line) => JSON.parse(line) as { steps: number }),
  );
}

describe('a DeleteRange of many keys', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3, flags: ['--log-level', 'info'] }); // info: each member logs its steps
  });
  after(async () => {
    await cluster?.stop();
  });

  test('is applied in steps on every member, and answers as one command at one revision', async () => {
    const revision = await fill(cluster);
    const leader = await cluster.leader();
    await eventually(async () => (await countOn(leader.clientUrl)) === KEYS, 30_000, 'every key written');

    const deleted = await call(leader.clientUrl, '/v3/kv/deleterange', { key: b64(PREFIX), range_end: b64('sweep0') }, 60_000);
    assert.equal(Number(deleted.deleted), KEYS, 'one answer counts every key');
    const deletedAt = Number((deleted.header as { revision: string }).revision);
    assert.ok(deletedAt > revision, 'the delete is one revision after the writes');

    for (const member of cluster.members) {
      await eventually(async () => (await countOn(member.clientUrl)) === 0, 60_000, `${member.id} applied the delete`);
      assert.equal(await countOn(member.clientUrl, deletedAt - 1), KEYS, `${member.id}: the revision before the delete still holds every key`);
    }
    await eventually(() => steppedLines(cluster).every((lines) => lines.length === 1), 10_000, "every member logged the delete's steps");
    for (const [i, lines] of steppedLines(cluster).entries()) assert.ok(lines[0]!.steps >= Math.ceil(KEYS / 10_000), `member ${i}: ${KEYS} keys in ${lines[0]!.steps} steps`);
    // Writes after it apply on top of it.
    const after = await call(leader.clientUrl, '/v3/kv/put', { key: b64(`${PREFIX}after`), value: b64('x') }, 30_000);
    assert.ok(Number((after.header as { revision: string }).revision) > deletedAt);
  });

  test("a lease revoke deletes the lease's keys in steps, at one revision", async () => {
    const leader = await cluster.leader();
    const granted = await call(leader.clientUrl, '/v3/lease/grant', { TTL: 600 }, 30_000);
    const lease = String(granted.ID);
    await call(leader.clientUrl, '/v3/kv/deleterange', { key: b64(`${PREFIX}after`) }, 30_000); // the first test's last key: the prefix holds only the lease's keys
    const revision = await fill(cluster, lease);
    const before = steppedLines(cluster).map((lines) => lines.length);
    const revoked = await call((await cluster.leader()).clientUrl, '/v3/lease/revoke', { ID: lease }, 60_000);
    const revokedAt = Number((revoked.header as { revision: string }).revision);
    assert.ok(revokedAt > revision);
    for (const member of cluster.members) {
      await eventually(async () => (await countOn(member.clientUrl)) === 0, 60_000, `${member.id} applied the revoke`);
      assert.equal(await countOn(member.clientUrl, revokedAt - 1), KEYS, `${member.id}: the revision before the revoke still holds every key`);
    }
    await eventually(() => steppedLines(cluster).every((lines, i) => lines.length === before[i]! + 1), 10_000, "every member logged the revoke's steps");
    for (const [i, lines] of steppedLines(cluster).entries()) assert.ok(lines.at(-1)!.steps >= Math.ceil(KEYS / 10_000), `member ${i}: ${KEYS} keys in ${lines.at(-1)!.steps} steps`);
  });
});
