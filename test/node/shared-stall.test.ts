import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, raftTerm, sleep } from './cluster-harness.js';

// System test: real `keel node` processes, paused together with real
// SIGSTOP/SIGCONT. Every member stalling at once is what a long apply does
// (each member applies the same entry: a DeleteRange of 160,000 keys held
// each loop about half a second) and what a machine-wide pause does.

describe('a stall shared by every member', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('costs no election: ticks missed in the stall are dropped, not run before the peers\' messages are read', async () => {
    // 1 s is 40 ticks of 25 ms, past the longest randomized election timeout
    // (24 ticks) and two of the leader's quorum checks (12 ticks each). When
    // a member ran its missed ticks at once, every pause below ended in an
    // election. A busy machine can cause one election of its own during the
    // test, so one pause of three may see the term move; two may not.
    const pauses = 3;
    let elections = 0;
    for (let round = 0; round < pauses; round++) {
      const leader = await cluster.leader();
      await cluster.waitReady();
      const before = await raftTerm(leader.clientUrl);
      assert.ok(before > 0);
      const children = cluster.members.map((member) => member.child!);
      for (const child of children) child.kill('SIGSTOP');
      await sleep(1_000);
      for (const child of children) child.kill('SIGCONT');
      // An election, if the stall caused one, starts within one election timeout of the resume and ends soon after.
      await sleep(1_500);
      await cluster.leader();
      const terms = await Promise.all(cluster.members.map((member) => raftTerm(member.clientUrl)));
      if (terms.some((after) => after !== before)) elections++;
    }
    assert.ok(elections <= 1, `${elections} of ${pauses} shared stalls ended in an election`);
  });
});
