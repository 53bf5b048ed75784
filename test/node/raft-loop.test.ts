import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapLog } from '../../src/raft/bootstrap.js';
import { SeededRandom } from '../../src/raft/random.js';
import type { Entry, Message, Ready, Snapshot } from '../../src/raft/types.js';
import { EntryType, MessageType, message, Role } from '../../src/raft/types.js';
import { RaftLoop, type ReadyHost } from '../../src/node/raft-loop.js';
import { MemoryDisk, MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';

type HarnessState = { sent: Message[]; writes: { mustSync: boolean; done: (error?: unknown) => void }[]; applied: Entry[]; failures: unknown[]; events: string[] };

/** A simulated disk (the simulator's MemoryRaftStorage) holding `voters`' bootstrap log, and storage opened over it. */
function bootstrapped(voters: string[]): { disk: MemoryDisk; storage: MemoryRaftStorage } {
  const disk = new MemoryDisk();
  const seed = new MemoryRaftStorage(disk);
  seed.load();
  seed.save(bootstrapLog(voters), true);
  return { disk, storage: new MemoryRaftStorage(disk) };
}

/**
 * A raft loop whose turns run inline and whose disk completes each write
 * before write() returns (the simulator's synchronous disk); `extra`
 * replaces or adds options.
 */
function inlineLoop(storage: MemoryRaftStorage, raft: ConstructorParameters<typeof RaftLoop>[0]['raft'], host: ReadyHost, extra: Partial<ConstructorParameters<typeof RaftLoop>[0]> = {}): RaftLoop {
  return new RaftLoop({
    raft,
    recovered: storage.load(),
    storage,
    send: () => {},
    defer: (turn) => turn(),
    write: (batch, mustSync, done) => {
      storage.save(batch, mustSync);
      done();
    },
    readyRoundsMax: 64,
    host,
    ...extra,
  });
}

/**
 * The member's raft loop on a simulated disk (MemoryRaftStorage, the
 * simulator's) whose writes the test completes by hand, and a transport
 * that records what leaves: no sockets, no timers (turns run inline).
 */
function harness(voters: string[]): ReturnType<typeof harnessWithHost> {
  return harnessWithHost(voters, voters[0]!, () => ({}));
}

/** The harness as member `id`, with some of the host's callbacks replaced (and `extra` loop options). */
function harnessWithHost(voters: string[], id: string, override: (state: HarnessState) => Partial<ReadyHost>, extra: Partial<ConstructorParameters<typeof RaftLoop>[0]> = {}): {
  loop: RaftLoop;
  sent: Message[];
  /** Writes handed to the disk and not yet completed. */
  writes: { mustSync: boolean; done: (error?: unknown) => void }[];
  applied: Entry[];
  failures: unknown[];
  events: string[];
} {
  const { storage } = bootstrapped(voters);
  const recovered = storage.load();
  const state: HarnessState = { sent: [], writes: [], applied: [], failures: [], events: [] };
  const host: ReadyHost = {
    persisted: () => state.events.push('persisted'),
    installSnapshot: (_, done) => {
      state.events.push('snapshot');
      done();
    },
    applyCommitted: (entries) => {
      state.events.push('apply');
      state.applied.push(...entries);
    },
    readStates: () => {},
    failed: (error) => state.failures.push(error),
    ...override(state),
  };
  const loop = new RaftLoop({
    raft: { id, random: new SeededRandom(7), electionTicks: 10, heartbeatTicks: 1, checkQuorum: false, preVote: false, asyncStorageWrites: true },
    recovered,
    storage,
    send: (m) => {
      state.sent.push(m);
      state.events.push(`send ${m.type}`);
    },
    defer: (turn) => turn(),
    write: (batch, mustSync, done) => {
      storage.save(batch, false);
      state.events.push('write');
      state.writes.push({ mustSync, done });
    },
    readyRoundsMax: 64,
    host,
    ...extra,
  });
  return { loop, ...state };
}

/** Completes the oldest outstanding write (the disk says it is durable). */
function complete(h: ReturnType<typeof harness>, error?: unknown): void {
  const write = h.writes.shift();
  assert.ok(write, 'no write is outstanding');
  write.done(error);
}

/** Makes `a` leader of {a, b}: campaign, persist the vote for itself, then b's vote. */
function elect(h: ReturnType<typeof harness>): void {
  h.loop.raw.campaign();
  h.loop.schedule();
  // The vote request waits for the term and self-vote to be durable.
  assert.equal(h.sent.filter((m) => m.type === MessageType.Vote).length, 0, 'a vote request left before the vote was durable');
  complete(h);
  const vote = h.sent.find((m) => m.type === MessageType.Vote);
  assert.ok(vote, 'the vote request left after the write');
  h.loop.step(message({ type: MessageType.VoteResponse, from: 'b', to: 'a', term: vote.term }));
  assert.equal(h.loop.raw.status().softState.role, Role.Leader);
  while (h.writes.length > 0) complete(h);
  // b takes the new leader's first entry, so its progress leaves probing and appends flow.
  const first = h.sent.filter((m) => m.type === MessageType.Append).at(-1);
  assert.ok(first, "the new leader's first append left");
  h.loop.step(message({ type: MessageType.AppendResponse, from: 'b', to: 'a', term: first.term, index: first.index + first.entries.length }));
  while (h.writes.length > 0) complete(h);
}

test("a leader's appends leave before its own write is durable; it counts itself toward the commit only after", () => {
  const h = harness(['a', 'b']);
  elect(h);
  const before = h.sent.length;
  h.loop.raw.propose(new TextEncoder().encode('x'));
  h.loop.schedule();
  assert.equal(h.writes.length, 1, 'the proposal is being written');
  const append = h.sent.slice(before).find((m) => m.type === MessageType.Append && m.entries.some((e) => e.data.length === 1));
  assert.ok(append, "the append to b left while a's own write is outstanding");
  // b acknowledges first: one of two voters is not a quorum until a's own copy is durable.
  h.loop.step(message({ type: MessageType.AppendResponse, from: 'b', to: 'a', term: append.term, index: append.index + append.entries.length }));
  assert.equal(h.applied.filter((e) => e.data.length === 1).length, 0, 'committed before the leader persisted its own copy');
  complete(h);
  while (h.writes.length > 0) complete(h);
  assert.equal(h.applied.filter((e) => e.data.length === 1).length, 1, 'applied once both copies are durable');
});

test('a leader applies a committed entry before the unsynced write that only moves its commit index', () => {
  const h = harness(['a', 'b']);
  elect(h);
  const before = h.sent.length;
  h.loop.raw.propose(new TextEncoder().encode('x'));
  h.loop.schedule();
  const append = h.sent.slice(before).find((m) => m.type === MessageType.Append && m.entries.some((e) => e.data.length === 1));
  assert.ok(append);
  complete(h); // a's own copy is durable
  h.loop.step(message({ type: MessageType.AppendResponse, from: 'b', to: 'a', term: append.term, index: append.index + append.entries.length }));
  assert.equal(h.writes.length, 1, 'the new commit index is being written');
  assert.equal(h.writes[0]!.mustSync, false, 'a commit index alone is not synced');
  assert.equal(h.applied.filter((e) => e.data.length === 1).length, 1, 'applied without waiting for the commit index to be written');
  const applyAt = h.events.lastIndexOf('apply');
  assert.ok(applyAt >= 0 && applyAt < h.events.lastIndexOf('write'), 'applied before the write started');
  complete(h);
  assert.equal(h.loop.persisting, false);
  assert.equal(h.applied.filter((e) => e.data.length === 1).length, 1, 'applied once');
  assert.deepEqual(h.failures, []);
});

test("a commit-only Ready's messages and write wait for deferPastAnswers (the member's wait past a gRPC answer's trailers), the apply does not", () => {
  let park = false;
  const parked: (() => void)[] = [];
  const h = harnessWithHost(['a', 'b'], 'a', () => ({}), {
    deferPastAnswers: (turn) => {
      if (park) parked.push(turn);
      else turn();
    },
  });
  elect(h);
  park = true;
  const before = h.sent.length;
  h.loop.raw.propose(new TextEncoder().encode('x'));
  h.loop.schedule();
  const append = h.sent.slice(before).find((m) => m.type === MessageType.Append && m.entries.some((e) => e.data.length === 1));
  assert.ok(append);
  complete(h);
  const sentBeforeCommit = h.sent.length;
  h.loop.step(message({ type: MessageType.AppendResponse, from: 'b', to: 'a', term: append.term, index: append.index + append.entries.length }));
  assert.equal(h.applied.filter((e) => e.data.length === 1).length, 1, 'applied at once');
  assert.equal(parked.length, 1, 'the rest of the commit-only Ready went through deferPastAnswers');
  assert.equal(h.writes.length, 0, 'the commit index was written before the answers left');
  assert.equal(h.sent.length, sentBeforeCommit, 'the commit index left for b before the answers');
  assert.equal(h.loop.persisting, true, 'the loop holds meanwhile, as during a write');
  parked.shift()!();
  assert.equal(h.writes.length, 1, 'then the commit index is written');
  assert.ok(h.sent.slice(sentBeforeCommit).some((m) => m.type === MessageType.Append && m.commit >= append.index + 1), 'and sent to b');
  complete(h);
  assert.equal(h.loop.persisting, false);
  assert.deepEqual(h.failures, []);
});

test('an apply that may stall (applyMayStall) waits a deferred turn, after the commit index left for the followers', () => {
  const parked: (() => void)[] = [];
  let park = false;
  const heavy = (entries: readonly Entry[]): boolean => entries.some((e) => e.data.length === 1 && e.data[0] === 0xde);
  const h = harnessWithHost(['a', 'b'], 'a', () => ({ applyMayStall: heavy }), {
    deferPastAnswers: (turn) => {
      if (park) parked.push(turn);
      else turn();
    },
  });
  elect(h);
  park = true;
  for (const [data, mayStall] of [[0x5a, false], [0xde, true]] as const) {
    const before = h.sent.length;
    h.loop.raw.propose(new Uint8Array([data]));
    h.loop.schedule();
    const append = h.sent.slice(before).find((m) => m.type === MessageType.Append && m.entries.some((e) => e.data.length === 1 && e.data[0] === data));
    assert.ok(append);
    complete(h);
    const sentBeforeCommit = h.sent.length;
    h.loop.step(message({ type: MessageType.AppendResponse, from: 'b', to: 'a', term: append.term, index: append.index + append.entries.length }));
    const applied = (): number => h.applied.filter((e) => e.data.length === 1 && e.data[0] === data).length;
    const commitSent = (): boolean => h.sent.slice(sentBeforeCommit).some((m) => m.type === MessageType.Append && m.commit >= append.index + 1);
    assert.equal(parked.length, 1);
    if (mayStall) {
      assert.equal(applied(), 0, 'applied before the commit index left');
      assert.ok(commitSent(), 'the commit index left first');
      const sent = h.sent.length;
      parked.shift()!();
      assert.equal(applied(), 1, 'applied on the deferred turn');
      assert.equal(h.sent.slice(sent).filter((m) => m.type === MessageType.Append && m.commit >= append.index + 1).length, 0, 'the commit index was sent twice');
    } else {
      assert.equal(applied(), 1, 'a plain entry applies at once');
      assert.ok(!commitSent(), 'and its commit index leaves after the answers');
      parked.shift()!();
      assert.ok(commitSent());
    }
    while (h.writes.length > 0) complete(h);
    assert.equal(applied(), 1, 'applied once');
  }
  assert.deepEqual(h.failures, []);
});

test('a follower applies entries it holds when only the commit index moves, but acknowledges after the write; new entries apply after theirs', () => {
  const h = harnessWithHost(['a', 'b'], 'b', () => ({}));
  const last = h.loop.memory.lastIndex();
  const lastTerm = h.loop.memory.term(last);
  const next: Entry = { term: 2, index: last + 1, type: EntryType.Normal, data: new Uint8Array([42]) };
  // New entries with their commit in the same message: applied only once the write that holds them is durable.
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: lastTerm, index: last, entries: [next], commit: last + 1 }));
  assert.equal(h.writes.length, 1);
  assert.equal(h.applied.filter((e) => e.index === next.index).length, 0, 'an entry applied before this member holds it');
  complete(h);
  assert.equal(h.applied.filter((e) => e.index === next.index).length, 1);
  const acks = (): Message[] => h.sent.filter((m) => m.type === MessageType.AppendResponse);
  const acked = acks().length;
  // Entries written first, their commit later: applied at once, the ack still waits for the write.
  const after: Entry = { term: 2, index: last + 2, type: EntryType.Normal, data: new Uint8Array([43]) };
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: last + 1, entries: [after], commit: last + 1 }));
  complete(h);
  const ackedEntries = acks().length;
  assert.ok(ackedEntries > acked);
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: last + 2, entries: [], commit: last + 2 }));
  assert.equal(h.writes.length, 1, 'the commit index is being written');
  assert.equal(h.writes[0]!.mustSync, false);
  assert.equal(h.applied.filter((e) => e.index === after.index).length, 1, 'applied without waiting for the commit index to be written');
  assert.equal(acks().length, ackedEntries, 'the answer to the append waits for the write');
  complete(h);
  assert.equal(acks().length, ackedEntries + 1);
  assert.equal(h.applied.filter((e) => e.index === after.index).length, 1, 'applied once');
  assert.deepEqual(h.failures, []);
});

