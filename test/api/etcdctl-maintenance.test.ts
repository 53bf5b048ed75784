import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdCluster, findEtcdBinary, findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';
import { startPair } from './etcd-pair.js';
import { Cluster } from '../node/cluster-harness.js';

/**
 * etcdctl's maintenance commands against keel, and against a real etcd
 * where etcd-server is installed, with output normalised for what differs
 * by nature (ids, sizes, indexes, durations, endpoints, versions).
 * Endpoints are host:port (see src/api/client-port.ts).
 */
const etcdctlPath = findEtcdctlBinary();
const etcdPath = findEtcdBinary();
if (!etcdctlPath) console.log('# etcdctl not installed (apt-get install -y etcd-client): skipping the etcdctl maintenance suite');
if (!etcdPath) console.log('# etcd not installed (apt-get install -y etcd-server): etcdctl runs against keel only, without comparison');

interface Run {
  out: string;
  err: string;
  status: number | null;
}

function etcdctl(endpoints: string, args: string[]): Run {
  const run = spawnSync(etcdctlPath!, [`--endpoints=${endpoints}`, '--command-timeout=10s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', timeout: 30_000 });
  // etcdctl's own JSON log lines (snapshot save) are not output.
  return { out: run.stdout, err: run.stderr.split('\n').filter((line) => line && !line.startsWith('{')).join('\n'), status: run.status };
}

/** Replaces what differs between any two clusters by nature with placeholders. */
function normaliseText(text: string, endpoints: string, directory: string): string {
  let out = directory === '' ? text : text.split(directory).join('<dir>');
  for (const endpoint of endpoints.split(',')) out = out.split(endpoint).join('<endpoint>');
  return out
    .replace(/took = [0-9.]+[a-zµ]+/g, 'took = <duration>')
    .replace(/\b[0-9a-f]{12,16}\b/g, '<id>');
}

/** dbSizeInUse is 0 on an empty keel store (etcd's bbolt always has pages in use), and JSON leaves zeros out: present or not, it is a placeholder. */
function normaliseStatus(text: string): unknown {
  const entries = JSON.parse(text) as { Status: Record<string, unknown> }[];
  for (const entry of entries) entry.Status.dbSizeInUse ??= 0;
  return normaliseFields(JSON.stringify(entries));
}

function normaliseFields(text: string): unknown {
  const drop = new Set(['cluster_id', 'member_id', 'raft_term', 'revision', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'dbSize', 'dbSizeInUse', 'version', 'Endpoint']);
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, drop.has(k) ? '*' : walk(v)]));
    return value;
  };
  return walk(JSON.parse(text));
}

describe('etcdctl maintenance commands', { skip: !etcdctlPath && 'etcdctl not installed' }, () => {
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

  /** Runs against both; returns keel's run, having compared it with etcd's where etcd runs. */
  const both = (args: (endpoints: string) => string[], compare: (run: Run, endpoints: string) => unknown, pick: (endpoints: string) => string = (all) => all): Run => {
    const keelArgs = args(keelEndpoints());
    const fromKeel = etcdctl(pick(keelEndpoints()), keelArgs);
    if (etcd) {
      const fromEtcd = etcdctl(pick(etcdEndpoints()), args(etcdEndpoints()));
      const what = `etcdctl ${keelArgs.join(' ')}`;
      assert.equal(fromKeel.status, fromEtcd.status, `${what}: exit ${fromKeel.status} vs ${fromEtcd.status}\n keel: ${fromKeel.err}\n etcd: ${fromEtcd.err}`);
      const [keelView, etcdView] = [compare(fromKeel, keelEndpoints()), compare(fromEtcd, etcdEndpoints())];
      assert.deepEqual(keelView, etcdView, `${what}\n keel: ${JSON.stringify(keelView)}\n etcd: ${JSON.stringify(etcdView)}`);
    }
    return fromKeel;
  };

  it('endpoint status and endpoint health', () => {
    const status = both(() => ['endpoint', 'status', '-w', 'json'], (run) => normaliseStatus(run.out));
    assert.equal(status.status, 0, status.err);
    assert.equal((JSON.parse(status.out) as unknown[]).length, 3);
    const health = both(() => ['endpoint', 'health'], (run, endpoints) => normaliseText(run.out + run.err, endpoints, '').split('\n').sort());
    assert.equal(health.status, 0, health.err);
    assert.equal(health.out.split('\n').filter((line) => line.includes('is healthy')).length + health.err.split('\n').filter((line) => line.includes('is healthy')).length, 3);
  });

  it('alarm list and alarm disarm with no alarm raised', () => {
    const list = both(() => ['alarm', 'list'], (run) => run.out + run.err);
    assert.equal(list.status, 0, list.err);
    assert.equal(list.out, '');
    const disarm = both(() => ['alarm', 'disarm'], (run) => run.out + run.err);
    assert.equal(disarm.status, 0, disarm.err);
  });

  it('snapshot save writes a file etcdctl accepts (keel\'s content, not bbolt: etcdctl snapshot restore/status cannot read it)', () => {
    const file = (endpoints: string): string => join(keel.root, endpoints === keelEndpoints() ? 'keel.snap' : 'etcd.snap');
    const saved = both((endpoints) => ['snapshot', 'save', file(endpoints)], (run, endpoints) => normaliseText(run.out, endpoints, file(endpoints)), (all) => all.split(',')[0]!);
    assert.equal(saved.status, 0, saved.err);
    assert.ok(existsSync(file(keelEndpoints())));
    const bytes = readFileSync(file(keelEndpoints()));
    const verify = spawnSync(process.execPath, [join(import.meta.dirname, '../../dist/src/cli/main.js'), 'snapshot', 'restore', file(keelEndpoints()), '--data-dir', join(keel.root, 'from-etcdctl'), '--id', 'x1', '--peers', 'x1=127.0.0.1:1'], { encoding: 'utf8' });
    assert.equal(verify.status, 0, `keel restores what etcdctl saved (${bytes.length} bytes): ${verify.stderr}`);
  });

  it('move-leader to a follower (ids in hex, as etcdctl member list prints them)', () => {
    const moveTo = (endpoints: string): string[] => {
      const status = JSON.parse(etcdctl(endpoints, ['endpoint', 'status', '-w', 'json']).out) as { Status: { header: { member_id: number | string }; leader: number | string } }[];
      const follower = status.find((entry) => String(entry.Status.header.member_id) !== String(entry.Status.leader))!;
      // JSON numbers lose uint64 precision: take the hex id from the table output instead.
      const listing = etcdctl(endpoints, ['endpoint', 'status']);
      const table = listing.out.split('\n').filter(Boolean);
      const row = table.find((line) => line.split(', ')[4] === 'false')!; // IS LEADER
      assert.ok(follower && row, `a follower in ${endpoints}: ${table.join(' | ')} ${listing.err}`);
      return ['move-leader', row.split(', ')[1]!];
    };
    const moved = both(moveTo, (run, endpoints) => normaliseText(run.out + run.err, endpoints, ''));
    assert.equal(moved.status, 0, moved.err);
    assert.match(moved.out, /Leadership transferred from [0-9a-f]+ to [0-9a-f]+/);
  });
});
