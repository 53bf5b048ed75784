import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapLog } from '../../src/raft/bootstrap.js';
import { ConfigError, RaftError } from '../../src/raft/errors.js';
import { SeededRandom } from '../../src/raft/random.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { MessageType, message } from '../../src/raft/types.js';
import { Harness } from './harness.js';

function singleNode(): { raw: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const { entries, hardState } = bootstrapLog(['n1']);
  storage.append(entries);
  storage.setHardState(hardState);
  return { raw: new RawNode({ id: 'n1', storage, random: new SeededRandom(1) }), storage };
}

test('a Ready carries entries to persist, then the same entries committed, in one round for a single voter', () => {
  const { raw, storage } = singleNode();
  raw.campaign();
  const first = raw.ready();
  assert.equal(first.softState?.role, 'leader');
  assert.equal(first.mustSync, true, 'a new term and vote must be synced');
  storage.append(first.entries);
  if (first.hardState) storage.setHardState(first.hardState);
  raw.advance(first);
  const result = raw.propose(new TextEncoder().encode('x'));
  const ready = raw.ready();
  assert.deepEqual(ready.entries.map((e) => e.index), [result.index]);
  assert.deepEqual(ready.committedEntries.map((e) => e.index), [result.index], 'committed entries may include this Ready\'s own entries');
  assert.equal(ready.mustSync, true);
  storage.append(ready.entries);
  raw.advance(ready);
  assert.equal(raw.hasReady(), false);
});

test('ready() twice without advance() is refused', () => {
  const { raw } = singleNode();
  raw.campaign();
  raw.ready();
  assert.throws(() => raw.ready(), (error: { code?: string }) => error.code === 'KEEL_RAFT_ASSERTION');
});

test('local-only message types cannot be stepped from the network', () => {
  const { raw } = singleNode();
  assert.throws(() => raw.step({ type: MessageType.Hup, from: 'n2', to: 'n1', term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0 }));
});

test('invalid configuration is a typed error', () => {
  const storage = new MemoryStorage();
  assert.throws(
    () => new RawNode({ id: 'n1', storage, random: new SeededRandom(1), electionTicks: 1, heartbeatTicks: 1 }),
    (error) => error instanceof ConfigError && error.code === 'KEEL_RAFT_CONFIG_INVALID',
  );
  assert.throws(
    () => new RawNode({ id: 'n1', storage, random: new SeededRandom(1), readOnlyOption: 'lease-based', checkQuorum: false }),
    (error) => RaftError.is(error) && error.code === 'KEEL_RAFT_CONFIG_INVALID',
  );
});

test('proposals without a leader fail with KEEL_RAFT_PROPOSAL_DROPPED; with forwarding off a follower names the leader', () => {
  const harness = new Harness(['n1', 'n2', 'n3'], { disableProposalForwarding: true });
  assert.throws(() => harness.node('n2').raw.propose(new Uint8Array([1])), (error: RaftError) => error.code === 'KEEL_RAFT_PROPOSAL_DROPPED');
  harness.node('n1').raw.campaign();
  harness.stabilize();
  assert.throws(
    () => harness.node('n2').raw.propose(new Uint8Array([1])),
    (error: RaftError & { leader?: string }) => error.code === 'KEEL_RAFT_NOT_LEADER' && error.leader === 'n1',
  );
});

test('a membership change is refused until the new leader commits an entry of its term', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  // Deliver the votes but not yet the no-op's acknowledgements.
  harness.dropTypes.add(MessageType.AppendResponse);
  harness.stabilize();
  assert.match(harness.confChange('n1', 'add-learner', 'n4'), /KEEL_RAFT_CONF_CHANGE_REJECTED.*committed an entry in its term/);
  harness.dropTypes.clear();
  harness.tickAll(2);
  harness.addEmptyNode('n4');
  assert.match(harness.confChange('n1', 'add-learner', 'n4'), /^index=/);
});

test('a removed leader steps down once its removal commits, and the rest elect a leader', () => {
  const harness = new Harness(['n1', 'n2', 'n3']);
  harness.node('n1').raw.campaign();
  harness.stabilize();
  assert.match(harness.confChange('n1', 'remove', 'n1'), /^index=/);
  harness.stabilize();
  assert.equal(harness.node('n1').raw.status().softState.role, 'follower');
  harness.crash('n1');
  harness.tickAll(40);
  const leaders = ['n2', 'n3'].filter((id) => harness.node(id).raw.status().softState.role === 'leader');
  assert.equal(leaders.length, 1);
  assert.deepEqual(harness.node(leaders[0]!).raw.confState().voters, ['n2', 'n3']);
});

