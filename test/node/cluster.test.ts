import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, call, dump, eventually, get, put, sleep } from './cluster-harness.js';
import { Writer } from './load.js';

// System tests: real `keel node` processes on loopback, killed with real
// signals. Each checks every acknowledged write against the client's own
// record afterwards.

describe('a 3-member cluster', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('accepts writes through any member and serves linearizable reads from every member', async () => {
    for (const [i, member] of cluster.members.entries()) {
      await put(member.clientUrl, 'shared', `from-${member.id}`);
      // The write is visible at once through every member: reads go through ReadIndex.
      for (const reader of cluster.members) {
        const read = await get(reader.clientUrl, 'shared');
        assert.equal(read.value, `from-${member.id}`, `read at ${reader.id} after write ${i} via ${member.id}`);
      }
    }
    const serializable = await get(cluster.members[0]!.clientUrl, 'shared', { serializable: true });
    assert.ok(serializable.value?.startsWith('from-'));
  });

  test('compare-and-swap transactions succeed once and fail on a stale compare', async () => {
    const url = cluster.members[1]!.clientUrl;
    const revision = await put(url, 'cas', 'one');
    const range = (await call(url, '/v3/kv/range', { key: Buffer.from('cas').toString('base64') })) as { kvs: { mod_revision: string }[] };
    const modRevision = range.kvs[0]!.mod_revision;
    assert.equal(Number(modRevision), revision);
    const txn = (mod: string, value: string) =>
      call(url, '/v3/kv/txn', {
        compare: [{ key: Buffer.from('cas').toString('base64'), target: 'MOD', result: 'EQUAL', mod_revision: mod }],
        success: [{ request_put: { key: Buffer.from('cas').toString('base64'), value: Buffer.from(value).toString('base64') } }],
        failure: [{ request_range: { key: Buffer.from('cas').toString('base64') } }],
      });
    const first = await txn(modRevision, 'two');
    assert.equal(first.succeeded, true);
    const second = await txn(modRevision, 'three');
    assert.equal(second.succeeded, undefined, 'a stale compare fails (false is omitted, as etcd does)');
    assert.equal((await get(url, 'cas')).value, 'two');
  });

  test('bad input gets a clear error with a stable code, and the member keeps serving', async () => {
    const url = cluster.members[0]!.clientUrl;
    const raw = async (path: string, body: string, method = 'POST') => {
      const response = await fetch(`${url}${path}`, { method, body: method === 'GET' ? undefined : body, signal: AbortSignal.timeout(5000) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const malformed = await raw('/v3/kv/put', '{"key": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.keel_code, 'KEEL_API_BAD_REQUEST');
    assert.equal(malformed.body.code, 3);
    const wrongType = await raw('/v3/kv/put', JSON.stringify({ key: 42, value: 'eA==' }));
    assert.equal(wrongType.status, 400);
    assert.match(String(wrongType.body.message), /key must be a base64 string/);
    const badRevision = await raw('/v3/kv/range', JSON.stringify({ key: 'eA==', revision: 'soon' }));
    assert.equal(badRevision.status, 400);
    const emptyKey = await raw('/v3/kv/put', JSON.stringify({ value: 'eA==' }));
    assert.equal(emptyKey.status, 400);
    assert.equal(emptyKey.body.error, 'etcdserver: key is not provided');
    const future = await raw('/v3/kv/range', JSON.stringify({ key: 'eA==', revision: '999999' }));
    assert.equal(future.status, 400);
    assert.equal(future.body.error, 'etcdserver: mvcc: required revision is a future revision');
    assert.equal(future.body.code, 11);
    const huge = await raw('/v3/kv/put', JSON.stringify({ key: 'eA==', value: Buffer.alloc(3 * 1024 * 1024).toString('base64') }));
    assert.equal(huge.status, 413);
    assert.equal(huge.body.keel_code, 'KEEL_API_BODY_TOO_LARGE');
    const justOver = await raw('/v3/kv/put', JSON.stringify({ key: 'eA==', value: Buffer.alloc(1.5 * 1024 * 1024 + 1).toString('base64') }));
    assert.equal(justOver.status, 400);
    assert.equal(justOver.body.error, 'etcdserver: request is too large');
    const unknown = await raw('/v3/kv/nope', '{}');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.keel_code, 'KEEL_API_NOT_FOUND');
    const wrongMethod = await raw('/v3/kv/put', '', 'GET');
    assert.equal(wrongMethod.status, 405);
    // Still serving, every member.
    await put(url, 'after-bad-input', 'ok');
    for (const member of cluster.members) assert.equal((await get(member.clientUrl, 'after-bad-input')).value, 'ok');
  });

  test('exposes /livez, /readyz and the quorum-health metrics', async () => {
    const url = cluster.members[0]!.clientUrl;
    assert.equal((await fetch(`${url}/livez`)).status, 200);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      'keel_raft_has_leader 1',
      'keel_raft_is_leader',
      'keel_raft_leader_changes_seen_total',
      'keel_raft_term',
      'keel_raft_commit_index',
      'keel_raft_applied_index',
      'keel_raft_proposals_committed_total',
      'keel_raft_proposals_failed_total',
      'keel_raft_proposals_pending',
      'keel_wal_fsync_duration_seconds_bucket',
      'keel_apply_duration_seconds_bucket',
      'keel_snapshot_duration_seconds',
      'keel_peer_round_trip_seconds_bucket{le="0.001",peer=',
      'keel_peer_sent_bytes_total{peer=',
      'keel_peer_received_bytes_total{peer=',
      'keel_process_cpu_seconds_total',
    ]) {
      assert.ok(metrics.includes(name), `missing ${name}`);
    }
  });

  test('kill -9 of the leader under load: a new leader, the writer carries on, every acknowledged write survives', async () => {
    const leader = await cluster.leader();
    const writer = new Writer(() => cluster.members.filter((m) => m.child).map((m) => m.clientUrl), 'kill-leader/', 3_000, 20_000);
    writer.start();
    // Conditions, not sleeps: on a busy machine 500 ms may see no write at all.
    await eventually(() => writer.acknowledged.size >= 5, 20_000, 'writes acknowledged before the kill');
    const before = writer.acknowledged.size;
    await cluster.kill(leader.id, 'SIGKILL');
    const newLeader = await cluster.leader();
    assert.notEqual(newLeader.id, leader.id);
    await eventually(() => writer.acknowledged.size > before, 20_000, 'the writer made progress after the leader died');
    cluster.launch(leader.id);
    await sleep(500);
    await writer.stop();
    await cluster.waitReady();
    for (const member of cluster.members) {
      const state = await dump(member.clientUrl, 'kill-leader/');
      for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value, `${key} missing at ${member.id}`);
      for (const [key, { version }] of state) assert.equal(version, 1, `${key} was applied twice`);
    }
  });

  test('a linearizable read sent to a follower as the leader stops is answered by the next leader, not failed with "leader changed"', async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m.child && m.id !== leader.id)!;
    const revision = await put(leader.clientUrl, 'paused-leader/read', 'v1');
    leader.child!.kill('SIGSTOP');
    try {
      // Its ReadIndex round goes to the stopped leader and is lost when the
      // others elect a new one (300 ms election timeout); the member tries
      // again with the new leader within the request's 5 s deadline.
      const answer = await get(follower.clientUrl, 'paused-leader/read');
      assert.equal(answer.value, 'v1');
      assert.ok(answer.revision >= revision);
      const next = await cluster.leader();
      assert.notEqual(next.id, leader.id, 'the read was answered after a new leader took over');
    } finally {
      leader.child?.kill('SIGCONT');
    }
    await cluster.waitReady();
  });

  test('SIGTERM of the leader hands over leadership and exits 0', async () => {
    const leader = await cluster.leader();
    const writer = new Writer(() => cluster.members.filter((m) => m.child && m.id !== leader.id).map((m) => m.clientUrl), 'drain/', 2_000, 10_000);
    writer.start();
    await eventually(() => writer.acknowledged.size >= 5, 20_000, 'writes acknowledged before SIGTERM');
    await cluster.kill(leader.id, 'SIGTERM');
    assert.deepEqual(leader.exit, { code: 0, signal: null });
    const next = await cluster.leader();
    assert.notEqual(next.id, leader.id);
    cluster.launch(leader.id);
    await sleep(500);
    await writer.stop();
    await cluster.waitReady();
    const state = await dump(next.clientUrl, 'drain/');
    for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value);
  });
});

