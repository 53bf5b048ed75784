import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, call, put, raftTerm } from './cluster-harness.js';

// System test: real `keel node` processes whose WAL fsyncs are slowed by the
// `wal-before-fsync=sleep(ms)` failpoint. The failpoint waits on a timer
// before the fsync, off the event loop, as a slow cloud disk does: the loop
// keeps stepping messages meanwhile.

async function setFailpoint(url: string, action: string): Promise<void> {
  await call(url, '/debug/failpoints', { name: 'wal-before-fsync', action });
}

describe('a disk slower than the election timeout', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3, flags: ['--enable-failpoint-api'] });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('slows the writes but costs no election: heartbeats and their answers do not wait for a write', async () => {
    // Each fsync takes 700 ms on every member, over two election timeouts
    // (300 ms: 12 ticks of 25 ms). While a member's write was outstanding its
    // loop sent nothing, so the leader's heartbeats and the followers'
    // answers waited for the disk and nearly every write ended in an
    // election (check-quorum or a follower's timeout). A busy machine can
    // cause an election of its own, so one is allowed; more may not happen.
    const leader = await cluster.leader();
    await cluster.waitReady();
    const before = await raftTerm(leader.clientUrl);
    for (const member of cluster.members) await setFailpoint(member.clientUrl, 'sleep(700)');
    const writes = 6;
    let acknowledged = 0;
    try {
      for (let i = 0; i < writes; i++) {
        // Sent to one member on purpose and never retried: a failure (leader changed, timeout) only counts as not acknowledged.
        acknowledged += await put(leader.clientUrl, `slow-disk/${i}`, 'v', 10_000).then(() => 1, () => 0);
      }
    } finally {
      for (const member of cluster.members) await setFailpoint(member.clientUrl, 'off');
    }
    await cluster.leader();
    const terms = await Promise.all(cluster.members.map((member) => raftTerm(member.clientUrl)));
    const elections = Math.max(...terms) - before;
    assert.ok(elections <= 1, `${elections} elections during ${writes} writes on a slow disk (terms ${before} -> ${terms.join(', ')}); ${acknowledged} acknowledged`);
    assert.ok(acknowledged >= writes - 1, `${acknowledged} of ${writes} writes acknowledged`);
  });
});
