import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { Cluster, HttpError, call, get, put, sleep } from '../node/cluster-harness.js';
import { rawEtcd } from './grpc-client.js';
import type { RawEtcd } from './grpc-client.js';

/**
 * etcd's Cluster service against real member processes: a learner is added
 * to a running 3-member cluster over gRPC, its process started with
 * --initial-cluster-state existing, it catches up, is promoted, another
 * member is killed and removed, all while a writer keeps writing; every
 * member's MemberList agrees. Bad input gets etcd's codes and messages and
 * crashes nothing. Waits are bounded loops on observed state, never timings.
 */

interface MemberMessage {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

const WAIT_ROUNDS_MAX = 600; // x 100 ms: a starved 2-core machine runs other clusters at once

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  for (let round = 0; round < WAIT_ROUNDS_MAX; round++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`gave up waiting: ${what}; last error: ${String(last)}`);
}

function grpcAddress(url: string): string {
  return url.replace('http://', '');
}

async function expectGrpcError(promise: Promise<unknown>, code: number, message: string): Promise<void> {
  await assert.rejects(promise, (error: ServiceError) => {
    assert.equal(error.code, code, `${error.code} ${error.details}`);
    assert.equal(error.details, message);
    return true;
  });
}

/** Normalised member list: sorted by id, order-free. */
function listKey(members: MemberMessage[]): string {
  return JSON.stringify(members.map((m) => [m.ID, m.name, [...m.peerURLs].sort(), m.isLearner]).sort());
}