test('one write at a time: what arrives meanwhile is one group written after it', () => {
  const h = harness(['a', 'b']);
  elect(h);
  h.loop.raw.propose(new TextEncoder().encode('1'));
  h.loop.schedule();
  assert.equal(h.writes.length, 1);
  for (const data of ['2', '3', '4']) {
    h.loop.raw.propose(new TextEncoder().encode(data));
    h.loop.schedule();
  }
  assert.equal(h.writes.length, 1, 'a second write started while one was outstanding');
  assert.equal(h.loop.persisting, true);
  const first = h.loop.memory.lastIndex();
  complete(h);
  assert.equal(h.loop.memory.lastIndex(), first + 1, 'the first write is in the log once durable');
  assert.equal(h.writes.length, 1, 'the next group was taken once the first was durable');
  complete(h);
  assert.equal(h.loop.memory.lastIndex(), first + 4, 'the three proposals that arrived meanwhile were one write');
  assert.equal(h.writes.length, 0);
  assert.equal(h.loop.persisting, false);
});

test('during an outstanding write the leader still sends heartbeats and the follower still answers them; its ack waits for the write', () => {
  const a = harness(['a', 'b']);
  elect(a);
  a.loop.raw.propose(new TextEncoder().encode('x'));
  a.loop.schedule();
  assert.equal(a.writes.length, 1, "the leader's write is outstanding");
  const heartbeatsBefore = a.sent.filter((m) => m.type === MessageType.Heartbeat).length;
  for (let i = 0; i < 3; i++) a.loop.tick();
  assert.equal(a.writes.length, 1, 'still outstanding');
  const heartbeat = a.sent.filter((m) => m.type === MessageType.Heartbeat).at(-1);
  assert.ok(a.sent.filter((m) => m.type === MessageType.Heartbeat).length > heartbeatsBefore && heartbeat, 'heartbeats left during the write');

  const b = harnessWithHost(['a', 'b'], 'b', () => ({}));
  const last = b.loop.memory.lastIndex();
  const lastTerm = b.loop.memory.term(last);
  // The first append brings term 2; once it is durable, term 2 is this member's durable term.
  b.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: lastTerm, index: last, entries: [{ term: 2, index: last + 1, type: EntryType.Normal, data: new Uint8Array([1]) }], commit: last }));
  complete(b);
  b.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: last + 1, entries: [{ term: 2, index: last + 2, type: EntryType.Normal, data: new Uint8Array([2]) }], commit: last }));
  assert.equal(b.writes.length, 1, "the follower's write is outstanding");
  const acks = (): Message[] => b.sent.filter((m) => m.type === MessageType.AppendResponse && m.index === last + 2);
  b.loop.step(message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, commit: last }));
  assert.equal(b.sent.filter((m) => m.type === MessageType.HeartbeatResponse).length, 1, 'the heartbeat was answered during the write');
  assert.equal(acks().length, 0, 'an ack left before its entries were durable');
  complete(b);
  assert.equal(acks().length, 1);
  assert.deepEqual([...a.failures, ...b.failures], []);
});

