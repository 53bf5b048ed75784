import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster, eventually, get, put } from './cluster-harness.js';
import { rawEtcd } from '../api/grpc-client.js';
import type { RawEtcd } from '../api/grpc-client.js';

/**
 * etcd's series names on every member's /metrics, so etcd's dashboard and
 * its mixin's alerts work on keel unchanged; `promtool check metrics` on
 * what a member exports. Needs `npm run build`.
 */
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/etcd-mixin-series.json'), 'utf8')) as {
  counters: string[];
  gauges: string[];
  histograms: string[];
};

const PROMTOOL = '/usr/bin/promtool';

/**
 * promtool's lint findings that are kept on purpose, all "non-counter
 * metrics should not have _total suffix": etcd exports the commit and applied
 * indexes and the key count as gauges named `_total` (a dashboard queries
 * these exact names), and prom-client's default Node metrics name three
 * gauges so (keel_ is only the prefix keel gives them).
 */
const TOLERATED_LINT = [
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_applied_total',
  'etcd_debugging_mvcc_keys_total',
  'keel_nodejs_active_handles_total',
  'keel_nodejs_active_requests_total',
  'keel_nodejs_active_resources_total',
].map((name) => `${name} non-counter metrics should not have "_total" suffix`);

/** Sample lines of one series name (not its HELP/TYPE lines). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

describe('etcd-named metrics on a 3-member cluster', () => {
  let cluster: Cluster;
  const clients: RawEtcd[] = [];

  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
    for (const member of cluster.members) clients.push(rawEtcd(`127.0.0.1:${member.clientPort}`));
    // A few calls on every member, over gRPC and over JSON. Each is retried until it succeeds (an
    // election on a loaded machine can fail one); the puts write a fixed value, so one that timed
    // out and applied anyway changes nothing, and the counts below are lower bounds.
    const succeeds = (what: string, attempt: () => Promise<unknown>): Promise<void> =>
      eventually(() => attempt().then(() => true, () => false), 60_000, what);
    for (const [index, member] of cluster.members.entries()) {
      const raw = clients[index]!;
      await succeeds('gRPC Put', () => raw.call('KV', 'Put', { key: Buffer.from(`m/grpc/${member.id}`), value: Buffer.from('v') }, 10_000));
      await succeeds('gRPC Range', () => raw.call('KV', 'Range', { key: Buffer.from(`m/grpc/${member.id}`) }, 10_000));
      await succeeds('JSON put', () => put(member.clientUrl, `m/json/${member.id}`, 'v', 10_000));
      await succeeds('JSON range', async () => assert.equal((await get(member.clientUrl, `m/json/${member.id}`)).value, 'v'));
    }
  });
  after(async () => {
    for (const raw of clients) raw.close();
    await cluster?.stop();
  });

  it('exports every series the etcd mixin queries, on every member', async () => {
    for (const member of cluster.members) {
      // Round trips are measured by the transport's pings: wait for one to each peer. On a loaded
      // machine an election may be under way: wait for the member to know a leader again too.
      let text = '';
      await eventually(async () => {
        text = await scrape(member.clientUrl);
        return samples(text, 'etcd_network_peer_round_trip_time_seconds_count').length >= 2 && samples(text, 'etcd_server_has_leader').includes('etcd_server_has_leader 1');
      }, 30_000, `${member.id} measured peer round trips and knows a leader`);
      for (const name of [...fixture.counters, ...fixture.gauges]) assert.ok(samples(text, name).length > 0, `${member.id}: no ${name}`);
      for (const name of fixture.histograms) {
        for (const suffix of ['_bucket', '_sum', '_count']) assert.ok(samples(text, `${name}${suffix}`).length > 0, `${member.id}: no ${name}${suffix}`);
      }
      assert.equal(samples(text, 'etcd_server_is_leader').length, 1);
      // etcd's bucket boundaries, and its label names.
      assert.ok(text.includes('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"}'));
      assert.ok(text.includes('etcd_disk_wal_fsync_duration_seconds_bucket{le="8.192"}'));
      assert.ok(text.includes('etcd_disk_backend_commit_duration_seconds_bucket{le="8.192"}'));
      assert.ok(samples(text, 'etcd_network_peer_round_trip_time_seconds_bucket').some((line) => line.includes('le="0.8192"') && line.includes('To="')));
      assert.ok(samples(text, 'etcd_network_peer_received_bytes_total').every((line) => line.includes('From="')));
      // The DB size is the store's, and no larger than its quota.
      const [dbSize] = samples(text, 'etcd_mvcc_db_total_size_in_bytes').map((line) => Number(line.split(' ')[1]));
      const [quota] = samples(text, 'etcd_server_quota_backend_bytes').map((line) => Number(line.split(' ')[1]));
      assert.ok(dbSize! > 0 && dbSize! < quota!, `db size ${dbSize} within quota ${quota}`);
    }
  });

  it('counts gRPC and JSON calls per method with go-grpc-prometheus labels', async () => {
    for (const member of cluster.members) {
      const text = await scrape(member.clientUrl);
      const has = (name: string, labels: Record<string, string>, minimum: number): boolean =>
        samples(text, name).some((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)) && Number(line.split(' ').at(-1)) >= minimum);
      const range = { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Range' };
      // One gRPC Range and one JSON /v3/kv/range per member (the harness's get is a JSON range): both count under KV/Range.
      assert.ok(has('grpc_server_started_total', range, 2), `${member.id}: started KV/Range`);
      assert.ok(has('grpc_server_handled_total', { ...range, grpc_code: 'OK' }, 2), `${member.id}: handled KV/Range OK`);
      assert.ok(has('grpc_server_msg_received_total', range, 2));
      assert.ok(has('grpc_server_msg_sent_total', range, 2));
      assert.ok(has('grpc_server_handling_seconds_count', range, 2));
      assert.ok(has('grpc_server_handling_seconds_bucket', { ...range, le: '0.005' }, 0));
      assert.ok(has('grpc_server_handled_total', { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put', grpc_code: 'OK' }, 2));
      // keel's own counter, from the same event, keeps the path each call came in on.
      assert.ok(has('keel_api_requests_total', { endpoint: '/etcdserverpb.KV/Range', code: 'OK' }, 1));
      assert.ok(has('keel_api_requests_total', { endpoint: '/v3/kv/range', code: 'OK' }, 1));
    }
  });

  it('maps a failed call to its gRPC code, and an unknown JSON path to no gRPC series', async () => {
    const member = cluster.members[0]!;
    // A read of a future revision fails with OutOfRange (retried if an election answers Unavailable first).
    await eventually(
      () => clients[0]!.call('KV', 'Range', { key: Buffer.from('x'), revision: '999999' }).then(() => assert.fail('a future revision was read'), (error: { code?: number }) => error.code === 11),
      60_000,
      'a Range of a future revision answered OutOfRange',
    );
    const unknown = await fetch(`${member.clientUrl}/v3/kv/nope-${Date.now()}`, { method: 'POST', body: '{}' });
    assert.equal(unknown.status, 404);
    const text = await scrape(member.clientUrl);
    assert.ok(samples(text, 'grpc_server_handled_total').some((line) => line.includes('grpc_method="Range"') && line.includes('grpc_code="OutOfRange"')));
    assert.ok(!text.includes('nope-'), 'an unknown path is no label value');
    assert.ok(samples(text, 'keel_api_requests_total').some((line) => line.includes('endpoint="other"') && line.includes('KEEL_API_NOT_FOUND')));
  });

  it('passes promtool check metrics (etcd-named gauges ending in _total tolerated)', async (context) => {
    if (!existsSync(PROMTOOL)) {
      context.skip(`${PROMTOOL} is missing: apt-get install prometheus to run this check`);
      return;
    }
    for (const member of cluster.members) {
      const text = await scrape(member.clientUrl);
      const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
      const findings = `${result.stdout}${result.stderr}`.split('\n').map((line) => line.trim()).filter((line) => line !== '');
      const unexpected = findings.filter((line) => !TOLERATED_LINT.includes(line));
      assert.deepEqual(unexpected, [], `${member.id}: promtool check metrics found:\n${findings.join('\n')}`);
      assert.ok(result.status === 0 || (result.status === 3 && findings.length > 0), `promtool exited ${result.status}: ${result.stderr}`);
    }
  });
});
