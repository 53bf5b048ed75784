import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EtcdCluster, findEtcdBinary } from '../../bench/lib/etcd-cluster.js';
import { keyPicker, runLoad, seededRandom } from '../../src/load/index.js';

test('key distributions: uniform spreads, zipfian favours low ranks, hot is one key', () => {
  const random = seededRandom(7);
  const counts = (pick: (uniform: number) => number): number[] => {
    const tally = new Array<number>(100).fill(0);
    for (let draw = 0; draw < 100_000; draw++) tally[pick(random())]!++;
    return tally;
  };
  const uniform = counts(keyPicker('uniform', 100));
  assert.ok(Math.min(...uniform) > 800 && Math.max(...uniform) < 1200);
  const zipf = counts(keyPicker('zipfian', 100));
  // Weights 1/k^0.99: rank 1 gets ~19% of draws, rank 2 about half that, rank 100 ~0.2%.
  assert.ok(zipf[0]! > 17_000 && zipf[0]! < 21_000, `rank 1: ${zipf[0]}`);
  assert.ok(Math.abs(zipf[0]! / zipf[1]! - 2) < 0.2);
  assert.ok(zipf[99]! < 400);
  assert.deepEqual(counts(keyPicker('hot', 100)).slice(0, 2), [100_000, 0]);
});

test('the KV workload runs a put/get/txn mix against a real etcd over its JSON gateway', { timeout: 120_000 }, async (context) => {
  if (findEtcdBinary() === undefined) {
    context.skip('etcd is not installed (apt-get install etcd-server)');
    return;
  }
  const cluster = await EtcdCluster.start({ size: 1 });
  try {
    process.env.KEEL_LOAD_TEST_KV = cluster.endpoints[0]!;
    const result = await runLoad({ scenarioFile: join(import.meta.dirname, 'fixtures/kv.ts'), workers: 0, progress: false, output: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.equal(result.summary.counters.http_reqs?.count, 200);
    assert.equal(result.summary.rates.checks?.falses, 0);
    const names = Object.keys(result.summary.checks).sort();
    assert.deepEqual(names, ['kv get ok', 'kv put ok', 'kv txn ok']);
  } finally {
    await cluster.stop();
  }
});

test('gRPC unary calls from a proto file (etcd KV Put and Range), one channel per VU', { timeout: 120_000 }, async (context) => {
  if (findEtcdBinary() === undefined) {
    context.skip('etcd is not installed (apt-get install etcd-server)');
    return;
  }
  const cluster = await EtcdCluster.start({ size: 1 });
  try {
    process.env.KEEL_LOAD_TEST_GRPC = new URL(cluster.endpoints[0]!).host;
    process.env.KEEL_LOAD_TEST_PROTO_DIR = join(import.meta.dirname, '../../proto');
    const result = await runLoad({ scenarioFile: join(import.meta.dirname, 'fixtures/grpc.ts'), workers: 0, progress: false, output: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.equal(result.summary.counters.grpc_reqs?.count, 60);
    assert.equal(result.summary.trends.grpc_req_duration?.count, 60);
    assert.deepEqual(result.summary.checks['range finds the key'], { passes: 30, fails: 0 });
  } finally {
    await cluster.stop();
  }
});