test('a failed write stops the loop: no further Ready is taken, and stop() resolves', async () => {
  const h = harness(['a', 'b']);
  elect(h);
  h.loop.raw.propose(new TextEncoder().encode('x'));
  h.loop.schedule();
  const failure = new Error('EIO');
  complete(h, failure);
  assert.deepEqual(h.failures, [failure]);
  h.loop.raw.propose(new TextEncoder().encode('y'));
  h.loop.schedule();
  assert.equal(h.writes.length, 0, 'a write started after the disk failed');
  await h.loop.stop();
});

test('stop() waits for the outstanding write; a write completing after stop does not apply', async () => {
  const h = harness(['a', 'b']);
  elect(h);
  const appliedBefore = h.applied.length;
  h.loop.raw.propose(new TextEncoder().encode('x'));
  h.loop.schedule();
  let stopped = false;
  const stopping = h.loop.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'stop resolved while a write was outstanding');
  complete(h);
  await stopping;
  assert.equal(h.applied.length, appliedBefore);
});

test('a synchronous disk (done before write returns) carries the Ready through in the same turn', () => {
  const readies: Ready[] = [];
  const h = harness(['a']);
  // Rebuild with a writer that completes at once, as the simulator's synchronous disk does.
  const { storage } = bootstrapped(['a']);
  const loop = inlineLoop(
    storage,
    { id: 'a', random: new SeededRandom(1), electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: false },
    { taken: (ready) => readies.push(ready), installSnapshot: (_, done) => done(), applyCommitted: (entries) => void h.applied.push(...entries), readStates: () => {}, failed: (error) => { throw error; } },
  );
  loop.raw.campaign();
  loop.schedule();
  assert.equal(loop.raw.status().softState.role, Role.Leader, 'a single voter leads after one turn');
  loop.raw.propose(new TextEncoder().encode('z'));
  loop.schedule();
  assert.equal(loop.persisting, false);
  assert.ok(h.applied.some((e) => e.data.length === 1), 'committed and applied within the turn');
  assert.ok(readies.length >= 2);
});

