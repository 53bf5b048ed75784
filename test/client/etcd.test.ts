/**
 * The client against a real 3-member etcd 3.4 cluster on loopback (Debian's
 * etcd-server), started here and stopped by pid. Skipped when etcd is not
 * installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeelClient, KeelClientError } from '../../src/client/index.js';
import { EtcdCluster, findEtcdBinary } from '../../bench/lib/etcd-cluster.js';
import { sleepMs } from '../../bench/lib/net.js';

const binary = findEtcdBinary();
const skip = binary === undefined ? 'etcd is not installed (apt-get install -y etcd-server); skipping the real-etcd client tests' : false;

describe('client against a real 3-member etcd cluster', { skip }, () => {
  let cluster: EtcdCluster;
  let client: KeelClient;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new KeelClient({ endpoints: cluster.endpoints });
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('puts, gets, ranges, deletes', async () => {
    const put = await client.put('t/a', 'one');
    assert.ok(put.header.revision > 1);
    const replaced = await client.put('t/a', new Uint8Array([0, 255, 1]), { prevKv: true });
    assert.equal(replaced.prevKv?.value.toString(), 'one');
    const kv = await client.get('t/a');
    assert.deepEqual([...kv!.value], [0, 255, 1]);
    assert.equal(kv!.version, 2);
    assert.equal(kv!.modRevision, replaced.header.revision);
    assert.equal(await client.get('t/missing'), undefined);
    await client.put('t/b', 'two');
    await client.put('u/c', 'three');
    const prefix = await client.range('t/', { prefix: true });
    assert.deepEqual(prefix.kvs.map((each) => each.key.toString()), ['t/a', 't/b']);
    assert.equal(prefix.count, 2);
    const counted = await client.range('t/', { prefix: true, countOnly: true });
    assert.equal(counted.count, 2);
    assert.equal(counted.kvs.length, 0);
    const serializable = await client.get('t/b', { serializable: true });
    assert.ok(serializable === undefined || serializable.value.toString() === 'two');
    const old = await client.get('t/a', { revision: put.header.revision });
    assert.equal(old?.value.toString(), 'one');
    const deleted = await client.delete('t/', { prefix: true, prevKv: true });
    assert.equal(deleted.deleted, 2);
    assert.equal(deleted.prevKvs.length, 2);
    assert.equal((await client.range('t/', { prefix: true })).count, 0);
  });

  it('runs transactions and compare-and-swap', async () => {
    const first = await client.compareAndSwap('cas', 0, 'v1');
    assert.equal(first.succeeded, true);
    const lost = await client.compareAndSwap('cas', 0, 'v2');
    assert.equal(lost.succeeded, false);
    assert.equal(lost.current?.value.toString(), 'v1');
    assert.equal(lost.current?.modRevision, first.revision);
    const byValue = await client.compareAndSwap('cas', 'v1', 'v3');
    assert.equal(byValue.succeeded, true);
    const byRevision = await client.compareAndSwap('cas', byValue.revision, 'v4');
    assert.equal(byRevision.succeeded, true);
    const txn = await client.txn({
      compare: [{ key: 'cas', target: 'VERSION', result: 'GREATER', value: 2 }],
      success: [{ put: { key: 'cas2', value: 'x' } }, { range: { key: 'cas' } }],
      failure: [],
    });
    assert.equal(txn.succeeded, true);
    const read = txn.responses[1];
    assert.equal(read?.type === 'range' ? read.range.kvs[0]?.value.toString() : undefined, 'v4');
  });

  it('reports status and members, and learns the leader', async () => {
    const status = await client.status();
    assert.match(status.version, /^3\.4\./);
    assert.notEqual(status.leader, '0');
    const members = await client.memberList();
    assert.equal(members.members.length, 3);
    const leaderIndex = await cluster.leaderIndex();
    assert.notEqual(leaderIndex, undefined);
    for (let round = 0; round < 50 && client.leader === undefined; round++) {
      await client.put('learn', String(round));
      await sleepMs(20);
    }
    assert.equal(client.leader, cluster.endpoints[leaderIndex!]);
  });

  it('reports a server error with the gRPC code', async () => {
    const status = await client.status();
    await assert.rejects(client.get('x', { revision: status.header.revision + 1_000 }), (error: unknown) => {
      return KeelClientError.is(error) && error.code === 'KEEL_CLIENT_SERVER_ERROR' && (error as KeelClientError & { grpcCode?: number }).grpcCode === 11;
    });
  });

  it('carries on writing when the leader is SIGKILLed', async () => {
    const leaderIndex = await cluster.waitForLeader(10_000);
    const writes = 300;
    const killAt = 50;
    const failures: KeelClientError[] = [];
    let lastSuccess = -1;
    for (let index = 0; index < writes; index++) {
      if (index === killAt) await cluster.kill(leaderIndex, 'SIGKILL');
      try {
        await client.put(`kill/${index}`, String(index), { timeoutMs: 10_000 });
        lastSuccess = index;
      } catch (error) {
        assert.ok(KeelClientError.is(error), String(error));
        failures.push(error);
      }
    }
    // Only writes in flight at the kill, or sent while etcd had no leader and answered in a way that
    // leaves the outcome unknown, may fail; every failure says so. The client then carries on.
    assert.ok(failures.length <= 5, `failures: ${failures.map((error) => `${error.code} ${error.message}`).join('; ')}`);
    for (const failure of failures) assert.equal(failure.mayHaveApplied, true);
    assert.equal(lastSuccess, writes - 1);
    const survivors = await client.range('kill/', { prefix: true, countOnly: true });
    assert.ok(survivors.count >= writes - failures.length);
    const newLeader = await cluster.waitForLeader(10_000);
    assert.notEqual(newLeader, leaderIndex);
    const last = await client.get(`kill/${writes - 1}`);
    assert.equal(last?.value.toString(), String(writes - 1));
  });
  it('watches, keeps a lease alive, locks and elects against etcd too', async () => {
    const watch = client.watch('etcd-watch/', { prefix: true, keepAliveMs: 500, keepAliveTimeoutMs: 5_000 });
    const iterator = watch[Symbol.asyncIterator]();
    const firstBatch = iterator.next();
    const deadline = Date.now() + 30_000;
    while (watch.nextRevision === 0 && Date.now() < deadline) await sleepMs(20);
    const put = await client.put('etcd-watch/a', '1');
    const batch = (await firstBatch).value!;
    assert.equal(batch.events[0]!.kv.modRevision, put.header.revision);
    // etcd's gateway answers a stream only once its request ended: the watch went one way there
    // (watch-fake.test.ts checks that silence on such a stream is no reason to leave it).
    const second = await client.put('etcd-watch/b', '2');
    assert.equal((await iterator.next()).value!.events[0]!.kv.modRevision, second.header.revision);
    assert.equal(watch.reconnects, 0);
    await watch.close();

    const lease = await client.leaseGrant(5);
    const keepAlive = client.leaseKeepAlive(lease.id);
    while (keepAlive.renewals < 1 && Date.now() < deadline) await sleepMs(20);
    assert.equal(keepAlive.ttlSeconds, 5);
    assert.ok((await client.leaseTimeToLive(lease.id)).ttlSeconds > 0);
    await keepAlive.close();
    await client.leaseRevoke(lease.id);
    assert.equal((await client.leaseTimeToLive(lease.id)).ttlSeconds, -1);

    const held = await client.lock('etcd-lock');
    assert.ok(held.key.toString().startsWith('etcd-lock/'));
    await held.unlock();

    const election = client.election('etcd-election');
    await election.campaign('me');
    assert.equal((await election.leader())?.value.toString(), 'me');
    await election.resign();
    assert.equal(await election.leader(), undefined);
  });
});
