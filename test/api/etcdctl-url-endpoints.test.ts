import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Cluster } from '../node/cluster-harness.js';
import { findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';

/**
 * etcdctl with endpoints given as URLs. For calls aimed at one endpoint
 * (endpoint status, endpoint hashkv) etcd's Go client sends the URL as the
 * HTTP/2 :authority, which Node's HTTP/2 stack refuses; the client port
 * sees it in the first request (src/api/h2/authority-probe.ts) and pipes the
 * connection through the rewriter (src/api/h2/authority-rewrite.ts). Needs
 * `npm run build`.
 */
const etcdctl = findEtcdctlBinary();

describe('etcdctl with http:// endpoints', { skip: etcdctl ? false : 'etcdctl is not installed (apt-get install -y etcd-client)' }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });

  const run = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(etcdctl!, [`--endpoints=${cluster.members[0]!.clientUrl}`, '--command-timeout=5s', ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 });

  it('endpoint status, endpoint hashkv, put and get all answer', () => {
    for (const args of [['endpoint', 'status'], ['endpoint', 'hashkv'], ['put', 'u', 'v'], ['get', 'u']]) {
      const result = run(args);
      assert.equal(result.status, 0, `etcdctl ${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /PROTOCOL_ERROR/);
    }
    assert.match(run(['endpoint', 'status']).stdout, new RegExp(`^${cluster.members[0]!.clientUrl}, [0-9a-f]+, 3\\.4\\.0, `));
  });

  it('their connections take the loopback hop with the rewriter (the probe saw the URL authority)', async () => {
    assert.equal(run(['endpoint', 'status']).status, 0);
    const text = await (await fetch(`${cluster.members[0]!.clientUrl}/metrics`)).text();
    const hop = text.split('\n').find((line) => line.startsWith('keel_api_grpc_connections_total{path="hop"} '));
    assert.ok(hop !== undefined && Number(hop.split(' ')[1]) >= 1, text.split('\n').filter((line) => line.startsWith('keel_api_grpc')).join('\n'));
  });
});