/**
 * A follower b of {a, b} on the harness, a controllable restore: b is sent
 * a snapshot at index 10 (term 2), and the restore it starts resolves only
 * when the test says so.
 */
function followerRestoring(): { h: ReturnType<typeof harness>; installs: Snapshot[]; finishRestore: () => Promise<void> } {
  const installs: Snapshot[] = [];
  let finish!: () => void;
  const h = harnessWithHost(['a', 'b'], 'b', (state) => ({
    installSnapshot: (snapshot, done) => {
      installs.push(snapshot);
      state.events.push('restore started');
      finish = () => {
        state.events.push('restore done');
        done();
      };
    },
  }));
  const snapshot: Snapshot = { metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([1, 2, 3]) };
  h.loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot }));
  return {
    h,
    installs,
    finishRestore: async () => {
      finish();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

function entry(index: number): Entry {
  return { term: 2, index, type: EntryType.Normal, data: new Uint8Array([index]) };
}

test('while a snapshot restores, the follower answers heartbeats and appends, but applies nothing; then it applies in log order', async () => {
  const { h, installs, finishRestore } = followerRestoring();
  assert.equal(installs.length, 1, 'the restore started once the snapshot was durable');
  assert.equal(h.loop.installing, true);
  const responses = (type: MessageType): Message[] => h.sent.filter((m) => m.type === type);
  assert.equal(responses(MessageType.AppendResponse).at(-1)?.index, 10, 'the snapshot is acknowledged at once');

  h.loop.step(message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, commit: 10 }));
  assert.equal(responses(MessageType.HeartbeatResponse).length, 1, 'a heartbeat is answered during the restore');

  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 10, entries: [entry(11), entry(12)], commit: 12 }));
  complete(h); // the entries are written while the restore runs
  assert.equal(responses(MessageType.AppendResponse).at(-1)?.index, 12, 'the appended entries are acknowledged during the restore');
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 12, entries: [entry(13)], commit: 13 }));
  while (h.writes.length > 0) complete(h);
  assert.equal(h.applied.length, 0, 'nothing applies on the state being replaced');

  await finishRestore();
  assert.equal(h.loop.installing, false);
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12, 13], 'held entries applied once the snapshot is in place, in order');
  const restoreDone = h.events.indexOf('restore done');
  assert.ok(restoreDone >= 0 && h.events.indexOf('apply') > restoreDone, 'applies only after the restore');
  assert.deepEqual(h.failures, []);
});