test('proposals beyond the uncommitted byte budget are dropped, not queued without bound', () => {
  const harness = new Harness(['n1', 'n2', 'n3'], { maxUncommittedEntriesBytes: 100 });
  harness.node('n1').raw.campaign();
  harness.stabilize();
  harness.isolate('n1');
  const raw = harness.node('n1').raw;
  raw.propose(new Uint8Array(80));
  raw.propose(new Uint8Array(15));
  assert.throws(() => raw.propose(new Uint8Array(10)), (error: RaftError) => error.code === 'KEEL_RAFT_PROPOSAL_DROPPED');
});

test('MemoryStorage reports compacted and unavailable ranges with typed errors', () => {
  const storage = new MemoryStorage();
  const { entries } = bootstrapLog(['a', 'b', 'c']);
  storage.append(entries);
  storage.createSnapshot(2, { voters: ['a', 'b'], learners: [] }, new Uint8Array());
  storage.compact(2);
  assert.equal(storage.firstIndex(), 3);
  assert.throws(() => storage.entries(1, 3, 1000), (error: RaftError) => error.code === 'KEEL_RAFT_LOG_COMPACTED');
  assert.throws(() => storage.entries(3, 9, 1000), (error: RaftError) => error.code === 'KEEL_RAFT_LOG_UNAVAILABLE');
  assert.equal(storage.term(2), 1);
});

test('a vote request from an older term is refused with this member\'s term, so the candidate learns it', () => {
  // Found by the simulator (seed 936, leases forced): a member whose stale
  // configuration names only members that cannot elect it kept campaigning at
  // terms the others never heard of, and ignored their lower-term requests;
  // nobody could win. Raft's RequestVote answers a stale term with its own.
  const storage = new MemoryStorage();
  const { entries, hardState } = bootstrapLog(['n1', 'n2', 'n3']);
  storage.append(entries);
  storage.setHardState({ ...hardState, term: 7 });
  const raw = new RawNode({ id: 'n1', storage, random: new SeededRandom(1), preVote: false });
  const last = storage.lastIndex();
  raw.step({ type: MessageType.Vote, from: 'n2', to: 'n1', term: 5, logTerm: 1, index: last, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0 });
  const ready = raw.ready();
  const answers = [...ready.messages, ...(ready.earlyMessages ?? [])].filter((m) => m.to === 'n2');
  assert.deepEqual(answers.map((m) => ({ type: m.type, term: m.term, reject: m.reject })), [{ type: MessageType.VoteResponse, term: 7, reject: true }]);
});

test('a proposal buffered for the old leader survives a term change in the same turn and goes to the new leader', () => {
  // A follower batches forwards until its next Ready. A transfer's vote or the
  // new leader's first append stepped in that turn reset the buffer, and the
  // write was lost; its client saw "leader changed" across a planned restart.
  const harness = new Harness(['n1', 'n2', 'n3'], { batchAppends: true });
  harness.node('n1').raw.campaign();
  harness.stabilize();
  const follower = harness.node('n2').raw;
  assert.equal(harness.propose('n2', 'x'), 'forwarded to n1');
  const term = follower.status().hardState.term;
  // n3 won the next term (as after a transfer) and its heartbeat arrives before n2's Ready.
  follower.step(message({ type: MessageType.Heartbeat, from: 'n3', to: 'n2', term: term + 1 }));
  const ready = follower.ready();
  const forwards = ready.messages.filter((m) => m.type === MessageType.Propose);
  assert.deepEqual(forwards.map((m) => ({ to: m.to, data: new TextDecoder().decode(m.entries[0]!.data) })), [{ to: 'n3', data: 'x' }]);
  assert.equal(follower.heldForwardedTerm(), term + 1, 'the member knows its forward lands after the new term\'s first entry');
});

test('a proposal buffered when a vote request ends the term waits for the next leader, then goes to it once', () => {
  const harness = new Harness(['n1', 'n2', 'n3'], { batchAppends: true, preVote: false, checkQuorum: false });
  harness.node('n1').raw.campaign();
  harness.stabilize();
  const follower = harness.node('n2').raw;
  assert.equal(harness.propose('n2', 'y'), 'forwarded to n1');
  const { term, commit } = follower.status().hardState;
  const lastIndex = follower.status().lastIndex;
  follower.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: term + 1, logTerm: term, index: lastIndex }));
  const duringElection = follower.ready();
  assert.equal(duringElection.messages.filter((m) => m.type === MessageType.Propose).length, 0, 'no leader is known yet');
  follower.advance(duringElection);
  follower.step(message({ type: MessageType.Heartbeat, from: 'n3', to: 'n2', term: term + 1, commit }));
  const afterElection = follower.ready();
  const forwards = afterElection.messages.filter((m) => m.type === MessageType.Propose);
  assert.deepEqual(forwards.map((m) => ({ to: m.to, entries: m.entries.length })), [{ to: 'n3', entries: 1 }]);
  follower.advance(afterElection);
  assert.equal(follower.hasReady() && follower.ready().messages.some((m) => m.type === MessageType.Propose), false, 'delivered once');
});
