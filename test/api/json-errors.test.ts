import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster, findEtcdBinary } from '../../bench/lib/etcd-cluster.js';
import { b64, call, Cluster, HttpError, put } from '../node/cluster-harness.js';

// Clients match etcd's error strings exactly (etcd's Go client keeps a table
// of them), so the JSON gateway's `error` and `message` must be etcd's text
// to the letter; keel's details go in `keel_detail`. The same refused calls
// go to a real etcd 3.4 where one is installed (.ci/run installs it).
const etcdPath = findEtcdBinary();

async function refusal(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HttpError) return error.body;
    throw error;
  }
  assert.fail('expected the call to be refused');
}

/** Six puts on k, then a compaction at revision 5; returns the refusals of three bad calls. */
async function refusals(url: string): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 6; i++) await put(url, 'k', `v${i}`);
  await call(url, '/v3/kv/compaction', { revision: '5' });
  return [
    await refusal(call(url, '/v3/kv/range', { key: b64('k'), revision: '3' })),
    await refusal(call(url, '/v3/kv/range', { key: b64('k'), revision: '1000' })),
    await refusal(call(url, '/v3/lease/revoke', { ID: '12345' })),
  ];
}

test('JSON gateway errors carry etcd\'s exact text in error and message, and keel\'s details apart', { timeout: 120_000 }, async (t) => {
  const cluster = await Cluster.start({ nodes: 1 });
  t.after(() => cluster.stop());
  const [compacted, future, noLease] = await refusals(cluster.members[0]!.clientUrl);
  assert.equal(compacted!.error, 'etcdserver: mvcc: required revision has been compacted');
  assert.equal(compacted!.message, compacted!.error, 'message is etcd\'s text, with no details appended');
  assert.equal(compacted!.keel_code, 'KEEL_STORE_COMPACTED');
  assert.match(String(compacted!.keel_detail), /\b3\b.*\b5\b/, 'the revisions asked and compacted are in keel_detail');
  assert.equal(future!.error, 'etcdserver: mvcc: required revision is a future revision');
  assert.equal(future!.message, future!.error);
  assert.equal(noLease!.error, 'etcdserver: requested lease not found');
  assert.equal(noLease!.message, noLease!.error);

  if (!etcdPath) {
    t.diagnostic('etcd is not installed: the comparison with etcd 3.4 is skipped (.ci/run installs etcd-server)');
    return;
  }
  const etcd = await EtcdCluster.start({ binary: etcdPath, size: 1 });
  t.after(() => etcd.stop());
  const theirs = await refusals(etcd.endpoints[0]!);
  for (const [index, ours] of [compacted!, future!, noLease!].entries()) {
    assert.deepEqual({ error: ours.error, message: ours.message, code: ours.code }, { error: theirs[index]!.error, message: theirs[index]!.message, code: theirs[index]!.code });
  }
});