describe('crashes of every member', () => {
  test('kill -9 all three mid-load, restart: every acknowledged write is there, none applied twice', async () => {
    const cluster = await Cluster.start({ nodes: 3 });
    try {
      const writer = new Writer(() => cluster.members.filter((m) => m.child).map((m) => m.clientUrl), 'all/', 5_000, 15_000);
      writer.start();
      await eventually(() => writer.acknowledged.size > 10, 30_000, 'writes acknowledged before the crash');
      await Promise.all(cluster.members.map((m) => cluster.kill(m.id, 'SIGKILL')));
      await writer.stop();
      assert.ok(writer.acknowledged.size > 10, `too few writes acknowledged before the crash: ${writer.acknowledged.size}`);
      for (const member of cluster.members) cluster.launch(member.id);
      await cluster.waitReady();
      for (const member of cluster.members) {
        const state = await dump(member.clientUrl, 'all/');
        for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value, `${key} lost at ${member.id}`);
        for (const [key, { version }] of state) {
          assert.equal(version, 1, `${key} applied twice`);
          assert.ok(writer.acknowledged.has(key) || writer.unknown.has(key), `${key} appeared without being written`);
        }
      }
    } finally {
      await cluster.stop();
    }
  });

  test('a single-member cluster killed mid-load loses no acknowledged write', async () => {
    const cluster = await Cluster.start({ nodes: 1 });
    try {
      const writer = new Writer(() => cluster.members.filter((m) => m.child).map((m) => m.clientUrl), 'single/', 5_000, 15_000);
      writer.start();
      await eventually(() => writer.acknowledged.size > 10, 30_000, 'writes acknowledged before the crash');
      await cluster.kill('n1', 'SIGKILL');
      await writer.stop();
      cluster.launch('n1');
      await cluster.waitReady();
      const state = await dump(cluster.members[0]!.clientUrl, 'single/');
      assert.ok(writer.acknowledged.size > 10);
      for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value, `${key} lost`);
    } finally {
      await cluster.stop();
    }
  });

  test('a member down while the others compact their logs catches up by snapshot', async () => {
    const cluster = await Cluster.start({ nodes: 3, flags: ['--snapshot-entries', '50', '--snapshot-log-ratio', '0', '--snapshot-catch-up-entries', '10', '--log-level', 'info'] });
    try {
      const leader = await cluster.leader();
      const away = cluster.members.find((m) => m.id !== leader.id)!;
      await cluster.kill(away.id, 'SIGKILL');
      // 400 writes or 60 s, whichever comes first: a loaded CI machine may not reach 400; 200 are four snapshots' worth past the catch-up window.
      const writer = new Writer(() => [leader.clientUrl], 'snap/', 400, 60_000);
      writer.start();
      await writer.done();
      assert.ok(writer.acknowledged.size >= 200, `only ${writer.acknowledged.size} writes acknowledged`);
      cluster.launch(away.id);
      await cluster.waitReady();
      // A read through this member: it answers once it has applied the leader's commit index,
      // which it can only reach through the snapshot (the entries are compacted away).
      const deadline = Date.now() + 10_000;
      let state = await dump(away.clientUrl, 'snap/');
      while (state.size < writer.acknowledged.size && Date.now() < deadline) {
        await sleep(100);
        state = await dump(away.clientUrl, 'snap/');
      }
      for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value);
      assert.match(away.stderr, /installed a snapshot from the leader/);
    } finally {
      await cluster.stop();
    }
  });
});

