import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { Cluster, HttpError, b64, call, freePorts, get, put, sleep } from '../node/cluster-harness.js';
import { createHash } from 'node:crypto';
import { rawEtcd } from './grpc-client.js';
import type { RawEtcd } from './grpc-client.js';

/**
 * etcd's Maintenance service on a real 3-member keel cluster: NOSPACE
 * alarms (raised, replicated, refusing growing writes, surviving a restart,
 * disarmed), automatic compaction, Defragment, MoveLeader, Snapshot with
 * `keel snapshot save/restore` into a new cluster, and garbage on every new
 * endpoint. Every wait is a bounded poll, never a timing assertion.
 */
const root = join(import.meta.dirname, '../..');
const verifyHash = (content: Buffer): string => createHash('sha256').update(content).digest('hex');
const bin = join(root, 'dist/src/cli/main.js');
const QUOTA_BYTES = 1024 * 1024;
const BIG_VALUE = 'x'.repeat(150_000);
const POLL_ROUNDS_MAX = 300;

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let round = 0; round < POLL_ROUNDS_MAX; round++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`gave up waiting: ${what}`);
}

function keel(args: string[]): { status: number | null; out: string; err: string } {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, out: run.stdout, err: run.stderr };
}

const grpcError = (promise: Promise<unknown>): Promise<{ code: number; details: string; keelCode: string | undefined }> =>
  promise.then(
    () => assert.fail('expected an error'),
    (error: ServiceError) => ({ code: error.code, details: error.details, keelCode: error.metadata?.get('keel-code')[0]?.toString() }),
  );

