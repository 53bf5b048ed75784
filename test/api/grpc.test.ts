import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { makeGenericClientConstructor, credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { Cluster } from '../node/cluster-harness.js';
import { rawEtcd } from './grpc-client.js';
import type { RawEtcd } from './grpc-client.js';

/** etcd's gRPC API on keel's client port, driven by the npm etcd3 client and a raw grpc-js client. Needs `npm run build`. */
describe('etcd v3 gRPC on the client port (3 members)', () => {
  let cluster: Cluster;
  let client: Etcd3;
  let raw: RawEtcd;

  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
    client = new Etcd3({ hosts: cluster.members.map((m) => `127.0.0.1:${m.clientPort}`) });
    raw = rawEtcd(`127.0.0.1:${cluster.members[0]!.clientPort}`);
  });
  after(async () => {
    client?.close();
    raw?.close();
    await cluster?.stop();
  });

  it('hands a grpc-js client\'s connections straight to grpc-js, without the loopback hop', async () => {
    await raw.call('KV', 'Range', { key: Buffer.from('direct') });
    const text = await (await fetch(`http://127.0.0.1:${cluster.members[0]!.clientPort}/metrics`)).text();
    const count = (path: string): number => Number(text.split('\n').find((line) => line.startsWith(`keel_api_grpc_connections_total{path="${path}"} `))?.split(' ')[1] ?? 0);
    assert.ok(count('direct') >= 1, text.split('\n').filter((line) => line.startsWith('keel_api_grpc')).join('\n'));
    assert.equal(count('hop'), 0);
  });

  it('puts, gets and deletes keys and prefixes', async () => {
    await client.put('g/a').value('1');
    await client.put('g/b').value('2');
    await client.put('h').value('3');
    assert.equal(await client.get('g/a').string(), '1');
    assert.deepEqual(await client.getAll().prefix('g/').strings(), { 'g/a': '1', 'g/b': '2' });
    assert.equal(await client.getAll().prefix('g/').count(), 2);
    const deleted = await client.delete().prefix('g/').exec();
    assert.equal(deleted.deleted, '2');
    assert.equal(await client.get('g/a').string(), null);
    assert.equal(await client.get('h').string(), '3');
  });

  it('runs txns with compares, then and else branches', async () => {
    await client.put('t').value('old');
    const first = await client.if('t', 'Value', '==', 'old').then(client.put('t').value('new')).else(client.get('t')).commit();
    assert.equal(first.succeeded, true);
    const second = await client.if('t', 'Value', '==', 'old').then(client.put('t').value('never')).else(client.get('t')).commit();
    assert.equal(second.succeeded, false);
    const kv = second.responses[0]?.response_range?.kvs[0];
    assert.equal(kv?.value.toString(), 'new');
    assert.equal(await client.get('t').string(), 'new');
  });

  it('compacts, and a read below the compacted revision gets OutOfRange with etcd\'s message', async () => {
    const put = await client.put('c').value('1');
    const revision = Number(put.header.revision);
    await client.put('c').value('2');
    await raw.call('KV', 'Compact', { revision: String(revision + 1) });
    await assert.rejects(raw.call('KV', 'Range', { key: Buffer.from('c'), revision: String(revision) }), (error: ServiceError) => {
      assert.equal(error.code, 11);
      assert.equal(error.details, 'etcdserver: mvcc: required revision has been compacted');
      assert.equal(error.metadata.get('keel-code')[0], 'KEEL_STORE_COMPACTED');
      return true;
    });
    await assert.rejects(client.get('c').revision(revision).string(), /compacted/);
    await assert.rejects(raw.call('KV', 'Range', { key: Buffer.from('c'), revision: '1000000' }), (error: ServiceError) => error.code === 11 && error.details === 'etcdserver: mvcc: required revision is a future revision');
  });

  it('reports status, HashKV and the member list', async () => {
    const status = await client.maintenance.status();
    assert.ok(status.leader !== '0');
    assert.equal(status.version, '3.4.0');
    assert.ok(Number(status.header.revision) >= 1);
    const hashes = await Promise.all(cluster.members.map(async (m) => {
      const each = rawEtcd(`127.0.0.1:${m.clientPort}`);
      try {
        await each.call('KV', 'Range', { key: Buffer.from('x') }); // a linearizable read: this member has applied everything committed so far
        const status = await each.call('Maintenance', 'Status', {});
        return (await each.call('Maintenance', 'HashKV', { revision: (status.header as { revision: string }).revision })).hash;
      } finally {
        each.close();
      }
    }));
    assert.equal(new Set(hashes).size, 1, `members disagree: ${hashes.join(',')}`);
    const members = await client.cluster.memberList({});
    assert.deepEqual(members.members.map((m) => m.name).sort(), ['n1', 'n2', 'n3']);
    const n1 = members.members.find((m) => m.name === 'n1');
    assert.deepEqual(n1?.clientURLs, [cluster.members[0]!.clientUrl]);
  });

  it('answers bad input with etcd\'s codes and keeps serving', async () => {
    await assert.rejects(raw.call('KV', 'Put', { key: Buffer.alloc(0), value: Buffer.from('v') }), (e: ServiceError) => e.code === 3 && e.details === 'etcdserver: key is not provided');
    // Over 1.5 MiB but under etcd's gRPC receive limit: the server refuses it as etcd does.
    await assert.rejects(raw.call('KV', 'Put', { key: Buffer.from('big'), value: Buffer.alloc(1.6 * 1024 * 1024) }), (e: ServiceError) => e.code === 3 && e.details === 'etcdserver: request is too large');
    // Over the receive limit: grpc's own RESOURCE_EXHAUSTED, as etcd.
    await assert.rejects(raw.call('KV', 'Put', { key: Buffer.from('big'), value: Buffer.alloc(3 * 1024 * 1024) }), (e: ServiceError) => e.code === 8);
    const Unknown = makeGenericClientConstructor({
      Nope: { path: '/etcdserverpb.KV/Nope', requestStream: false, responseStream: false, requestSerialize: (v: Buffer) => v, requestDeserialize: (v: Buffer) => v, responseSerialize: (v: Buffer) => v, responseDeserialize: (v: Buffer) => v },
    }, 'Unknown');
    const unknown = new Unknown(`127.0.0.1:${cluster.members[0]!.clientPort}`, credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      (unknown as unknown as { Nope: (r: Buffer, m: Metadata, cb: (e: ServiceError | null) => void) => void }).Nope(Buffer.from([1, 2, 3]), new Metadata(), (e) => resolve(e?.code ?? 0));
    });
    unknown.close();
    assert.equal(code, 12);
    // The same member still serves both protocols on the same port.
    await client.put('after').value('ok');
    assert.equal(await client.get('after').string(), 'ok');
    const response = await fetch(`${cluster.members[0]!.clientUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('after').toString('base64') }) });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { kvs: { value: string }[] };
    assert.equal(Buffer.from(body.kvs[0]!.value, 'base64').toString(), 'ok');
  });

  it('a grpc-timeout shorter than the request reaches the member', async () => {
    // A 1 ms deadline: either the client gives up (DEADLINE_EXCEEDED) or the member answers in time; never a hang or another code.
    const outcome = await raw.call('KV', 'Put', { key: Buffer.from('d'), value: Buffer.from('v') }, 1).then(() => 0, (e: ServiceError) => e.code);
    assert.ok(outcome === 0 || outcome === 4 || outcome === 14, `code ${outcome}`);
  });
});
