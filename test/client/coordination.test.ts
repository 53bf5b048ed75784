import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeelClient, type KeyValue, LeaseLostError } from '../../src/client/index.js';
import { type Cluster, eventually, withTimeout } from '../node/cluster-harness.js';
import { useClusterAndClient } from './cluster-client.js';

// Leases, keep-alives, locks and elections of the client against 3 real keel
// members: a lease kept alive past its TTL then revoked, a keep-alive that
// rides out a leader kill, a lock contended by several clients with no
// overlap, and an election handed over on resign.
let cluster: Cluster;
let client: KeelClient;

useClusterAndClient((started, made) => {
  cluster = started;
  client = made;
});

test('a lease kept alive outlives its TTL, then revoke removes its keys and reports it lost', async () => {
  const granted = await client.leaseGrant(2);
  assert.ok(granted.ttlSeconds >= 2);
  await client.put('lease/held', 'x', { lease: granted.id });
  const keepAlive = client.leaseKeepAlive(granted.id);
  const grantedAtMs = Date.now();
  // Past twice the TTL, with several renewals: without them the lease would be gone.
  await eventually(() => Date.now() - grantedAtMs > 2 * granted.ttlSeconds * 1000 && keepAlive.renewals >= 4, 30_000, 'renewals past twice the TTL');
  assert.equal((await client.get('lease/held'))?.lease, granted.id);
  const live = await client.leaseTimeToLive(granted.id, { keys: true });
  assert.ok(live.ttlSeconds > 0);
  assert.deepEqual(live.keys.map(String), ['lease/held']);
  assert.ok((await client.leases()).ids.includes(granted.id));

  await client.leaseRevoke(granted.id);
  const lost = await withTimeout(keepAlive.lost, 30_000, 'keep-alive did not report the revoked lease');
  assert.ok(lost instanceof LeaseLostError);
  assert.equal(lost.reason, 'not-found');
  assert.equal(keepAlive.stopped, true);
  assert.equal(await client.get('lease/held'), undefined);
  assert.equal((await client.leaseTimeToLive(granted.id)).ttlSeconds, -1);
  await assert.rejects(client.leaseRevoke(granted.id), (error: unknown) => (error as { grpcCode?: number }).grpcCode === 5);
});

test('a keep-alive rides out a leader kill', async () => {
  const granted = await client.leaseGrant(3);
  await client.put('lease/survivor', 'x', { lease: granted.id });
  const keepAlive = client.leaseKeepAlive(granted.id);
  await eventually(() => keepAlive.renewals >= 1, 30_000, 'the first renewal');
  const leader = await cluster.leader();
  await cluster.kill(leader.id, 'SIGKILL');
  const renewalsAtKill = keepAlive.renewals;
  const killedAtMs = Date.now();
  await eventually(() => keepAlive.renewals >= renewalsAtKill + 3 && Date.now() - killedAtMs > 2 * granted.ttlSeconds * 1000, 45_000, 'renewals after the kill');
  assert.equal(keepAlive.stopped, false);
  assert.ok((await client.leaseTimeToLive(granted.id)).ttlSeconds > 0);
  assert.equal((await client.get('lease/survivor'))?.value.toString(), 'x');
  await keepAlive.close();
  await client.leaseRevoke(granted.id);
  cluster.launch(leader.id);
  await cluster.waitReady();
});

test('a lock contended by several clients is held by one at a time', async () => {
  const clients = Array.from({ length: 4 }, () => new KeelClient({ endpoints: cluster.members.map((m) => m.clientUrl) }));
  let holders = 0;
  let overlaps = 0;
  let entries = 0;
  try {
    await Promise.all(
      clients.map(async (each, index) => {
        for (let round = 0; round < 3; round++) {
          const held = await each.lock('locks/contended', { ttlSeconds: 5, timeoutMs: 60_000 });
          holders++;
          if (holders > 1) overlaps++;
          entries++;
          // A read-modify-write that only the holder makes: lost updates would show an overlap too.
          const count = Number((await each.get('locks/count'))?.value.toString() ?? '0');
          await each.put('locks/count', String(count + 1));
          await each.put(`locks/last`, `${index}/${round}`);
          holders--;
          await held.unlock();
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((each) => each.close()));
  }
  assert.equal(overlaps, 0);
  assert.equal(entries, 12);
  assert.equal((await client.get('locks/count'))?.value.toString(), '12');
  assert.equal((await client.range('locks/contended/', { prefix: true })).count, 0, 'every lock key released');
});

test('an election hands over on resign, and observers see each leader in order', async () => {
  const other = new KeelClient({ endpoints: cluster.members.map((m) => m.clientUrl) });
  try {
    const first = client.election('elect/main');
    const second = other.election('elect/main');
    assert.equal(await first.leader(), undefined);
    const observer = client.election('elect/main').observe();
    const seen: string[] = [];
    const observed = (async () => {
      for await (const kv of observer as AsyncIterable<KeyValue>) seen.push(kv.value.toString());
    })();

    await first.campaign('alpha', { ttlSeconds: 5 });
    let secondWon = false;
    const secondCampaign = second.campaign('beta', { ttlSeconds: 5 }).then((key) => {
      secondWon = true;
      return key;
    });
    await eventually(() => seen.includes('alpha'), 30_000, 'observer sees alpha');
    await first.proclaim('alpha-2');
    assert.equal((await first.leader())?.value.toString(), 'alpha-2');
    assert.equal(secondWon, false, 'the second candidate waits while the first leads');

    await first.resign();
    const won = await withTimeout(secondCampaign, 30_000, 'second candidate did not win after resign');
    assert.equal((await second.leader())?.key.toString(), won.key.toString());
    assert.equal((await second.leader())?.value.toString(), 'beta');
    await eventually(() => seen.includes('beta'), 30_000, 'observer sees beta');
    assert.deepEqual(seen, ['alpha', 'alpha-2', 'beta']);
    await assert.rejects(first.proclaim('late'), (error: unknown) => (error as { code?: string }).code === 'KEEL_CLIENT_INVALID_ARGUMENT');
    await second.resign();
    await observer.close();
    await observed;
  } finally {
    await other.close();
  }
});