describe('Cluster membership (real processes)', () => {
  let cluster: Cluster;
  const clients = new Map<string, RawEtcd>();
  const client = (id: string): RawEtcd => {
    let c = clients.get(id);
    if (!c) {
      c = rawEtcd(grpcAddress(cluster.member(id).clientUrl));
      clients.set(id, c);
    }
    return c;
  };

  before(async () => {
    // Small snapshot intervals: the learner catches up from a snapshot, so membership must travel in it.
    cluster = await Cluster.start({ nodes: 3, flags: ['--snapshot-entries', '20', '--snapshot-log-ratio', '0', '--snapshot-catch-up-entries', '5'] });
  });

  after(async () => {
    for (const c of clients.values()) c.close();
    await cluster?.stop();
  });

  it('adds a learner, lets it catch up, promotes it and removes a killed member while writes go on', async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m.id !== leader.id)!;
    for (let i = 0; i < 50; i++) await cluster.putUntilAcknowledged(`before/${i}`, `v${i}`);

    // A writer through a member that stays: every acknowledged write must survive the changes.
    let writing = true;
    const acknowledged: string[] = [];
    const writerTarget = follower.id;
    const writer = (async () => {
      for (let i = 0; writing && i < 100_000; i++) {
        try {
          await put(cluster.member(writerTarget).clientUrl, `during/${i}`, `v${i}`);
          acknowledged.push(`during/${i}`);
        } catch {
          await sleep(20); // leader change or a member going away: the write's outcome is unknown, not acknowledged
        }
      }
    })();

    // MemberAdd through a follower (forwarded to the leader), as a learner.
    const joining = await cluster.addMember('n4');
    const peerUrl = `http://127.0.0.1:${joining.peerPort}`;
    const added = await client(follower.id).call('Cluster', 'MemberAdd', { peerURLs: [peerUrl], isLearner: true }, 15_000);
    const member = added.member as MemberMessage;
    assert.deepEqual(member.peerURLs, [peerUrl]);
    assert.equal(member.isLearner, true);
    assert.equal(member.name, '', 'unstarted: no name yet, as etcd');
    assert.equal((added.members as MemberMessage[]).length, 4);
    assert.ok((added.members as MemberMessage[]).some((m) => m.ID === member.ID && m.isLearner));

    // The same peer URL again: etcd's error.
    await expectGrpcError(client(leader.id).call('Cluster', 'MemberAdd', { peerURLs: [peerUrl], isLearner: true }), 9, 'etcdserver: Peer URLs already exists');
    // A second learner: etcd allows one by default.
    await expectGrpcError(client(leader.id).call('Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:1'], isLearner: true }), 9, 'etcdserver: too many learner members in cluster');

    // Start the learner's process: it joins (no bootstrap) and catches up from the leader.
    cluster.launch('n4');
    const caughtUp = await until('the learner reads a key written before it joined', async () => {
      const read = await get(joining.clientUrl, 'before/49', { serializable: true });
      return read.value === 'v49' ? read : undefined;
    });
    assert.equal(caughtUp.value, 'v49');
    const status = await call(joining.clientUrl, '/v3/maintenance/status', {});
    assert.equal(status.isLearner, true);
    // It published its name: every member now lists it as n4.
    await until('the learner is listed by name', async () => {
      const list = (await client(leader.id).call('Cluster', 'MemberList', {})).members as MemberMessage[];
      return list.find((m) => m.ID === member.ID)?.name === 'n4' ? true : undefined;
    });

    // Promote it (the leader may still answer "not in sync" for a moment).
    const promoted = await until('the learner is promoted', async () => {
      try {
        return await client(follower.id).call('Cluster', 'MemberPromote', { ID: member.ID }, 15_000);
      } catch (error) {
        if ((error as ServiceError).details === 'etcdserver: can only promote a learner member which is in sync with leader') return undefined;
        throw error;
      }
    });
    assert.ok((promoted.members as MemberMessage[]).every((m) => !m.isLearner));
    await expectGrpcError(client(leader.id).call('Cluster', 'MemberPromote', { ID: member.ID }), 9, 'etcdserver: can only promote a learner member');

    // Kill a member that is neither the writer's target nor the leader, then remove it.
    const currentLeader = await cluster.leader();
    const victim = cluster.members.find((m) => m.id !== currentLeader.id && m.id !== writerTarget && m.id !== 'n4' && m.child)!;
    const list = (await client(currentLeader.id).call('Cluster', 'MemberList', {})).members as MemberMessage[];
    const victimId = list.find((m) => m.name === victim.id)!.ID;
    await cluster.kill(victim.id, 'SIGKILL');
    const removed = await client(currentLeader.id).call('Cluster', 'MemberRemove', { ID: victimId }, 15_000);
    assert.equal((removed.members as MemberMessage[]).length, 3);
    assert.ok(!(removed.members as MemberMessage[]).some((m) => m.ID === victimId));

    // Writes keep committing with the new configuration (n4 is a voter now).
    const afterCount = acknowledged.length;
    await until('writes continue after the changes', async () => (acknowledged.length > afterCount + 20 ? true : undefined));
    writing = false;
    await writer;
    assert.ok(acknowledged.length > 0);

    // Every running member lists the same members.
    const running = cluster.members.filter((m) => m.child);
    assert.equal(running.length, 3);
    await until('every member lists the same members', async () => {
      const lists = await Promise.all(running.map(async (m) => listKey((await client(m.id).call('Cluster', 'MemberList', {})).members as MemberMessage[])));
      return lists.every((l) => l === lists[0]) ? true : undefined;
    });

    // Every acknowledged write is on the new member (after a linearizable read brings it up to date).
    await get(joining.clientUrl, 'before/0');
    for (const key of acknowledged.slice(-50)) assert.ok((await get(joining.clientUrl, key, { serializable: true })).value !== undefined, key);

    // The removed member, restarted, learns it was removed and stops; its data dir then refuses to start.
    cluster.launch(victim.id);
    const exit = await cluster.exited(victim.id, 60_000);
    assert.equal(exit?.code, 0, cluster.member(victim.id).stderr.slice(-2000));
    cluster.launch(victim.id);
    const refused = await cluster.exited(victim.id, 60_000);
    // 78: a failure a restart cannot fix, so supervisors (keel up, systemd's RestartPreventExitStatus) leave it down.
    assert.equal(refused?.code, 78);
    assert.match(cluster.member(victim.id).stderr, /KEEL_NODE_MEMBER_REMOVED/);
  });

  it('answers bad input with etcd codes and messages, and every member stays up', async () => {
    const leader = await cluster.leader();
    const c = client(leader.id);
    const badUrls = 'etcdserver: given member URLs are invalid';
    await expectGrpcError(c.call('Cluster', 'MemberAdd', {}), 3, badUrls);
    await expectGrpcError(c.call('Cluster', 'MemberAdd', { peerURLs: ['not a url'] }), 3, badUrls);
    await expectGrpcError(c.call('Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1'] }), 3, badUrls);
    await expectGrpcError(c.call('Cluster', 'MemberRemove', { ID: '12345' }), 5, 'etcdserver: member not found');
    await expectGrpcError(c.call('Cluster', 'MemberRemove', {}), 5, 'etcdserver: member not found');
    await expectGrpcError(c.call('Cluster', 'MemberPromote', { ID: '12345' }), 5, 'etcdserver: member not found');
    await expectGrpcError(c.call('Cluster', 'MemberUpdate', { ID: '12345', peerURLs: ['http://127.0.0.1:9'] }), 5, 'etcdserver: member not found');
    const list = (await c.call('Cluster', 'MemberList', {})).members as MemberMessage[];
    const other = list.find((m) => m.peerURLs[0] !== undefined && m.name !== leader.id)!;
    const mine = list.find((m) => m.name === leader.id)!;
    await expectGrpcError(c.call('Cluster', 'MemberUpdate', { ID: other.ID, peerURLs: mine.peerURLs }), 9, 'etcdserver: Peer URLs already exists');
    await expectGrpcError(c.call('Cluster', 'MemberUpdate', { ID: other.ID, peerURLs: [] }), 3, badUrls);

    // The JSON gateway: same errors, grpc-gateway's body.
    for (const [path, body, status, message] of [
      ['/v3/cluster/member/add', { peerURLs: 'http://x:1' }, 400, badUrls],
      ['/v3/cluster/member/remove', { ID: 'abc' }, 400, 'ID must be an unsigned 64-bit integer'],
      ['/v3/cluster/member/remove', { ID: '999' }, 404, 'etcdserver: member not found'],
      ['/v3/cluster/member/promote', { ID: mine.ID }, 400, 'etcdserver: can only promote a learner member'],
      ['/v3/cluster/member/add', [1, 2], 400, 'body must be a JSON object'],
    ] as const) {
      await assert.rejects(call(leader.clientUrl, path, body), (error: HttpError) => {
        assert.equal(error.status, status, JSON.stringify(error.body));
        assert.equal(error.body.error, message);
        return true;
      });
    }
    // MemberUpdate of the same URLs goes through and answers the members.
    const updated = await call(leader.clientUrl, '/v3/cluster/member/update', { ID: other.ID, peerURLs: other.peerURLs });
    assert.ok((updated.members as unknown[]).length >= 3);
    for (const m of cluster.members.filter((x) => x.child)) {
      const response = await fetch(`${m.clientUrl}/livez`);
      assert.equal(response.status, 200, m.id);
    }
  });
});