test('a second snapshot during a restore waits for the first to be in place', async () => {
  const { h, installs, finishRestore } = followerRestoring();
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 10, entries: [entry(11)], commit: 11 }));
  while (h.writes.length > 0) complete(h);
  const newer: Snapshot = { metadata: { index: 20, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([4]) };
  h.loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot: newer }));
  assert.equal(installs.length, 1, 'the second restore does not start over the first');
  await finishRestore();
  assert.deepEqual(h.applied.map((e) => e.index), [11], 'what was held applies first');
  assert.equal(installs.length, 2, 'then the parked snapshot is carried out');
  assert.equal(installs[1]!.metadata.index, 20);
  await finishRestore();
  assert.equal(h.loop.snapshotIndex, 20);
  assert.deepEqual(h.failures, []);
});

test('stop() during a restore waits for it, and nothing held applies afterwards', async () => {
  const { h, finishRestore } = followerRestoring();
  h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 10, entries: [entry(11)], commit: 11 }));
  while (h.writes.length > 0) complete(h);
  let stopped = false;
  const stopping = h.loop.stop().then(() => {
    stopped = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'stop waits for the restore');
  await finishRestore();
  await stopping;
  assert.equal(h.applied.length, 0);
});

test('a restore that fails, at once or later, fails the loop and applies nothing held', async () => {
  for (const later of [false, true]) {
    const h = harnessWithHost(['a', 'b'], 'b', () => ({
      installSnapshot: (_, done) => {
        if (later) setImmediate(() => done(new Error('restore failed')));
        else done(new Error('restore failed'));
      },
    }));
    const snapshot: Snapshot = { metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([1]) };
    h.loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot }));
    h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 10, entries: [entry(11)], commit: 11 }));
    while (h.writes.length > 0) complete(h);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(h.failures.map((error) => (error as Error).message), ['restore failed'], `done(error) ${later ? 'later' : 'at once'}`);
    assert.equal(h.applied.length, 0);
    assert.equal(h.loop.installing, false);
    await h.loop.stop();
  }
});

