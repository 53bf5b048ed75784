import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElection, Role } from '../../src/raft/types.js';
import type { NodeId, SoftState } from '../../src/raft/types.js';
import { Harness } from './harness.js';

// SoftState.leaderElection: how the known leader won its term, as each member
// saw it. The member layer gives writes in flight at a leader change a grace
// only when the new leader may have been handed some (src/node/lost-writes.ts).

function soft(harness: Harness, id: NodeId): SoftState {
  return harness.node(id).raw.status().softState;
}

function elections(harness: Harness, ids: readonly NodeId[]): string {
  return ids.map((id) => `${id}:${soft(harness, id).leader || '-'}:${soft(harness, id).leaderElection}`).join(' ');
}

/** Ticks every running member until one of `ids` leads; bounded so a stuck cluster fails the test. */
function tickUntilLeader(harness: Harness, ids: readonly NodeId[]): NodeId {
  for (let round = 0; round < 500; round++) {
    const leader = ids.find((id) => soft(harness, id).role === Role.Leader);
    if (leader !== undefined) return leader;
    harness.tickAll(1);
  }
  throw new Error('no leader emerged');
}

test('a leader that won on its own is reported as elected by itself and by the voters that saw its campaign', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  assert.equal(elections(harness, ['n1']), 'n1:-:unknown', 'no leader yet');
  harness.node('n1').raw.campaign();
  harness.stabilize();
  assert.equal(elections(harness, ['n1', 'n2', 'n3']), 'n1:n1:election n2:n1:election n3:n1:election');
});

test('the Ready that reports a new leader says how it won', () => {
  const harness = new Harness(['n1']);
  const raw = harness.node('n1').raw;
  raw.campaign();
  const ready = raw.ready();
  assert.deepEqual(ready.softState, { leader: 'n1', role: Role.Leader, leaderElection: LeaderElection.Election });
  raw.advance(ready);
});

test('after a leader transfer the new leader, the old one and the other voter report a transfer', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  harness.node('n1').raw.transferLeader('n3');
  harness.stabilize();
  assert.equal(elections(harness, ['n1', 'n2', 'n3']), 'n1:n3:transfer n2:n3:transfer n3:n3:transfer');
});

test('a crash of the leader after a transfer: its successor is elected on its own again', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  harness.node('n1').raw.transferLeader('n3');
  harness.stabilize();
  harness.crash('n3');
  const leader = tickUntilLeader(harness, ['n1', 'n2']);
  assert.equal(elections(harness, ['n1', 'n2']), `n1:${leader}:election n2:${leader}:election`);
});

test('a voter that did not see the winning campaign cannot place the leader', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  // n3 misses n1's vote request, then hears from n1 as leader.
  harness.partition(['n1', 'n2'], ['n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  harness.heal();
  harness.tickAll(5); // heartbeats reach n3
  assert.equal(elections(harness, ['n1', 'n2', 'n3']), 'n1:n1:election n2:n1:election n3:n1:unknown');
});

test('a restarted member cannot place the leader it finds', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  harness.crash('n2');
  harness.restart('n2');
  harness.tickAll(5);
  assert.equal(elections(harness, ['n2']), 'n2:n1:unknown');
});

test('a learner sees no vote request, so it cannot place the leader either', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  assert.match(harness.confChange('n1', 'add-learner', 'n4'), /^index=/);
  harness.addEmptyNode('n4');
  harness.stabilize();
  harness.tickAll(5);
  assert.equal(elections(harness, ['n4']), 'n4:n1:unknown');
  // And after a transfer between voters it still cannot: the campaign's vote requests go to voters only.
  harness.node('n1').raw.transferLeader('n2');
  harness.stabilize();
  assert.equal(elections(harness, ['n1', 'n3', 'n4']), 'n1:n2:transfer n3:n2:transfer n4:n2:unknown');
});
