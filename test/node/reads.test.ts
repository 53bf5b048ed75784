import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/types.js';
import { Reads, type ReadHost } from '../../src/node/reads.js';

/** A member stand-in (no raft, no sockets): the test plays the leader's answers to each ReadIndex round. */
function member(): { host: ReadHost; rounds: Uint8Array[]; setLeader(id: string): void; full: boolean } {
  let leader = 'n1';
  let change = new AbortController();
  const state = {
    rounds: [] as Uint8Array[],
    full: false,
    setLeader(id: string) {
      leader = id;
      change.abort();
      change = new AbortController();
    },
    host: {} as ReadHost,
  };
  state.host = {
    leader: () => leader,
    stopping: () => false,
    checkAccepting: () => {},
    leaderChange: () => change.signal,
    full: () => state.full,
    readIndex: (context) => state.rounds.push(context),
  };
  return state;
}

test('a read waits for its confirmed index to be applied; a round lost to a leader change is retried with the next leader', async () => {
  const m = member();
  const reads = new Reads(m.host);
  let done = false;
  const read = reads.barrier(10_000).then(() => (done = true));
  assert.equal(m.rounds.length, 1);
  // The leader changes before it answers: the round fails and the barrier starts another with the new leader.
  reads.leaderChanged();
  m.setLeader('n2');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(m.rounds.length, 2);
  reads.confirmed([{ index: 7, context: m.rounds[1]! }]);
  reads.answer(6);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false, 'index 7 is not applied yet');
  reads.answer(7);
  await read;
  assert.equal(reads.size, 0);
});

test('a read refused when the member is full, and one without a leader waits for one, then fails with no leader at its deadline', async () => {
  const m = member();
  const reads = new Reads(m.host);
  m.full = true;
  await assert.rejects(reads.round(1_000), { code: 'KEEL_NODE_OVERLOADED' });
  m.full = false;
  m.setLeader(NONE);
  await assert.rejects(reads.barrier(50), (error: { code?: string }) => error.code === 'KEEL_NODE_NO_LEADER' || error.code === 'KEEL_NODE_REQUEST_TIMEOUT');
  assert.equal(m.rounds.length, 0);
});