test('while a snapshot restores, the follower grants a vote once the vote is durable', async () => {
  const { h, finishRestore } = followerRestoring();
  h.loop.step(message({ type: MessageType.Vote, from: 'a', to: 'b', term: 3, logTerm: 2, index: 10 }));
  assert.equal(h.sent.filter((m) => m.type === MessageType.VoteResponse).length, 0, 'not before the vote is written');
  complete(h);
  const answer = h.sent.find((m) => m.type === MessageType.VoteResponse);
  assert.ok(answer, 'answered during the restore');
  assert.equal(answer.reject, false);
  assert.equal(answer.term, 3);
  assert.equal(h.loop.installing, true);
  await finishRestore();
  assert.deepEqual(h.failures, []);
});

test("the loop's snapshot index moves when the leader's snapshot starts being written, not when the write ends", () => {
  const writes: (() => void)[] = [];
  // The harness writes snapshots synchronously; this loop has an async snapshot writer, as a member's.
  const { storage } = bootstrapped(['a', 'b']);
  const loop = inlineLoop(
    storage,
    { id: 'b', random: new SeededRandom(3), electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: true },
    { installSnapshot: (_, done) => done(), applyCommitted: () => {}, readStates: () => {}, failed: (error) => { throw error; } },
    {
      writeSnapshot: (batch, mustSync, done) => {
        storage.save(batch, mustSync);
        writes.push(() => done());
      },
    },
  );
  const snapshot: Snapshot = { metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([1]) };
  loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot }));
  assert.equal(loop.persisting, true, 'the snapshot goes through the async writer');
  assert.equal(loop.snapshotIndex, 10, 'already while it is written');
  writes.shift()!();
  assert.equal(loop.persisting, false);
  assert.equal(loop.snapshotIndex, 10);
});

/**
 * A member restarted over a long committed log: the raft loop on a disk
 * holding 200 committed 1,000-byte entries past the bootstrap, with turns
 * queued (as setImmediate queues them) and run one at a time by the test.
 */
/** Storage reopened over a one-member bootstrap log and a committed tail of 200 1,000-byte entries. */
function overLongLog(): { storage: MemoryRaftStorage; lastIndex: number } {
  const { disk } = bootstrapped(['a']);
  const seed = new MemoryRaftStorage(disk);
  const firstIndex = seed.load().entries.length + 1;
  const data = new Uint8Array(1_000);
  const tail: Entry[] = Array.from({ length: 200 }, (_, offset) => ({ index: firstIndex + offset, term: 1, type: EntryType.Normal, data }));
  seed.save({ entries: tail, hardState: { term: 1, vote: 'a', commit: tail.at(-1)!.index } }, true);
  return { storage: new MemoryRaftStorage(disk), lastIndex: tail.at(-1)!.index };
}

function restartedOverLongLog(appliedBytesPerTurnMax: number | undefined): { turns: number; appliedPerTurn: number[]; applied: Entry[] } {
  const { storage } = overLongLog();
  const queued: (() => void)[] = [];
  const applied: Entry[] = [];
  const loop = inlineLoop(
    storage,
    { id: 'a', random: new SeededRandom(3), electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: true, maxCommittedSizePerReadyBytes: 4_000 },
    { installSnapshot: (_, done) => done(), applyCommitted: (entries) => void applied.push(...entries), readStates: () => {}, failed: (error) => { throw error; } },
    { defer: (turn) => queued.push(turn), ...(appliedBytesPerTurnMax === undefined ? {} : { appliedBytesPerTurnMax }) },
  );
  loop.schedule();
  const appliedPerTurn: number[] = [];
  let turns = 0;
  for (; queued.length > 0 && turns < 1_000; turns++) {
    const before = applied.length;
    queued.shift()!();
    appliedPerTurn.push(applied.length - before);
  }
  return { turns, appliedPerTurn, applied };
}

