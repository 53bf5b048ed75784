import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, call, eventually, get, put } from '../node/cluster-harness.js';
import { startGateway } from '../gateway/helpers.js';

// What deploy/kubernetes relies on, with real member processes: peer
// addresses and client URLs given as host names (pods' DNS names there;
// `localhost` here, which resolves to 127.0.0.1 and keeps traffic on
// loopback), each member's id from KEEL_ID (the pod's name there), and a
// gateway whose endpoints are host names.

test('members named by KEEL_ID find each other by host name, and a gateway reaches them by host name', async () => {
  const cluster = await Cluster.start({ host: 'localhost', idFromEnvironment: true });
  try {
    const [first, second] = cluster.members as [(typeof cluster.members)[0], (typeof cluster.members)[0]];
    await cluster.leader(60_000);
    // A put retried after a timeout may have applied: it writes the same value, and the read checks the value.
    await eventually(async () => put(first.clientUrl, 'deploy/host-names', 'one').then(() => true, () => false), 60_000, 'a write through a member');
    assert.equal((await get(second.clientUrl, 'deploy/host-names')).value, 'one', 'a linearizable read on another member sees it');

    const list = (await call(first.clientUrl, '/v3/cluster/member/list', {})) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
    const byName = new Map(list.members.map((member) => [member.name, member]));
    for (const member of cluster.members) {
      assert.deepEqual(byName.get(member.id)?.peerURLs, [`http://localhost:${member.peerPort}`], `${member.id} named by KEEL_ID, its peer URL a host name`);
      assert.deepEqual(byName.get(member.id)?.clientURLs, [member.clientUrl]);
    }

    const gateway = await startGateway({
      routes: [{ name: 'store', match: { prefix: '/' }, cluster: 'keel' }],
      clusters: {
        keel: {
          balancer: 'least-request',
          endpoints: cluster.members.map((member) => ({ address: `localhost:${member.clientPort}` })),
          healthCheck: { path: '/readyz', intervalMs: 200, timeoutMs: 1_000, healthyThreshold: 1, unhealthyThreshold: 2 },
        },
      },
    });
    try {
      const through = `http://127.0.0.1:${gateway.ports[0]}`;
      await eventually(async () => put(through, 'deploy/host-names', 'two').then(() => true, () => false), 60_000, 'a write through the gateway');
      assert.equal((await get(second.clientUrl, 'deploy/host-names')).value, 'two');
    } finally {
      await gateway.close();
    }
  } finally {
    await cluster.stop();
  }
});
