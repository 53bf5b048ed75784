import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapLog } from '../../src/raft/bootstrap.js';
import { SeededRandom } from '../../src/raft/random.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Message, NodeId, Ready } from '../../src/raft/types.js';
import { MessageType, message } from '../../src/raft/types.js';

/**
 * The leader's side of async storage writes (Raft thesis §10.2.1): appends
 * leave before the leader's own copy is durable, and the leader counts
 * itself toward the commit quorum only once `advance()` says it is.
 * Delivery is by hand, so each step of the interleaving is explicit.
 */

interface Member {
  raw: RawNode;
  storage: MemoryStorage;
}

function cluster(ids: readonly NodeId[], asyncStorageWrites: boolean): Map<NodeId, Member> {
  const founders = bootstrapLog(ids);
  const members = new Map<NodeId, Member>();
  ids.forEach((id, position) => {
    const storage = new MemoryStorage();
    storage.append(founders.entries);
    storage.setHardState(founders.hardState);
    members.set(id, { storage, raw: new RawNode({ id, storage, random: new SeededRandom(position + 1), asyncStorageWrites }) });
  });
  return members;
}

function persist(member: Member, ready: Ready): void {
  if (ready.snapshot) member.storage.applySnapshot(ready.snapshot);
  member.storage.append(ready.entries);
  if (ready.hardState) member.storage.setHardState(ready.hardState);
}

/** Handles every Ready (persist, then send, then advance) and delivers every message until quiet. */
function settle(members: Map<NodeId, Member>): void {
  for (let round = 0; round < 1000; round++) {
    const outbox: Message[] = [];
    for (const member of members.values()) {
      if (!member.raw.hasReady()) continue;
      const ready = member.raw.ready();
      outbox.push(...ready.earlyMessages);
      persist(member, ready);
      outbox.push(...ready.messages);
      member.raw.advance(ready);
    }
    if (outbox.length === 0) return;
    for (const m of outbox) members.get(m.to)?.raw.step(m);
  }
  assert.fail('cluster did not settle');
}

function elect(members: Map<NodeId, Member>, id: NodeId): Member {
  const leader = members.get(id)!;
  leader.raw.campaign();
  settle(members);
  assert.equal(leader.raw.status().softState.role, 'leader');
  return leader;
}

test('the leader sends its appends before its own write and commits only after it, once a follower has acked', () => {
  const members = cluster(['n1', 'n2', 'n3'], true);
  const leader = elect(members, 'n1');
  const n2 = members.get('n2')!;
  const { index } = leader.raw.propose(new TextEncoder().encode('x'));

  const ready = leader.raw.ready();
  assert.deepEqual(ready.entries.map((entry) => entry.index), [index]);
  const appends = ready.earlyMessages.filter((m) => m.type === MessageType.Append);
  assert.deepEqual(appends.map((m) => m.to).sort(), ['n2', 'n3'], 'appends may leave before the leader persists');
  assert.equal(ready.messages.some((m) => m.type === MessageType.Append), false);

  // n2 persists and acks while the leader's own write is still in flight.
  n2.raw.step(appends.find((m) => m.to === 'n2')!);
  const followerReady = n2.raw.ready();
  assert.equal(followerReady.earlyMessages.length, 0, 'a follower never acks before its write');
  const ack = followerReady.messages.find((m) => m.type === MessageType.AppendResponse);
  assert.ok(ack && !ack.reject && ack.index === index);
  persist(n2, followerReady);
  n2.raw.advance(followerReady);
  leader.raw.step(ack);
  assert.ok(leader.raw.status().hardState.commit < index, 'a follower alone is not a quorum while the leader\'s copy is not durable');
  assert.equal(leader.raw.status().progress.get('n1')!.match < index, true);

  // The leader's write completes: advance() is its self-ack, and that commits.
  persist(leader, ready);
  leader.raw.advance(ready);
  assert.equal(leader.raw.status().progress.get('n1')!.match, index);
  assert.equal(leader.raw.status().hardState.commit, index);
  const next = leader.raw.ready();
  assert.deepEqual(next.committedEntries.map((entry) => entry.index), [index]);
  const commitNotice = next.earlyMessages.find((m) => m.type === MessageType.Append && m.to === 'n2');
  assert.equal(commitNotice?.commit, index, 'followers learn the new commit index');
  leader.raw.advance(next);
});