test('a restarted member applies its committed log tail over several turns, at most appliedBytesPerTurnMax each past the first Ready', () => {
  const unbounded = restartedOverLongLog(undefined);
  const bounded = restartedOverLongLog(8_000);
  const all = 201; // the bootstrap entry and the tail
  assert.equal(unbounded.applied.length, all);
  assert.ok(unbounded.appliedPerTurn[0]! > all / 2, `without a bound the first turn applies most of the tail (64 rounds of a few entries): ${unbounded.appliedPerTurn[0]}`);
  assert.deepEqual(bounded.applied.map((e) => e.index), unbounded.applied.map((e) => e.index), 'the same entries, in order');
  // A turn stops once 8,000 bytes were handed out, so it applies under 8,000 bytes plus one Ready (4,000): at most 12 1,000-byte entries.
  assert.ok(bounded.appliedPerTurn.every((count) => count <= 12), `applied per turn: ${bounded.appliedPerTurn.join(' ')}`);
  assert.ok(bounded.turns >= all / 12, `${bounded.turns} turns`);
});

/**
 * A one-member loop over a restarted log of 200 1,000-byte entries, all
 * applied, then a snapshot at the last one keeping `keepEntries`; with
 * `logCacheBytes`, the applied entries' data beyond it left memory first.
 */
function releasedAfterSnapshot(keepEntries: number, catchUpBytesMax: number | undefined, logCacheBytes?: number): { first: number; last: number; loop: RaftLoop } {
  const { storage, lastIndex } = overLongLog();
  const applied: Entry[] = [];
  const loop = inlineLoop(
    storage,
    { id: 'a', random: new SeededRandom(3), electionTicks: 10, heartbeatTicks: 1 },
    { installSnapshot: (_, done) => done(), applyCommitted: (entries) => void applied.push(...entries), readStates: () => {}, failed: (error) => { throw error; } },
    { ...(catchUpBytesMax === undefined ? {} : { catchUpBytesMax }), ...(logCacheBytes === undefined ? {} : { logCacheBytes }) },
  );
  loop.schedule();
  const last = applied.at(-1)!.index;
  assert.equal(last, lastIndex);
  loop.saveSnapshot(last, new Uint8Array(1), keepEntries);
  return { first: loop.memory.firstIndex(), last, loop };
}

test('a release keeps at most catchUpBytesMax bytes of entries behind the snapshot, and at most keepEntries of them', () => {
  const byCount = releasedAfterSnapshot(50, undefined);
  assert.equal(byCount.first, byCount.last - 50 + 1, 'without a byte bound: keepEntries entries');
  // Each entry counts 1,016 bytes (data and 16 of overhead): 10,000 bytes keep the newest 9.
  const byBytes = releasedAfterSnapshot(50, 10_000);
  assert.equal(byBytes.first, byBytes.last - 9 + 1);
  const countFirst = releasedAfterSnapshot(5, 10_000);
  assert.equal(countFirst.first, countFirst.last - 5 + 1, 'the count binds when it keeps fewer');
  const none = releasedAfterSnapshot(50, 500);
  assert.equal(none.first, none.last + 1, 'a bound below one entry keeps none');
});

