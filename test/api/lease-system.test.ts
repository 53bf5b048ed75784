import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { b64, call, Cluster, eventually, get, HttpError, sleep } from '../node/cluster-harness.js';
import type { Member } from '../node/cluster-harness.js';
import { rawEtcd } from './grpc-client.js';

/**
 * Leases and linearizable reads around leader changes and a paused leader,
 * on 3 real member processes (the built binary; `npm run build` first):
 * a leader change must not expire leases early; a leader SIGSTOPped past the
 * TTLs must not revoke in bulk when it resumes; keep-alives are forwarded by
 * followers; bad Lease input never takes a member down; and a resumed old
 * leader never serves a stale linearizable read. Every wait is bounded.
 */

async function grant(url: string, ttlSeconds: number): Promise<string> {
  const response = await call(url, '/v3/lease/grant', { TTL: String(ttlSeconds) });
  return String(response.ID);
}

/** One keep-alive stream request carrying every id (one JSON line each); resolves to the TTL answered per id. */
async function keepAlive(url: string, ids: readonly string[], timeoutMs = 3_000): Promise<Map<string, number>> {
  const response = await fetch(`${url}/v3/lease/keepalive`, {
    method: 'POST',
    body: ids.map((id) => JSON.stringify({ ID: id })).join('\n'),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const ttls = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (!line) continue;
    const parsed = JSON.parse(line) as { result?: { ID: string; TTL: string }; error?: unknown };
    if (parsed.result) ttls.set(parsed.result.ID, Number(parsed.result.TTL));
  }
  return ttls;
}

/**
 * Keeps `ids` alive through `urls` (tried in turn) every `intervalMs` until
 * stopped, as a client would; records every TTL 0 answer (a lease the
 * cluster says is gone).
 */
function keeper(urls: () => string[], ids: readonly string[], intervalMs = 300): { stop(): Promise<void>; lost: Set<string>; rounds: () => number } {
  let stopped = false;
  let rounds = 0;
  const lost = new Set<string>();
  const loop = (async () => {
    for (let round = 0; round < 10_000 && !stopped; round++) {
      const candidates = urls();
      for (const url of candidates) {
        try {
          const ttls = await keepAlive(url, ids);
          if (ttls.size === 0) continue;
          for (const [id, ttl] of ttls) if (ttl <= 0) lost.add(id);
          rounds++;
          break;
        } catch {
          // that member is down or not answering: the next one
        }
      }
      await sleep(intervalMs);
    }
  })();
  return {
    lost,
    rounds: () => rounds,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

async function leaderSeenBy(member: Member): Promise<string | undefined> {
  try {
    const status = (await call(member.clientUrl, '/v3/maintenance/status', {}, 1_000)) as { leader?: string };
    return status.leader;
  } catch {
    return undefined;
  }
}

async function memberIdOf(member: Member): Promise<string> {
  const status = (await call(member.clientUrl, '/v3/maintenance/status', {})) as { header: { member_id: string } };
  return status.header.member_id;
}

describe('leases and reads around leader changes (3 members)', () => {
  let cluster: Cluster;
  before(async () => {
    // The failpoint API lets one test slow the leader's disk (wal-before-write sleeps on a timer, the loop keeps running).
    cluster = await Cluster.start({ nodes: 3, flags: ['--enable-failpoint-api'] });
  });
  after(async () => {
    for (const member of cluster?.members ?? []) member.child?.kill('SIGCONT');
    await cluster?.stop();
  });

  const running = (): Member[] => cluster.members.filter((m) => m.child);

  /** SIGSTOPs `stopped` and waits until the others agree on a new leader; returns it. */
  async function stopAndReelect(stopped: Member): Promise<Member> {
    const oldId = await memberIdOf(stopped);
    stopped.child!.kill('SIGSTOP');
    const others = running().filter((m) => m !== stopped);
    let leader: Member | undefined;
    await eventually(async () => {
      for (const member of others) {
        const seen = await leaderSeenBy(member);
        if (seen && seen !== oldId && seen === (await memberIdOf(member))) leader = member;
      }
      return leader !== undefined;
    }, 20_000, 'a new leader among the others');
    return leader!;
  }

  it('a keep-alive through a follower is forwarded to the leader and refreshes the lease there', async () => {
    const leader = await cluster.leader();
    const follower = running().find((m) => m !== leader)!;
    const id = await grant(follower.clientUrl, 5);
    const ttls = await keepAlive(follower.clientUrl, [id]);
    assert.equal(ttls.get(id), 5);
    const timeToLive = await call(follower.clientUrl, '/v3/lease/timetolive', { ID: id });
    assert.ok(Number(timeToLive.TTL) > 0 && Number(timeToLive.TTL) <= 5);
    assert.equal(timeToLive.grantedTTL, '5');
  });

  it('a lease granted through a follower is known to the leader\'s keep-alive and time-to-live while the leader still lags applying it', async () => {
    // Bug it pins (a CI failure of etcdctl lock: "session expired"): with a
    // slow leader disk, followers learn the commit and apply a grant while the
    // leader is still writing; the follower answers the grant, the client's
    // first keep-alive reaches the leader, which had no deadline for the
    // lease yet and answered TTL 0, so the client dropped its session.
    const leader = await cluster.leader();
    const follower = running().find((m) => m !== leader)!;
    const setFailpoint = async (action: string): Promise<void> => {
      const response = await fetch(`${leader.clientUrl}/debug/failpoints`, { method: 'POST', body: JSON.stringify({ name: 'wal-before-write', action }), signal: AbortSignal.timeout(5_000) });
      assert.equal(response.status, 200, await response.text());
    };
    await setFailpoint('sleep(1500)');
    try {
      for (let round = 0; round < 3; round++) {
        const id = await grant(follower.clientUrl, 30);
        const [ttls, timeToLive] = await Promise.all([keepAlive(leader.clientUrl, [id], 20_000), call(leader.clientUrl, '/v3/lease/timetolive', { ID: id }, 20_000)]);
        assert.equal(ttls.get(id), 30, `round ${round}: the leader answered a keep-alive for a lease its follower had granted with ${ttls.get(id)}`);
        assert.equal(timeToLive.grantedTTL, '30', `round ${round}: ${JSON.stringify(timeToLive)}`);
      }
    } finally {
      await setFailpoint('off');
    }
  });

  it('a leader change does not expire a lease that is kept alive', async () => {
    const leader = await cluster.leader();
    const followers = running().filter((m) => m !== leader);
    const id = await grant(followers[0]!.clientUrl, 3);
    await call(followers[0]!.clientUrl, '/v3/kv/put', { key: b64('lease/change'), value: b64('held'), lease: id });
    const keep = keeper(() => followers.map((m) => m.clientUrl), [id]);
    try {
      await cluster.kill(leader.id, 'SIGKILL');
      const newLeader = await cluster.leader();
      assert.notEqual(newLeader.id, leader.id);
      // Keep it alive across more than a TTL under the new leader.
      const roundsAtElection = keep.rounds();
      await eventually(() => keep.rounds() >= roundsAtElection + 12, 20_000, 'keep-alives under the new leader');
      assert.deepEqual([...keep.lost], [], 'a keep-alive was answered with TTL 0');
      assert.equal((await get(newLeader.clientUrl, 'lease/change')).value, 'held');
      const timeToLive = await call(newLeader.clientUrl, '/v3/lease/timetolive', { ID: id });
      assert.ok(Number(timeToLive.TTL) > 0, `TTL ${String(timeToLive.TTL)}`);
    } finally {
      await keep.stop();
      cluster.launch(leader.id);
      await cluster.waitReady();
    }
  });

  it('a leader SIGSTOPped past the TTLs of 50 kept-alive leases does not revoke them when it resumes', async () => {
    const leader = await cluster.leader();
    const followers = running().filter((m) => m !== leader);
    // A clean slate: leases left by earlier tests are no longer kept alive and would expire, legitimately, during this one.
    const leftover = (await call(leader.clientUrl, '/v3/lease/leases', {})).leases as { ID: string }[] | undefined;
    for (const lease of leftover ?? []) await call(leader.clientUrl, '/v3/lease/revoke', { ID: lease.ID }).catch(() => {});
    const ids: string[] = [];
    const expiredBefore = await Promise.all(running().map((m) => metric(m.clientUrl, 'keel_lease_expired_total')));
    // The client keeps them alive through the followers only, as a client that lost the leader would. It starts
    // before the first grant and renews each lease from the round after its grant: on a loaded machine, granting
    // 50 leases can take longer than their 2 s TTL, and leases not yet renewed would expire, legitimately.
    const keep = keeper(() => followers.map((m) => m.clientUrl), ids);
    let resumed = false;
    try {
      for (let i = 0; i < 50; i++) {
        const id = await grant(leader.clientUrl, 2);
        ids.push(id);
        await call(leader.clientUrl, '/v3/kv/put', { key: b64(`bulk/${i}`), value: b64('alive'), lease: id });
      }
      const newLeader = await stopAndReelect(leader);
      // Stay stopped well past the TTLs while the client keeps renewing with the new leader.
      const roundsAtElection = keep.rounds();
      await eventually(() => keep.rounds() >= roundsAtElection + 15, 30_000, 'keep-alives while the old leader is stopped');
      leader.child!.kill('SIGCONT');
      resumed = true;
      // Let it wake, hear the new term and run its lease checks a good many times.
      const roundsAtResume = keep.rounds();
      await eventually(() => keep.rounds() >= roundsAtResume + 10, 30_000, 'keep-alives after the old leader resumed');
      // The cluster's current leader, whoever it is: on a busy machine another election may follow the first.
      await eventually(async () => {
        const seen = await leaderSeenBy(leader);
        if (seen === undefined || seen === '0') return false;
        const others = await Promise.all(followers.map((member) => leaderSeenBy(member)));
        return others.every((other) => other === seen);
      }, 20_000, 'the old leader to agree with the others on a leader');
      const keys = await call(newLeader.clientUrl, '/v3/kv/range', { key: b64('bulk/'), range_end: b64('bulk0'), count_only: true });
      const expiredAfter = await Promise.all(running().map((m) => metric(m.clientUrl, 'keel_lease_expired_total')));
      const what = `expired before ${expiredBefore.join(',')} after ${expiredAfter.join(',')} (${running().map((m) => m.id).join(',')}; old leader ${leader.id}, new ${newLeader.id}); ${keep.lost.size} answered TTL 0`;
      assert.equal(Number(keys.count ?? 0), 50, `keys of kept-alive leases were deleted: ${what}`);
      assert.deepEqual([...keep.lost], [], 'a keep-alive was answered with TTL 0');
      assert.deepEqual(expiredAfter, expiredBefore, `a member revoked expired leases: ${what}`);
    } finally {
      if (!resumed) leader.child?.kill('SIGCONT');
      await keep.stop();
    }
  });

  it('bad input on Lease RPCs gets etcd errors and never takes a member down', async () => {
    const leader = await cluster.leader();
    for (const member of running()) {
      const client = rawEtcd(`127.0.0.1:${member.clientPort}`);
      try {
        const tooLarge = await client.call('Lease', 'LeaseGrant', { TTL: '9000000001', ID: '0' }).then(() => undefined, (error: ServiceError) => error);
        assert.equal(tooLarge?.details, 'etcdserver: too large lease TTL');
        assert.equal(tooLarge?.code, 11); // OUT_OF_RANGE, as etcd
        // A negative TTL is raised to the minimum (etcd does the same) or refused; either way the member lives.
        await client.call('Lease', 'LeaseGrant', { TTL: '-5', ID: '0' }).catch(() => undefined);
        const unknown = await client.call('Lease', 'LeaseRevoke', { ID: '123456789' }).then(() => undefined, (error: ServiceError) => error);
        assert.equal(unknown?.code, 5); // NOT_FOUND
        assert.equal(unknown?.details, 'etcdserver: requested lease not found');
        const negative = await client.call('Lease', 'LeaseTimeToLive', { ID: '-1' }).catch((error: ServiceError) => error);
        assert.ok(negative, 'an answer, not a hang');
      } finally {
        client.close();
      }
      for (const body of ['{"ID":"garbage"}', '{"ID":"99999999999999999999999"}', '{"ID":{}}', '{', '{"TTL":"1e400"}']) {
        for (const path of ['/v3/lease/revoke', '/v3/lease/grant', '/v3/lease/timetolive', '/v3/lease/keepalive']) {
          await call(member.clientUrl, path, body).then(
            () => undefined,
            (error: unknown) => assert.ok(error instanceof HttpError || error instanceof Error),
          );
        }
      }
    }
    await cluster.waitReady(10_000);
    for (const member of cluster.members) assert.ok(member.child && member.exit === undefined, `${member.id} exited`);
    assert.ok(await cluster.putUntilAcknowledged('lease/after-bad-input', 'ok'));
  });

  it('a leader SIGSTOPped and replaced never serves a stale linearizable read when it resumes', async () => {
    // On a busy machine a second election may follow the first, so a put can fail with "leader changed" after it
    // applied: both writes are retried through running members, each failed attempt counted as "may have applied"
    // (putUntilAcknowledged); writing the same value twice changes nothing the test reads.
    for (let round = 0; round < 3; round++) {
      const key = `stale/${round}`;
      await cluster.putUntilAcknowledged(key, 'old', 30_000, running);
      const leader = await cluster.leader();
      // Its own applied state holds 'old' (at once if it led the put; soon if it just took over).
      await eventually(async () => (await get(leader.clientUrl, key, { serializable: true }).catch(() => undefined))?.value === 'old', 10_000, `the leader applied 'old' to ${key}`);
      let resumed = false;
      try {
        await stopAndReelect(leader);
        await cluster.putUntilAcknowledged(key, 'new', 30_000, () => running().filter((m) => m !== leader));
        leader.child!.kill('SIGCONT');
        resumed = true;
        // At once, in parallel, racing its step-down: each read is 'new' or an error, never 'old'.
        const reads = await Promise.allSettled(Array.from({ length: 12 }, () => get(leader.clientUrl, key)));
        const values = reads.filter((read) => read.status === 'fulfilled').map((read) => (read as PromiseFulfilledResult<{ value: string | undefined }>).value.value);
        assert.ok(!values.includes('old'), `stale reads: ${JSON.stringify(values)}`);
        for (const value of values) assert.equal(value, 'new');
      } finally {
        if (!resumed) leader.child?.kill('SIGCONT');
      }
      await cluster.waitReady();
    }
  });
});