test('votes and a term the leader has not persisted yet never go early', () => {
  const members = cluster(['n1', 'n2', 'n3'], true);
  const n1 = members.get('n1')!;
  n1.raw.campaign();
  const ready = n1.raw.ready();
  assert.equal(ready.earlyMessages.length, 0);
  assert.ok(ready.messages.some((m) => m.type === MessageType.PreVote || m.type === MessageType.Vote));
});

test('while a Ready is outstanding, heartbeats and their answers can be taken at a durable term; acks, and answers at a term not yet durable, cannot', () => {
  const members = cluster(['n1', 'n2', 'n3'], true);
  const leader = elect(members, 'n1');
  const n2 = members.get('n2')!;
  const { index } = leader.raw.propose(new TextEncoder().encode('x'));
  const leaderReady = leader.raw.ready(); // outstanding: the leader's write is on its disk
  const append = leaderReady.earlyMessages.find((m) => m.type === MessageType.Append && m.to === 'n2')!;
  n2.raw.step(append);
  const followerReady = n2.raw.ready(); // outstanding: the follower's write too
  assert.equal(n2.raw.takeEarlyMessages().length, 0, 'nothing to take: the append answer is in the Ready and waits');

  // The leader's heartbeat timer fires during its write: the heartbeats may go now.
  let heartbeats: Message[] = [];
  for (let i = 0; i < 10 && heartbeats.length === 0; i++) {
    leader.raw.tick();
    heartbeats = leader.raw.takeEarlyMessages().filter((m) => m.type === MessageType.Heartbeat);
  }
  assert.deepEqual(heartbeats.map((m) => m.to).sort(), ['n2', 'n3']);
  n2.raw.step(heartbeats.find((m) => m.to === 'n2')!);
  const answers = n2.raw.takeEarlyMessages();
  assert.deepEqual(answers.map((m) => m.type), [MessageType.HeartbeatResponse], 'the follower answers the heartbeat during its write');
  assert.equal(followerReady.messages.filter((m) => m.type === MessageType.AppendResponse && m.index === index).length, 1, 'the ack still waits for the write');
  leader.raw.step(answers[0]!);
  persist(n2, followerReady);
  n2.raw.advance(followerReady);
  persist(leader, leaderReady);
  leader.raw.advance(leaderReady);

  // A heartbeat from a newer term: the answer carries a term this follower has not made durable, so it waits for the Ready.
  const n3 = members.get('n3')!;
  const term = n3.raw.status().hardState.term + 1;
  n3.raw.step(message({ type: MessageType.Heartbeat, from: 'n2', to: 'n3', term, commit: 0 }));
  assert.equal(n3.raw.takeEarlyMessages().length, 0, 'an answer at a term not yet durable was taken early');
  const ready = n3.raw.ready();
  assert.ok(ready.messages.some((m) => m.type === MessageType.HeartbeatResponse && m.term === term), 'it leaves with the Ready, after the term is written');
});

test('a single voter commits its entry only after advance() reports it durable', () => {
  const members = cluster(['n1'], true);
  const leader = elect(members, 'n1');
  const { index } = leader.raw.propose(new TextEncoder().encode('y'));
  const ready = leader.raw.ready();
  assert.equal(ready.committedEntries.some((entry) => entry.index === index), false);
  persist(leader, ready);
  leader.raw.advance(ready);
  assert.equal(leader.raw.status().hardState.commit, index);
  assert.ok(leader.raw.ready().committedEntries.some((entry) => entry.index === index));
});

test('without async storage writes nothing is early and the leader counts itself at append', () => {
  const members = cluster(['n1'], false);
  const leader = elect(members, 'n1');
  const { index } = leader.raw.propose(new TextEncoder().encode('z'));
  const ready = leader.raw.ready();
  assert.equal(ready.earlyMessages.length, 0);
  assert.ok(ready.committedEntries.some((entry) => entry.index === index));
  leader.raw.advance(ready);
});