describe('Maintenance on a 3-member cluster', () => {
  let cluster: Cluster;
  const clients = new Map<string, RawEtcd>();
  const client = (id: string): RawEtcd => {
    let found = clients.get(id);
    if (!found) {
      found = rawEtcd(`127.0.0.1:${cluster.member(id).clientPort}`);
      clients.set(id, found);
    }
    return found;
  };

  before(async () => {
    cluster = await Cluster.start({
      nodes: 3,
      flags: ['--quota-backend-bytes', String(QUOTA_BYTES), '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '5', '--auto-compaction-revision-check-ms', '100'],
    });
  });
  after(async () => {
    for (const found of clients.values()) found.close();
    await cluster?.stop();
  });

  it('revision-mode auto compaction on the leader compacts old revisions away', async () => {
    const url = cluster.members[0]!.clientUrl;
    const first = await put(url, 'ac/first', 'v');
    for (let i = 0; i < 12; i++) await put(url, `ac/${i}`, 'v');
    await until('revision of the first put compacted', async () => {
      try {
        await call(url, '/v3/kv/range', { key: b64('ac/first'), revision: String(first) });
        return false;
      } catch (error) {
        return error instanceof HttpError && (error.body.error as string).includes('compacted');
      }
    });
  });

  it('a write beyond the quota raises a replicated NOSPACE alarm; growing writes fail, deletes work, status lists it', async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m.id !== leader.id)!;
    let refused: HttpError | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        await put(follower.clientUrl, `big/${i}`, BIG_VALUE);
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        refused = error;
      }
    }
    assert.ok(refused, 'the quota is reached');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'etcdserver: mvcc: database space exceeded');
    const followerId = (await call(follower.clientUrl, '/v3/maintenance/status', {})).header as { member_id: string };
    await until('the alarm is applied everywhere', async () => {
      const listed = await Promise.all(cluster.members.map((m) => call(m.clientUrl, '/v3/maintenance/alarm', { action: 'GET' })));
      return listed.every((response) => JSON.stringify(response.alarms) === JSON.stringify([{ memberID: followerId.member_id, alarm: 'NOSPACE' }]));
    });
    // Every member refuses growing writes now, even small ones; over gRPC as RESOURCE_EXHAUSTED with etcd's text.
    const small = await grpcError(client(leader.id).call('KV', 'Put', { key: Buffer.from('small'), value: Buffer.from('1') }));
    assert.deepEqual(small, { code: 8, details: 'etcdserver: mvcc: database space exceeded', keelCode: 'KEEL_STORE_NO_SPACE_ALARM' });
    const grant = await grpcError(client(leader.id).call('KV', 'Txn', { success: [{ request_put: { key: Buffer.from('t'), value: Buffer.from('1') } }] }));
    assert.equal(grant.code, 8);
    // Status reports it as etcd does.
    const status = await client(leader.id).call('Maintenance', 'Status', {});
    assert.deepEqual(status.errors, [`memberID:${followerId.member_id} alarm:NOSPACE `]);
    assert.ok(Number(status.dbSizeInUse) > QUOTA_BYTES * 0.8 && Number(status.dbSize) > 0);
    const metrics = await (await fetch(`${leader.clientUrl}/metrics`)).text();
    assert.match(metrics, /keel_store_quota_used_ratio 0\.[89]\d*/);
    // Reads and deletes still work.
    assert.equal((await get(leader.clientUrl, 'ac/0')).value, 'v');
    await call(leader.clientUrl, '/v3/kv/deleterange', { key: b64('big/'), range_end: b64('big0') });
  });

  it('the alarm survives a defragment snapshot and a restart, then DEACTIVATE lifts it once space is reclaimed', async () => {
    const leader = await cluster.leader();
    const revision = Number(((await call(leader.clientUrl, '/v3/maintenance/status', {})).header as { revision: string }).revision);
    await call(leader.clientUrl, '/v3/kv/compaction', { revision: String(revision) }).catch(() => undefined); // auto compaction may be first
    for (const member of cluster.members) await call(member.clientUrl, '/v3/maintenance/defragment', {});
    const restarted = cluster.members.find((m) => m.id !== leader.id)!;
    await cluster.kill(restarted.id, 'SIGTERM');
    cluster.launch(restarted.id);
    await cluster.waitReady();
    const listed = await client(restarted.id).call('Maintenance', 'Alarm', { action: 'GET' });
    assert.equal((listed.alarms as unknown[]).length, 1, 'the restarted member still has the alarm');
    const [alarm] = listed.alarms as { memberID: string; alarm: string }[];
    const disarmed = await client(leader.id).call('Maintenance', 'Alarm', { action: 'DEACTIVATE', memberID: alarm!.memberID, alarm: 'NOSPACE' });
    assert.deepEqual(disarmed.alarms, [{ memberID: alarm!.memberID, alarm: 'NOSPACE' }]);
    await cluster.putUntilAcknowledged('after-disarm', 'ok');
    assert.equal((await get(restarted.clientUrl, 'after-disarm')).value, 'ok');
    const again = await client(leader.id).call('Maintenance', 'Alarm', { action: 'DEACTIVATE', memberID: alarm!.memberID, alarm: 'NOSPACE' });
    assert.deepEqual(again.alarms, []);
  });

  it('MoveLeader: followers answer "not leader", unknown targets "bad leader transferee", a voter becomes leader', async () => {
    const leader = await cluster.leader();
    const target = cluster.members.find((m) => m.id !== leader.id)!;
    const members = (await client(leader.id).call('Cluster', 'MemberList', {})).members as { ID: string; name: string }[];
    const targetId = members.find((m) => m.name === target.id)!.ID;
    assert.deepEqual(await grpcError(client(target.id).call('Maintenance', 'MoveLeader', { targetID: targetId })), {
      code: 9,
      details: 'etcdserver: not leader',
      keelCode: 'KEEL_NODE_TRANSFER_NOT_LEADER',
    });
    assert.deepEqual(await grpcError(client(leader.id).call('Maintenance', 'MoveLeader', { targetID: '12345' })), {
      code: 9,
      details: 'etcdserver: bad leader transferee',
      keelCode: 'KEEL_NODE_BAD_LEADER_TRANSFEREE',
    });
    await client(leader.id).call('Maintenance', 'MoveLeader', { targetID: targetId }, 10_000);
    const status = await client(target.id).call('Maintenance', 'Status', {});
    assert.equal(status.leader, targetId);
    // And back over the JSON gateway.
    const backId = members.find((m) => m.name === leader.id)!.ID;
    await call(target.clientUrl, '/v3/maintenance/transfer-leadership', { targetID: backId }, 10_000);
    assert.equal((await call(leader.clientUrl, '/v3/maintenance/status', {})).leader, backId);
  });

  it('snapshot save from the cluster, restore into a new 1-member cluster, read the keys back; a damaged file exits 2', async () => {
    const url = cluster.members[0]!.clientUrl;
    for (let i = 0; i < 50; i++) await put(url, `snap/${i}`, `value-${i}`);
    const file = join(cluster.root, 'backup.snap');
    const saved = keel(['snapshot', 'save', file, '--endpoints', `127.0.0.1:${cluster.members[1]!.clientPort}`]);
    assert.equal(saved.status, 0, saved.err);
    assert.match(saved.out, /sha256 verified/);
    const bytes = readFileSync(file);
    assert.equal(bytes.length % 512, 32, 'sized as etcdctl expects (a multiple of 512 plus the hash)');
    // A flipped byte is refused before anything is created.
    const damaged = Buffer.from(bytes);
    damaged[100]! ^= 0x01;
    writeFileSync(`${file}.bad`, damaged);
    const [peerPort, clientPort] = await freePorts(2);
    const peers = `r1=127.0.0.1:${peerPort}`;
    const dataDir = join(cluster.root, 'restored');
    const refused = keel(['snapshot', 'restore', `${file}.bad`, '--data-dir', dataDir, '--id', 'r1', '--peers', peers, '--cluster-name', 'restored']);
    assert.equal(refused.status, 2);
    assert.match(refused.err, /SHA-256/);
    const restored = keel(['snapshot', 'restore', file, '--data-dir', dataDir, '--id', 'r1', '--peers', peers, '--cluster-name', 'restored']);
    assert.equal(restored.status, 0, restored.err);
    const again = keel(['snapshot', 'restore', file, '--data-dir', dataDir, '--id', 'r1', '--peers', peers, '--cluster-name', 'restored']);
    assert.equal(again.status, 1, 'a non-empty data dir is refused');
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [bin, 'node', '--id', 'r1', '--data-dir', dataDir, '--listen-peer', `127.0.0.1:${peerPort}`, '--listen-client', `127.0.0.1:${clientPort}`, '--peers', peers, '--cluster-name', 'restored', '--log-level', 'warn'], { stdio: 'ignore' });
      const restoredUrl = `http://127.0.0.1:${clientPort}`;
      await until('the restored member is ready', async () => (await fetch(`${restoredUrl}/readyz`).catch(() => undefined))?.ok === true);
      assert.equal((await get(restoredUrl, 'snap/49')).value, 'value-49');
      assert.equal((await get(restoredUrl, 'ac/3')).value, 'v');
      const original = (await call(url, '/v3/maintenance/status', {})).header as { cluster_id: string };
      const status = await call(restoredUrl, '/v3/maintenance/status', {});
      assert.notEqual((status.header as { cluster_id: string }).cluster_id, original.cluster_id, 'a new cluster identity');
      assert.equal(status.errors, undefined, 'no alarms carried over');
      await put(restoredUrl, 'new', 'write');
      assert.equal((await get(restoredUrl, 'new')).value, 'write');
    } finally {
      if (child?.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
  });

  it('garbage on every new endpoint gets etcd\'s error codes and no member dies', async () => {
    const leader = await cluster.leader();
    const grpcCases: { method: string; request: Record<string, unknown>; code: number }[] = [
      { method: 'Alarm', request: { action: 7 }, code: 3 },
      { method: 'Alarm', request: { action: 'ACTIVATE', alarm: 9 }, code: 3 },
      { method: 'Alarm', request: { action: 'ACTIVATE', alarm: 'NONE' }, code: 3 },
      { method: 'MoveLeader', request: { targetID: '0' }, code: 9 },
    ];
    for (const { method, request, code } of grpcCases) {
      const error = await grpcError(client(leader.id).call('Maintenance', method, request));
      assert.equal(error.code, code, `${method} ${JSON.stringify(request)}: ${error.details}`);
    }
    const jsonCases: { path: string; body: string; status: number }[] = [
      { path: '/v3/maintenance/alarm', body: '{"action":"EXPLODE"}', status: 400 },
      { path: '/v3/maintenance/alarm', body: '{"action":"ACTIVATE","memberID":"-1","alarm":"NOSPACE"}', status: 400 },
      { path: '/v3/maintenance/alarm', body: '{"action":"ACTIVATE","memberID":"99999999999999999999999","alarm":"NOSPACE"}', status: 400 },
      { path: '/v3/maintenance/alarm', body: '[1,2', status: 400 },
      { path: '/v3/maintenance/alarm', body: '"string"', status: 400 },
      { path: '/v3/maintenance/transfer-leadership', body: '{"targetID":{"x":1}}', status: 400 },
      { path: '/v3/maintenance/transfer-leadership', body: '{"targetID":"1.5"}', status: 400 },
      { path: '/v3/maintenance/defragment', body: '[]', status: 400 },
      { path: '/v3/maintenance/status', body: 'not json', status: 400 },
    ];
    for (const { path, body, status } of jsonCases) {
      await assert.rejects(call(leader.clientUrl, path, body), (error: unknown) => error instanceof HttpError && error.status === status, `${path} ${body}`);
    }
    // The JSON gateway streams the snapshot as grpc-gateway does: chunks in base64, then the SHA-256 of the content.
    const stream = await fetch(`${leader.clientUrl}/v3/maintenance/snapshot`, { method: 'POST', body: '{}' });
    assert.equal(stream.status, 200);
    const lines = (await stream.text()).trim().split('\n').map((line) => (JSON.parse(line) as { result: { blob: string; remaining_bytes?: string } }).result);
    const content = Buffer.concat(lines.slice(0, -1).map((line) => Buffer.from(line.blob, 'base64')));
    assert.equal(lines.at(-2)?.remaining_bytes, '0');
    assert.equal(Buffer.from(lines.at(-1)!.blob, 'base64').toString('hex'), verifyHash(content));
    for (const member of cluster.members) assert.equal((await fetch(`${member.clientUrl}/livez`)).status, 200, member.id);
  });
});
