import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, seededRandom } from '../../src/resilience/index.js';
import { Cluster, priorityLoads } from '../../src/gateway/cluster.js';
import { parseGatewayConfig, defaults, type ClusterConfig } from '../../src/gateway/config.js';
import { OutlierDetector } from '../../src/gateway/health/outlier.js';

function clusterConfig(endpoints: Array<{ address: string; zone?: string; priority?: number }>, extra: Record<string, unknown> = {}): ClusterConfig {
  const config = parseGatewayConfig({ listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }], clusters: { c: { endpoints, ...extra } } });
  return config.clusters.c as ClusterConfig;
}

function share(cluster: Cluster, picks: number, zone = ''): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const endpoint = cluster.pick({ zone, hashKey: undefined }, 0);
    const key = endpoint?.address ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

test('priority loads: overprovisioning 1.4 keeps P0 whole down to 72% healthy, then fails over in proportion', () => {
  assert.deepEqual(priorityLoads([1, 1], 1.4), [100, 0]);
  assert.deepEqual(priorityLoads([0.75, 1], 1.4), [100, 0]);
  const [p0, p1] = priorityLoads([0.5, 1], 1.4) as [number, number];
  assert.ok(Math.abs(p0 - 70) < 1e-9 && Math.abs(p1 - 30) < 1e-9, `${p0} ${p1}`);
  assert.deepEqual(priorityLoads([0, 1], 1.4), [0, 100]);
  assert.deepEqual(priorityLoads([0, 0], 1.4), [100, 0]);
});

test('a cluster fails over to priority 1 as priority 0 loses endpoints, and panics when everything is down', () => {
  const addresses = ['a', 'b', 'c', 'd'].map((name, i) => ({ address: `${name}:80`, priority: i < 2 ? 0 : 1 }));
  const cluster = new Cluster('c', clusterConfig(addresses), seededRandom(3), 0);
  assert.equal(share(cluster, 1_000).get('c:80') ?? 0, 0);
  cluster.endpoints[0]!.healthy = false;
  const half = share(cluster, 4_000);
  const p1 = (half.get('c:80') ?? 0) + (half.get('d:80') ?? 0);
  assert.ok(Math.abs(p1 / 4_000 - 0.3) < 0.05, `priority 1 took ${p1}`);
  assert.equal(half.get('a:80') ?? 0, 0);
  for (const endpoint of cluster.endpoints) endpoint.healthy = false;
  assert.ok(cluster.pick({ zone: '', hashKey: undefined }, 0), 'panic routes to all');
});

test('zone-aware routing keeps traffic local and spills when the local zone loses capacity', () => {
  const list = [
    { address: 'a1:80', zone: 'a' }, { address: 'a2:80', zone: 'a' }, { address: 'b1:80', zone: 'b' }, { address: 'b2:80', zone: 'b' },
  ];
  const cluster = new Cluster('c', clusterConfig(list), seededRandom(5), 0);
  const local = share(cluster, 1_000, 'a');
  assert.equal((local.get('b1:80') ?? 0) + (local.get('b2:80') ?? 0), 0);
  cluster.endpoints[0]!.healthy = false;
  const spilled = share(cluster, 4_000, 'a');
  const remote = (spilled.get('b1:80') ?? 0) + (spilled.get('b2:80') ?? 0);
  assert.ok(Math.abs(remote / 4_000 - 0.3) < 0.05, `remote took ${remote}`);
});

test('outlier detection: consecutive 5xx eject, the time grows with repeats, max ejection percent holds', async () => {
  const clock = new FakeClock(0);
  const list = ['a', 'b', 'c', 'd'].map((name) => ({ address: `${name}:80` }));
  const cluster = new Cluster('c', clusterConfig(list), seededRandom(1), 0);
  const config = { ...defaults.outlierDetection(), consecutive5xx: 3, baseEjectionTimeMs: 1_000, maxEjectionPercent: 25 };
  const detector = new OutlierDetector(config, cluster.endpoints, clock);
  const [a, b] = cluster.endpoints as [NonNullable<(typeof cluster.endpoints)[0]>, NonNullable<(typeof cluster.endpoints)[0]>];
  for (let i = 0; i < 3; i++) detector.record(a, { kind: 'status', status: 500 });
  assert.ok(a.isEjected(clock.now()));
  for (let i = 0; i < 3; i++) detector.record(b, { kind: 'error' });
  assert.ok(!b.isEjected(clock.now()), '25% of 4 endpoints: only one may be out');
  await clock.advance(1_000);
  detector.sweep();
  assert.ok(!a.isEjected(clock.now()));
  assert.equal(a.eligibleSinceMs, 1_000, 'slow start counts from un-ejection');
  for (let i = 0; i < 3; i++) detector.record(a, { kind: 'status', status: 503 });
  assert.equal(a.ejectedUntilMs, 1_000 + 2_000, 'second ejection lasts twice as long');
});

test('outlier detection: success-rate outliers are ejected at the interval', () => {
  const clock = new FakeClock(0);
  const list = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ address: `${name}:80` }));
  const cluster = new Cluster('c', clusterConfig(list), seededRandom(1), 0);
  const config = { ...defaults.outlierDetection(), consecutive5xx: 1_000, consecutiveGatewayErrors: 1_000, maxEjectionPercent: 50, successRateRequestVolume: 10 };
  const detector = new OutlierDetector(config, cluster.endpoints, clock);
  cluster.endpoints.forEach((endpoint, index) => {
    for (let i = 0; i < 100; i++) detector.record(endpoint, { kind: 'status', status: index === 0 && i % 2 === 0 ? 500 : 200 });
  });
  detector.sweep();
  assert.deepEqual(cluster.endpoints.map((e) => e.isEjected(0)), [true, false, false, false, false, false]);
});
