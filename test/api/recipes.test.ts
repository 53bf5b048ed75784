import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { etcdServices } from '../../src/api/grpc/proto.js';
import type { Message } from '../../src/api/grpc/codec.js';
import { Cluster } from '../node/cluster-harness.js';
import { rawEtcd } from './grpc-client.js';
import type { RawEtcd } from './grpc-client.js';

/**
 * etcd's v3lock and v3election services on a 3-member keel cluster of real
 * processes, over a raw gRPC client. Needs `npm run build`. Waits are bounded.
 */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('v3lock and v3election', () => {
  let cluster: Cluster;
  let clients: RawEtcd[];
  const on = (index: number): RawEtcd => clients[index % clients.length]!;
  const grant = async (ttl = 30): Promise<string> => (await on(0).call('Lease', 'LeaseGrant', { TTL: String(ttl) })).ID as string;

  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
    clients = cluster.members.map((m) => rawEtcd(`127.0.0.1:${m.clientPort}`));
  });
  after(async () => {
    for (const client of clients ?? []) client.close();
    await cluster?.stop();
  });

  it('a lock admits one holder at a time among contenders on different members', async () => {
    let inside = 0;
    let overlaps = 0;
    let acquired = 0;
    await Promise.all(
      [0, 1, 2, 3].map(async (contender) => {
        const lease = await grant();
        for (let round = 0; round < 3; round++) {
          const held = await on(contender).call('Lock', 'Lock', { name: Buffer.from('L'), lease }, 30_000);
          inside++;
          if (inside > 1) overlaps++;
          await sleep(5);
          inside--;
          acquired++;
          await on(contender + 1).call('Lock', 'Unlock', { key: held.key });
        }
      }),
    );
    assert.equal(overlaps, 0);
    assert.equal(acquired, 12);
  });

  it('a waiter gets the lock when the holder\'s lease is revoked (a crashed holder), also across a raft leader kill', async () => {
    const holderLease = await grant();
    const waiterLease = await grant();
    const held = await on(0).call('Lock', 'Lock', { name: Buffer.from('crash'), lease: holderLease });
    assert.ok(Buffer.from(held.key as Buffer).toString().startsWith('crash/'));
    const leader = await cluster.leader();
    const waiterMember = cluster.members.findIndex((m) => m.id !== leader.id);
    let granted = false;
    const waiting = on(waiterMember)
      .call('Lock', 'Lock', { name: Buffer.from('crash'), lease: waiterLease }, 60_000)
      .then((value) => {
        granted = true;
        return value;
      });
    await sleep(300);
    assert.equal(granted, false, 'the lock was granted while held');
    await cluster.kill(leader.id, 'SIGKILL');
    await sleep(1_000);
    assert.equal(granted, false, 'the lock was granted while held, after the leader kill');
    for (let attempt = 0; ; attempt++) {
      try {
        await on(waiterMember).call('Lease', 'LeaseRevoke', { ID: holderLease });
        break;
      } catch (error) {
        if (attempt > 50) throw error;
        await sleep(200);
      }
    }
    const got = await waiting;
    assert.ok(Buffer.from(got.key as Buffer).toString().startsWith('crash/'));
    cluster.launch(leader.id);
    await cluster.waitReady();
  });

  it('refuses a lock without a lease and an empty name with InvalidArgument', async () => {
    await assert.rejects(on(0).call('Lock', 'Lock', { name: Buffer.from('x'), lease: '0' }), (e: ServiceError) => e.code === 3);
    await assert.rejects(on(0).call('Lock', 'Lock', { name: Buffer.alloc(0), lease: await grant() }), (e: ServiceError) => e.code === 3);
    await assert.rejects(on(0).call('Lock', 'Lock', { name: Buffer.from('x'), lease: '12345' }), (e: ServiceError) => e.code === 5);
  });

  it('elects one leader, proclaims, observes in order, hands over on resign, and refuses a stale leader key', async () => {
    const name = Buffer.from('E');
    await assert.rejects(on(0).call('Election', 'Leader', { name }), (e: ServiceError) => e.code === 2 && e.details === 'election: no leader');
    const leaseA = await grant();
    const leaseB = await grant();
    const a = await on(0).call('Election', 'Campaign', { name, lease: leaseA, value: Buffer.from('a') });
    const leaderA = a.leader as Message;
    const observed: string[] = [];
    const services = etcdServices();
    const observerClient = new services.Election(`127.0.0.1:${cluster.members[2]!.clientPort}`, credentials.createInsecure());
    const observer = (observerClient as unknown as { Observe: (r: Message, m: Metadata) => ClientReadableStream<Message> }).Observe({ name }, new Metadata());
    observer.on('data', (update: Message) => observed.push(Buffer.from((update.kv as Message).value as Buffer).toString()));
    observer.on('error', () => {});
    let bElected = false;
    const b = on(1)
      .call('Election', 'Campaign', { name, lease: leaseB, value: Buffer.from('b') }, 60_000)
      .then((value) => {
        bElected = true;
        return value;
      });
    await sleep(300);
    assert.equal(bElected, false);
    await on(1).call('Election', 'Proclaim', { leader: leaderA, value: Buffer.from('a2') });
    assert.equal(Buffer.from(((await on(2).call('Election', 'Leader', { name })).kv as Message).value as Buffer).toString(), 'a2');
    await on(0).call('Election', 'Resign', { leader: leaderA });
    const leaderB = (await b).leader as Message;
    assert.equal(Number(leaderB.rev) > Number(leaderA.rev), true);
    await assert.rejects(on(0).call('Election', 'Proclaim', { leader: leaderA, value: Buffer.from('stale') }), (e: ServiceError) => e.code === 2 && e.details === 'election: not leader');
    for (let i = 0; i < 100 && observed.at(-1) !== 'b'; i++) await sleep(50);
    assert.deepEqual(observed, ['a', 'a2', 'b']);
    observer.cancel();
    observerClient.close();
  });

  it('serves the JSON gateway paths', async () => {
    const url = cluster.members[0]!.clientUrl;
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
      return (await response.json()) as Record<string, unknown>;
    };
    const lease = await grant();
    const locked = await post('/v3/lock/lock', { name: Buffer.from('J').toString('base64'), lease });
    assert.ok(Buffer.from(locked.key as string, 'base64').toString().startsWith('J/'));
    await post('/v3/lock/unlock', { key: locked.key });
    const campaign = await post('/v3/election/campaign', { name: Buffer.from('JE').toString('base64'), lease, value: Buffer.from('v').toString('base64') });
    const leader = await post('/v3/election/leader', { name: Buffer.from('JE').toString('base64') });
    assert.equal(Buffer.from((leader.kv as { value: string }).value, 'base64').toString(), 'v');
    await post('/v3/election/resign', { leader: campaign.leader });
    const none = await fetch(`${url}/v3/election/leader`, { method: 'POST', body: JSON.stringify({ name: Buffer.from('JE').toString('base64') }) });
    assert.equal(none.status, 500);
    assert.equal(((await none.json()) as { error: string }).error, 'election: no leader');
  });
});
