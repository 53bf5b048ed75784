import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { EtcdCluster, findEtcdBinary, findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';
import { startPair } from './etcd-pair.js';
import { Cluster } from '../node/cluster-harness.js';
import { rawEtcd } from './grpc-client.js';
import type { Message } from '../../src/api/grpc/codec.js';

/**
 * keel next to a real etcd 3.4 (where etcd-server is installed): the same
 * seeded sequence of KV/txn/compaction operations gets identical responses,
 * revisions included, and etcdctl prints the same for the same commands.
 * Endpoints are given as host:port so both clusters get the same strings;
 * http:// endpoints work too (test/api/etcdctl-url-endpoints.test.ts).
 */
const etcdctlPath = findEtcdctlBinary();
const etcdPath = findEtcdBinary();
const OPS = 300;
const SEED = Number(process.env.KEEL_DIFF_SEED ?? 4242);

if (!etcdctlPath) console.log('# etcdctl not installed (apt-get install -y etcd-client): skipping the etcdctl suite');
if (!etcdPath) console.log('# etcd not installed (apt-get install -y etcd-server): skipping the comparisons against etcd');

/** mulberry32: a small seeded PRNG so a failing sequence can be replayed with KEEL_DIFF_SEED. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Drops what legitimately differs between clusters (ids, terms); revisions stay. */
function normalise(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      if (key === 'cluster_id' || key === 'member_id' || key === 'raft_term') continue;
      out[key] = normalise(field);
    }
    return out;
  }
  return value;
}

type Op = { service: 'KV'; method: string; request: Message };

