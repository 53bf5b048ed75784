import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EtcdCluster, findEtcdBinary } from '../../bench/lib/etcd-cluster.js';
import { keyPicker, kvWorkload, runLoad, seededRandom } from '../../src/load/index.js';

const quiet = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });
const runFixture = (name: string) => runLoad({ scenarioFile: join(import.meta.dirname, 'fixtures', name), workers: 0, progress: false, output: quiet() });

/** Runs `body` against a one-member etcd, or skips the test where etcd is not installed. */
async function withEtcd(context: TestContext, body: (cluster: EtcdCluster) => Promise<void>): Promise<void> {
  if (findEtcdBinary() === undefined) {
    context.skip('etcd is not installed (apt-get install etcd-server)');
    return;
  }
  const cluster = await EtcdCluster.start({ size: 1 });
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

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

test('the KV workload runs a put/get/txn mix against a real etcd over its JSON gateway', { timeout: 120_000 }, async (context) =>
  withEtcd(context, async (cluster) => {
    process.env.KEEL_LOAD_TEST_KV = cluster.endpoints[0]!;
    const result = await runFixture('kv.ts');
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.equal(result.summary.counters.http_reqs?.count, 200);
    assert.equal(result.summary.rates.checks?.falses, 0);
    const names = Object.keys(result.summary.checks).sort();
    assert.deepEqual(names, ['kv get ok', 'kv put ok', 'kv txn ok']);
  }));

test('a mix with a watch weight parses; a bad or unknown weight is refused, naming the field', () => {
  assert.equal(typeof kvWorkload({ endpoint: 'http://127.0.0.1:2379', mix: { put: 0.5, watch: 0.5 } }), 'function');
  assert.equal(typeof kvWorkload({ endpoint: 'http://127.0.0.1:2379', mix: { put: 0, get: 0, watch: 1 } }), 'function');
  const refused = (mix: Record<string, unknown>, field: RegExp): void =>
    assert.throws(() => kvWorkload({ endpoint: 'http://127.0.0.1:2379', mix: mix as { watch?: number } }), (error: { code?: string; message: string }) => error.code === 'KEEL_LOAD_BAD_INPUT' && field.test(error.message));
  refused({ watch: -1 }, /kvWorkload\.mix\.watch: a finite non-negative weight, not -1/);
  refused({ watch: Number.NaN }, /kvWorkload\.mix\.watch/);
  refused({ watch: '0.5' }, /kvWorkload\.mix\.watch/);
  refused({ watches: 0.5 }, /kvWorkload\.mix\.watches: not an operation/);
  refused({ put: 0, get: 0 }, /kvWorkload\.mix: .*not all zero/);
});

test('the KV workload with watches: put-to-event latency over the JSON gateway\'s watch stream, against a real etcd', { timeout: 120_000 }, async (context) =>
  withEtcd(context, async (cluster) => {
    process.env.KEEL_LOAD_TEST_KV = cluster.endpoints[0]!;
    const result = await runFixture('kv-watch.ts');
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.deepEqual(result.summary.errors, {});
    const watches = result.summary.checks['kv watch ok'];
    assert.ok(watches !== undefined && watches.passes > 0, JSON.stringify(result.summary.checks));
    assert.equal(watches.fails, 0);
    assert.equal(result.summary.rates.http_req_failed?.trues, 0);
    // Each watch is two requests (its stream and its put), every other operation one.
    assert.equal(result.summary.counters.http_reqs?.count, 120 + watches.passes);
    const latency = result.summary.trends.kv_watch_event_latency;
    assert.equal(latency?.count, watches.passes);
    assert.ok(latency.min >= 0 && latency.p99 < 60_000);
    context.diagnostic(`${watches.passes} watches, event latency ms: med ${latency.med.toFixed(2)}, p99 ${latency.p99.toFixed(2)}, max ${latency.max.toFixed(2)}`);
  }));

test('a watch whose stream stays silent or ends early is a failed request (watch-timeout, watch-ended), never a throw', { timeout: 60_000 }, async () => {
  // A gateway that answers puts and creates watches, but never sends their events: silent until cut, or ending the stream at once.
  let endEarly = false;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.url !== '/v3/watch') return void response.end('{}');
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"result":{"header":{},"created":true}}\n');
      if (endEarly) response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const run = () =>
    runLoad({
      scenario: { options: { httpTimeout: '300ms', scenarios: { kv: { executor: 'shared-iterations', vus: 2, iterations: 4, maxDuration: '30s' } } }, functions: { default: kvWorkload({ endpoint, mix: { watch: 1, put: 0, get: 0 } }) } },
      progress: false,
      output: quiet(),
    });
  try {
    for (const [ends, kind] of [[false, 'watch-timeout'], [true, 'watch-ended']] as const) {
      endEarly = ends;
      const { summary } = await run();
      assert.deepEqual(summary.errors, { [kind]: 4 });
      assert.deepEqual(summary.checks['kv watch ok'], { passes: 0, fails: 4 });
      // The streams failed; the puts did not.
      assert.deepEqual([summary.rates.http_req_failed?.trues, summary.rates.http_req_failed?.falses], [4, 4]);
      assert.equal(summary.trends.kv_watch_event_latency, undefined);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('gRPC unary calls from a proto file (etcd KV Put and Range), one channel per VU', { timeout: 120_000 }, async (context) =>
  withEtcd(context, async (cluster) => {
    process.env.KEEL_LOAD_TEST_GRPC = new URL(cluster.endpoints[0]!).host;
    process.env.KEEL_LOAD_TEST_PROTO_DIR = join(import.meta.dirname, '../../proto');
    const result = await runFixture('grpc.ts');
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.equal(result.summary.counters.grpc_reqs?.count, 60);
    assert.equal(result.summary.trends.grpc_req_duration?.count, 60);
    assert.deepEqual(result.summary.checks['range finds the key'], { passes: 30, fails: 0 });
  }));