test('applied entries leave memory past logCacheBytes; a release counts their bytes without reading them back, and a read gets them back whole', () => {
  const spilled = releasedAfterSnapshot(50, 10_000, 3_000);
  const memory = spilled.loop.memory;
  assert.equal(spilled.first, spilled.last - 9 + 1, 'the same release as with every entry held');
  assert.ok(memory.heldBytes <= 3_000, `held ${memory.heldBytes} bytes`);
  assert.ok(memory.spilledThrough >= memory.firstIndex(), 'entries behind the snapshot were let go of');
  assert.equal(memory.entriesReadBack, 0, 'counting the catch-up bytes read nothing back');
  const entries = memory.entries(memory.firstIndex(), memory.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  assert.equal(entries.length, 9);
  assert.ok(entries.every((entry) => entry.data.length === 1_000), 'each entry read back with its data');
  assert.ok(memory.entriesReadBack > 0);
  // Without a cache bound nothing leaves memory.
  const held = releasedAfterSnapshot(50, 10_000);
  assert.equal(held.loop.memory.spilledThrough < held.loop.memory.firstIndex(), true);
  assert.equal(held.loop.memory.heldBytes, 9 * 1_016);
});

/**
 * A follower b of {a, b} (at index 10 from a snapshot, term 2) whose host
 * leaves the entries of `stepped` under way (ReadyHost.applyCommitted's
 * ApplyUnderWay), each until the test finishes it; with `atOnce`, an entry
 * under way reports itself applied within whenApplied.
 */
function followerApplyingInSteps(stepped: number[], atOnce = false): {
  h: ReturnType<typeof harness>;
  finishNext: () => void;
  underWay: () => number;
  append: (from: number, entries: number[], commit: number) => void;
} {
  const finishers: (() => void)[] = [];
  const h = harnessWithHost(['a', 'b'], 'b', (state) => ({
    installSnapshot: (_, done) => {
      state.events.push('snapshot');
      done();
    },
    applyCommitted: (entries) => {
      for (let i = 0; i < entries.length; i++) {
        const each = entries[i]!;
        state.applied.push(each);
        if (!stepped.includes(each.index)) continue;
        state.events.push(`under way ${each.index}`);
        return {
          rest: entries.slice(i + 1),
          whenApplied: (done) => {
            if (atOnce) return done();
            finishers.push(() => {
              state.events.push(`applied ${each.index}`);
              done();
            });
          },
        };
      }
      return undefined;
    },
  }));
  const snapshot: Snapshot = { metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([1]) };
  h.loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot }));
  while (h.writes.length > 0) complete(h);
  const append = (from: number, entries: number[], commit: number): void => {
    h.loop.step(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: from, entries: entries.map(entry), commit }));
    while (h.writes.length > 0) complete(h);
  };
  return { h, finishNext: () => finishers.shift()!(), underWay: () => finishers.length, append };
}

test('while an entry is applied in steps, the follower answers heartbeats and appends but applies nothing after it; then it goes on in log order', () => {
  const { h, finishNext, append } = followerApplyingInSteps([12]);
  append(10, [11, 12, 13], 13);
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12], 'the entry after the one under way waits');
  h.loop.step(message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, commit: 13 }));
  assert.equal(h.sent.filter((m) => m.type === MessageType.HeartbeatResponse).length, 1, 'a heartbeat is answered meanwhile');
  append(13, [14], 14);
  assert.equal(h.sent.filter((m) => m.type === MessageType.AppendResponse).at(-1)?.index, 14, 'new entries are written and acknowledged meanwhile');
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12]);
  const newer: Snapshot = { metadata: { index: 20, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array([4]) };
  h.loop.step(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 2, snapshot: newer }));
  assert.equal(h.events.filter((e) => e === 'snapshot').length, 1, 'a snapshot arriving meanwhile waits for the entry');
  finishNext();
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12, 13, 14], 'the rest applies in order once the entry is applied');
  assert.equal(h.events.filter((e) => e === 'snapshot').length, 2, 'then the parked snapshot is carried out');
  assert.deepEqual(h.failures, []);
});

test('an entry under way among held ones holds the rest again; one applied at once lets the rest go on in the same turn', () => {
  const { h, finishNext, underWay, append } = followerApplyingInSteps([12, 14]);
  append(10, [11, 12, 13], 13);
  append(13, [14, 15], 15);
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12]);
  finishNext();
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12, 13, 14], 'held entries apply up to the next one under way');
  assert.equal(underWay(), 1);
  finishNext();
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12, 13, 14, 15]);
  append(15, [16], 16);
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12, 13, 14, 15, 16], 'nothing is held once the last one is applied');

  const quick = followerApplyingInSteps([12], true);
  quick.append(10, [11, 12, 13], 13);
  assert.deepEqual(quick.h.applied.map((e) => e.index), [11, 12, 13]);
  assert.deepEqual([...h.failures, ...quick.h.failures], []);
});

test('stop() waits for an entry under way, and nothing held applies afterwards', async () => {
  const { h, finishNext, append } = followerApplyingInSteps([12]);
  append(10, [11, 12, 13], 13);
  let stopped = false;
  const stopping = h.loop.stop().then(() => {
    stopped = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'stop waits for the entry');
  finishNext();
  await stopping;
  assert.deepEqual(h.applied.map((e) => e.index), [11, 12]);
});