function randomOp(random: () => number, revision: number): Op {
  const key = (): Buffer => Buffer.from(`d/${Math.floor(random() * 6)}`);
  const value = (): Buffer => Buffer.from(`v${Math.floor(random() * 4)}`);
  const pick = random();
  const range = (): Message => ({
    key: random() < 0.5 ? key() : Buffer.from('d/'),
    range_end: random() < 0.5 ? Buffer.from('d0') : Buffer.alloc(0),
    revision: String(random() < 0.3 ? Math.floor(random() * (revision + 3)) : 0),
    limit: String(random() < 0.3 ? 2 : 0),
    sort_order: random() < 0.3 ? 'DESCEND' : 'NONE',
    keys_only: random() < 0.2,
    count_only: random() < 0.1,
  });
  if (pick < 0.35) return { service: 'KV', method: 'Put', request: { key: key(), value: value(), prev_kv: random() < 0.5 } };
  if (pick < 0.5) return { service: 'KV', method: 'DeleteRange', request: { key: key(), range_end: random() < 0.3 ? Buffer.from('d/3') : Buffer.alloc(0), prev_kv: random() < 0.5 } };
  if (pick < 0.7) return { service: 'KV', method: 'Range', request: range() };
  if (pick < 0.93) {
    const target = (['VALUE', 'VERSION', 'MOD', 'CREATE'] as const)[Math.floor(random() * 4)]!;
    const operand = target === 'VALUE' ? { value: value() } : target === 'VERSION' ? { version: String(Math.floor(random() * 3)) } : target === 'MOD' ? { mod_revision: String(Math.floor(random() * revision)) } : { create_revision: String(Math.floor(random() * revision)) };
    const compare = { key: key(), target, result: (['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const)[Math.floor(random() * 4)], ...operand };
    return {
      service: 'KV',
      method: 'Txn',
      request: {
        compare: [compare],
        success: [{ request_put: { key: key(), value: value(), prev_kv: true } }, { request_range: range() }],
        failure: [{ request_delete_range: { key: key() } }, { request_range: range() }],
      },
    };
  }
  return { service: 'KV', method: 'Compact', request: { revision: String(Math.max(1, revision - Math.floor(random() * 10))) } };
}

/**
 * The one known etcd 3.4 difference the differential test excuses.
 *
 * protobufjs (under @grpc/proto-loader) puts an explicitly set empty Buffer
 * on the wire as a present, zero-length field; Go's gogoproto decodes that
 * as a non-nil empty slice, and etcd's mvcc index takes the single-key path
 * only for `end == nil` (mvcc/index.go, Revisions/Range): a non-nil empty
 * end means "every key >= key", the encoding chosen in
 * https://github.com/etcd-io/etcd/pull/4505. So a Range with
 * `range_end: Buffer.alloc(0)` is answered as [key, '\0'). Under proto3 a
 * field present with its default value is the same as an absent one, and
 * rpc.proto says "If range_end is not given, the request only looks up
 * key"; etcd itself reads the field as absent in a DeleteRange or a txn
 * with writes, because those cross its raft log, whose encoder drops empty
 * bytes. keel reads it as absent everywhere, which is right. Found at seed
 * 4242 op 10 (a keys_only Range of the deleted d/3 at revision 6 gave d/5,
 * created at 6: neither keys_only nor the past revision matters). Minimal
 * reproduction: the "present but empty range_end" test below. Read-only
 * txns would hit it too, but every generated txn writes in both branches.
 *
 * Only a top-level Range with a present empty range_end qualifies, and only
 * when etcd's whole answer equals keel's answer to [key, '\0'): any other
 * difference still fails.
 */
function hasPresentEmptyRangeEnd(op: Op): boolean {
  const end = op.request.range_end;
  return op.method === 'Range' && Buffer.isBuffer(end) && end.length === 0;
}

describe('keel against etcd 3.4', () => {
  let keel: Cluster;
  let etcd: EtcdCluster | undefined;
  const keelEndpoints = (): string => keel.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  const etcdEndpoints = (): string => etcd!.endpoints.map((url) => url.replace('http://', '')).join(',');

  before(async () => {
    [keel, etcd] = await startPair(etcdPath);
  });
  after(async () => {
    await Promise.all([keel?.stop(), etcd?.stop()]);
  });

  it(`a seeded sequence of ${OPS} KV, txn and compaction operations gets identical responses`, { skip: !etcdPath && 'etcd not installed' }, async (t) => {
    // Its own pair of clusters: etcd 3.4's members can disagree after this sequence (see the end), and the
    // etcdctl comparison below needs the shared pair to have seen the same commands.
    const [ownKeel, ownEtcdOrNone] = await startPair(etcdPath);
    const ownEtcd = ownEtcdOrNone!;
    t.after(() => Promise.all([ownKeel.stop(), ownEtcd.stop()]));
    const keelClient = rawEtcd(`127.0.0.1:${ownKeel.members[0]!.clientPort}`);
    const etcdClient = rawEtcd(ownEtcd.endpoints[0]!.replace('http://', ''));
    const random = prng(SEED);
    const answer = (promise: Promise<Message>): Promise<unknown> => promise.then(normalise, (e: ServiceError) => ({ error: e.code, details: e.details }));
    let excused = 0;
    try {
      // Both start empty at revision 1.
      const [keelStart, etcdStart] = await Promise.all([answer(keelClient.call('KV', 'Range', { key: Buffer.from('d/') })), answer(etcdClient.call('KV', 'Range', { key: Buffer.from('d/') }))]);
      assert.deepEqual(keelStart, etcdStart);
      let revision = 1;
      for (let index = 0; index < OPS; index++) {
        const op = randomOp(random, revision);
        const [fromKeel, fromEtcd] = await Promise.all([answer(keelClient.call(op.service, op.method, op.request)), answer(etcdClient.call(op.service, op.method, op.request))]);
        if (JSON.stringify(fromKeel) !== JSON.stringify(fromEtcd)) {
          // A Range changes nothing, so asking keel again now sees the same revision.
          const excuse = hasPresentEmptyRangeEnd(op) ? await answer(keelClient.call('KV', 'Range', { ...op.request, range_end: Buffer.from([0]) })) : undefined;
          if (excuse === undefined || JSON.stringify(excuse) !== JSON.stringify(fromEtcd)) {
            assert.fail(`first divergence at op ${index} (seed ${SEED}): ${op.method} ${JSON.stringify(normalise(op.request))}\n keel: ${JSON.stringify(fromKeel)}\n etcd: ${JSON.stringify(fromEtcd)}`);
          }
          excused++;
        }
        const seen = Number(((fromEtcd as { header?: { revision?: string } }).header?.revision) ?? revision);
        revision = Math.max(revision, seen);
      }
      // Both end at the same revision, so what follows in this suite compares revisions too.
      const [keelEnd, etcdEnd] = await Promise.all([keelClient.call('KV', 'Range', { key: Buffer.from('d/') }), etcdClient.call('KV', 'Range', { key: Buffer.from('d/') })]);
      assert.equal((keelEnd.header as Message).revision, (etcdEnd.header as Message).revision, `revision after ${OPS} ops (seed ${SEED}, last seen ${revision})`);
      // Every keel member applied the same thing. etcd 3.4's need not have: a txn whose range asks for a compacted
      // revision fails on the member the client talks to, while the others, which strip ranges from txns whose
      // answer nobody waits for, apply its writes (https://github.com/etcd-io/etcd/issues/18667, open for 3.4; seed
      // 4242 hits it at op 36). keel fails such a txn on every member, like etcd's member 0 answered.
      const revisionsOf = (addresses: string[]): Promise<string[]> =>
        Promise.all(addresses.map(async (address) => {
          const client = rawEtcd(address);
          try {
            return String(((await client.call('KV', 'Range', { key: Buffer.from('d/') })).header as Message).revision);
          } finally {
            client.close();
          }
        }));
      const keelRevisions = await revisionsOf(ownKeel.members.map((m) => `127.0.0.1:${m.clientPort}`));
      assert.equal(new Set(keelRevisions).size, 1, `keel members disagree: ${keelRevisions.join(' ')}`);
      const etcdRevisions = await revisionsOf(ownEtcd.endpoints.map((url) => url.replace('http://', '')));
      if (new Set(etcdRevisions).size > 1) t.diagnostic(`etcd members disagree (etcd-io/etcd#18667): ${etcdRevisions.join(' ')}; keel: ${keelRevisions[0]}`);
    } finally {
      keelClient.close();
      etcdClient.close();
    }
    t.diagnostic(`seed ${SEED}: ${excused} Range(s) where etcd read a present empty range_end as [key, \\0)`);
  });

  const etcdctl = (endpoints: string, args: string[], input?: string): { out: string; err: string; status: number | null } => {
    const run = spawnSync(etcdctlPath!, [`--endpoints=${endpoints}`, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', input, timeout: 20_000 });
    return { out: run.stdout, err: run.stderr.split('\n').filter((line) => line && !line.startsWith('{')).join('\n'), status: run.status };
  };
  /** Numbers that legitimately differ (ids, terms, sizes, indexes, versions) become placeholders. */
  const normaliseJson = (text: string): unknown => {
    // `hash`: keel's HashKV agrees across keel members but is not etcd's function (test/api/grpc.test.ts checks the agreement).
    const drop = new Set(['hash', 'cluster_id', 'member_id', 'raft_term', 'ID', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'dbSize', 'dbSizeInUse', 'version', 'peerURLs', 'clientURLs', 'name', 'Endpoint']);
    const walk = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(walk);
      if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, drop.has(k) && typeof v !== 'object' ? '*' : drop.has(k) ? '*' : walk(v)]));
      return value;
    };
    return walk(JSON.parse(text));
  };

  it('etcdctl put/get/del/txn/compaction/endpoint status/member list print what they print against etcd', { skip: !etcdctlPath && 'etcdctl not installed' }, () => {
    const commands: { args: string[]; input?: string; json?: boolean }[] = [
      { args: ['put', 'e/a', '1'] },
      { args: ['put', 'e/b', '2'] },
      { args: ['get', 'e/a'] },
      { args: ['get', 'e/', '--prefix', '-w', 'json'], json: true },
      { args: ['get', 'e/', '--prefix', '--keys-only'] },
      { args: ['txn'], input: 'value("e/a") = "1"\n\nput e/a 10\n\nget e/b\n\n' },
      { args: ['txn', '-w', 'json'], input: 'value("e/a") = "1"\n\nput e/a 11\n\nget e/a\n\n', json: true },
      { args: ['del', 'e/b'] },
      { args: ['del', 'e/', '--prefix', '--prev-kv'] },
      { args: ['put', '', 'x'] },
      { args: ['compaction', '3'] },
      { args: ['get', 'e/a', '--rev', '2'] },
      { args: ['get', 'e/a', '--rev', '100000'] },
      { args: ['endpoint', 'status', '-w', 'json'], json: true },
      { args: ['member', 'list', '-w', 'json'], json: true },
      { args: ['endpoint', 'hashkv', '-w', 'json'], json: true },
    ];
    for (const command of commands) {
      const fromKeel = etcdctl(keelEndpoints(), command.args, command.input);
      assert.equal(fromKeel.err.includes('PROTOCOL_ERROR'), false, `${command.args.join(' ')}: ${fromKeel.err}`);
      if (!etcd) continue;
      const fromEtcd = etcdctl(etcdEndpoints(), command.args, command.input);
      const what = `etcdctl ${command.args.join(' ')}`;
      assert.equal(fromKeel.status, fromEtcd.status, `${what}: exit ${fromKeel.status} vs ${fromEtcd.status}\n keel: ${fromKeel.err}\n etcd: ${fromEtcd.err}`);
      assert.equal(fromKeel.err, fromEtcd.err, what);
      if (command.json) assert.deepEqual(normaliseJson(fromKeel.out), normaliseJson(fromEtcd.out), what);
      else assert.equal(fromKeel.out, fromEtcd.out, what);
    }
  });

  it('etcd 3.4 reads a present but empty range_end as [key, \\0) in a Range; keel, proto3 and etcd\'s own DeleteRange read it as absent', { skip: !etcdPath && 'etcd not installed' }, async () => {
    // The minimal reproduction behind hasPresentEmptyRangeEnd: a fresh single-member etcd, two puts, one Range.
    // Last in this suite: its puts on keel have no twin on the shared etcd, so revisions no longer match after it.
    const single = await EtcdCluster.start({ binary: etcdPath!, size: 1 });
    const etcdClient = rawEtcd(single.endpoints[0]!.replace('http://', ''));
    const keelClient = rawEtcd(`127.0.0.1:${keel.members[0]!.clientPort}`);
    const keysOf = (reply: Message): string[] => (reply.kvs as Message[]).map((kv) => (kv.key as Buffer).toString());
    try {
      for (const client of [etcdClient, keelClient]) {
        await client.call('KV', 'Put', { key: Buffer.from('q/a'), value: Buffer.from('1') });
        await client.call('KV', 'Put', { key: Buffer.from('q/b'), value: Buffer.from('2') });
      }
      const presentEmpty = { key: Buffer.from('q/a'), range_end: Buffer.alloc(0) };
      assert.deepEqual(keysOf(await etcdClient.call('KV', 'Range', presentEmpty)), ['q/a', 'q/b'], 'etcd 3.4 ranges to the end of the keyspace (if this fails, etcd changed: drop the exception)');
      assert.deepEqual(keysOf(await etcdClient.call('KV', 'Range', { key: Buffer.from('q/a') })), ['q/a'], 'etcd: absent range_end is one key');
      assert.deepEqual(keysOf(await keelClient.call('KV', 'Range', presentEmpty)), ['q/a'], 'keel: present empty range_end is one key');
      // The same field in a DeleteRange goes through etcd's raft log, whose encoder drops empty bytes: one key.
      const deleted = await etcdClient.call('KV', 'DeleteRange', presentEmpty);
      assert.equal(deleted.deleted, '1');
    } finally {
      etcdClient.close();
      keelClient.close();
      await single.stop();
    }
  });
});
