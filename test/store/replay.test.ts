/**
 * Replay, snapshots and determinism: the properties a replicated state
 * machine owes its node. Commands are random; the checks are exact bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand, StoreStateMachine } from '../../src/store/index.js';
import type { Command, EventBatch, WatchEvent } from '../../src/store/index.js';
import { bytes } from './helpers.js';

const key = fc.constantFrom('a', 'b', 'c', 'ab', 'b\0');
const value = fc.string({ maxLength: 4 });
const lease = fc.constantFrom(0n, 1n, 2n);

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ key, value, lease }).map(({ key, value, lease }) => ({ type: 'put' as const, request: { key: bytes(key), value: bytes(value), lease } })) },
  { weight: 2, arbitrary: fc.record({ key, end: fc.constantFrom('', '\0', 'c') }).map(({ key, end }) => ({ type: 'deleteRange' as const, request: { key: bytes(key), rangeEnd: bytes(end) } })) },
  {
    weight: 2,
    arbitrary: fc.record({ key, value, version: fc.nat(3) }).map(({ key, value, version }) => ({
      type: 'txn' as const,
      request: {
        compare: [{ key: bytes(key), target: 'VERSION' as const, result: 'EQUAL' as const, version }],
        success: [
          { type: 'deleteRange' as const, request: { key: bytes(key) } },
          { type: 'put' as const, request: { key: bytes(key), value: bytes(value) } },
        ],
        failure: [{ type: 'put' as const, request: { key: bytes(`${key}!`), value: bytes(value) } }],
      },
    })),
  },
  { weight: 1, arbitrary: fc.nat(30).map((revision) => ({ type: 'compact' as const, request: { revision } })) },
  { weight: 1, arbitrary: fc.constantFrom(1n, 2n).map((id) => ({ type: 'leaseGrant' as const, request: { id, ttlSeconds: 10 } })) },
  { weight: 1, arbitrary: fc.constantFrom(1n, 2n).map((id) => ({ type: 'leaseRevoke' as const, request: { id } })) },
);

/** Log entries: each command at an index, with gaps (entries that carry no command, as membership changes). */
const log = fc.array(fc.record({ command, gap: fc.nat(2) }), { minLength: 1, maxLength: 40 }).map((entries) => {
  let index = 0;
  return entries.map(({ command, gap }) => ({ index: (index += 1 + gap), bytes: encodeCommand(command) }));
});

type Entry = { index: number; bytes: Uint8Array };

function applyAll(machine: StoreStateMachine, entries: readonly Entry[]): void {
  for (const entry of entries) machine.apply(entry.index, entry.bytes);
}

function describe(event: WatchEvent, revision: number): string {
  return JSON.stringify([revision, event.type, [...event.kv.key], [...event.kv.value], event.kv.modRevision, event.kv.version, event.kv.createRevision, String(event.kv.lease), event.prevKv ? [...event.prevKv.value] : null]);
}

test('two machines given the same log produce identical snapshot bytes and hashes', () => {
  fc.assert(
    fc.property(log, (entries) => {
      const one = new StoreStateMachine();
      const two = new StoreStateMachine();
      applyAll(one, entries);
      applyAll(two, entries);
      assert.deepEqual(one.snapshot(), two.snapshot());
      assert.deepEqual(one.hash(), two.hash());
    }),
    { numRuns: 200 },
  );
});

test('replaying applied entries changes nothing: apply is idempotent on replay', () => {
  fc.assert(
    fc.property(log, (entries) => {
      const machine = new StoreStateMachine();
      applyAll(machine, entries);
      const before = machine.snapshot();
      for (const entry of entries) assert.equal(machine.apply(entry.index, entry.bytes).status, 'skipped');
      assert.deepEqual(machine.snapshot(), before);
      assert.equal(machine.appliedIndex, entries[entries.length - 1]!.index);
    }),
    { numRuns: 200 },
  );
});

test('restart from a snapshot taken mid-log, then replay of the whole log, reaches the same state', () => {
  fc.assert(
    fc.property(log, fc.nat(), (entries, cutSeed) => {
      const cut = cutSeed % (entries.length + 1);
      const reference = new StoreStateMachine();
      applyAll(reference, entries);

      const crashed = new StoreStateMachine();
      applyAll(crashed, entries.slice(0, cut));
      const saved = crashed.snapshot();
      const restarted = new StoreStateMachine();
      restarted.restore(saved);
      assert.deepEqual(restarted.snapshot(), saved, 'restore then snapshot gives the same bytes');
      assert.deepEqual(restarted.hash(), crashed.hash());
      applyAll(restarted, entries); // the WAL replays from its start; entries <= the snapshot's index are skipped
      assert.deepEqual(restarted.snapshot(), reference.snapshot());
    }),
    { numRuns: 200 },
  );
});

test('the event feed carries every write in order and agrees with the history query', () => {
  fc.assert(
    fc.property(log, (entries) => {
      const machine = new StoreStateMachine();
      const batches: EventBatch[] = [];
      machine.subscribe((batch) => batches.push(batch));
      applyAll(machine, entries);
      const fed = batches.flatMap((batch) => batch.events.map((event) => describe(event, batch.revision)));
      const revisions = batches.map((batch) => batch.revision);
      assert.deepEqual(revisions, [...revisions].sort((a, b) => a - b), 'batches arrive in revision order');
      assert.equal(new Set(revisions).size, revisions.length, 'one batch per revision');
      for (const batch of batches) for (const event of batch.events) assert.equal(event.kv.modRevision, batch.revision);
      const start = machine.compactRevision + 1;
      const history = machine.history({ key: bytes('\0'), rangeEnd: bytes('\0'), startRevision: start, prevKv: true, eventsMax: 1_000_000 });
      const retained = batches.filter((batch) => batch.revision >= start).flatMap((batch) => batch.events.map((event) => describe(event, batch.revision)));
      assert.deepEqual(history.events.map((event) => describe(event, event.kv.modRevision)), retained);
      if (machine.compactRevision === 0) assert.equal(retained.length, fed.length);
    }),
    { numRuns: 200 },
  );
});

test('an unsubscribed listener hears nothing more', () => {
  const machine = new StoreStateMachine();
  const heard: number[] = [];
  const unsubscribe = machine.subscribe((batch) => heard.push(batch.revision, machine.appliedIndex));
  machine.apply(1, encodeCommand({ type: 'put', request: { key: bytes('a'), value: bytes('1') } }));
  unsubscribe();
  machine.apply(2, encodeCommand({ type: 'put', request: { key: bytes('a'), value: bytes('2') } }));
  assert.deepEqual(heard, [2, 1], 'a listener sees the applied index of the entry that made the events');
});

test('a corrupt snapshot is refused and leaves the state as it was', () => {
  const machine = new StoreStateMachine();
  machine.apply(1, encodeCommand({ type: 'put', request: { key: bytes('a'), value: bytes('1') } }));
  const good = machine.snapshot();
  const target = new StoreStateMachine();
  target.apply(5, encodeCommand({ type: 'put', request: { key: bytes('z'), value: bytes('9') } }));
  const before = target.snapshot();
  for (let position = 0; position < good.length; position++) {
    const bad = good.slice();
    bad[position] = bad[position]! ^ 0x10;
    assert.throws(() => target.restore(bad), { code: 'KEEL_STORE_MALFORMED_BYTES' });
  }
  assert.throws(() => target.restore(good.subarray(0, good.length - 1)), { code: 'KEEL_STORE_MALFORMED_BYTES' });
  assert.deepEqual(target.snapshot(), before);
  target.restore(good);
  assert.deepEqual(target.snapshot(), good);
  assert.equal(target.appliedIndex, 1);
});

test('markApplied advances the applied index for entries without a command', () => {
  const machine = new StoreStateMachine();
  machine.markApplied(3);
  assert.equal(machine.appliedIndex, 3);
  assert.equal(machine.apply(2, encodeCommand({ type: 'compact', request: { revision: 1 } })).status, 'skipped');
  assert.equal(machine.apply(4, encodeCommand({ type: 'compact', request: { revision: 1 } })).status, 'applied');
});

test('a well-formed snapshot whose records share a revision is refused', async () => {
  const { encodeSnapshot } = await import('../../src/store/snapshot.js');
  const { KvRecord } = await import('../../src/store/record.js');
  const key = (text: string) => text as never;
  const records = [new KvRecord(key('a'), 2, 0, key('x'), 2, 1, 0n), new KvRecord(key('b'), 2, 0, key('y'), 2, 1, 0n)];
  const bytes = encodeSnapshot({ appliedIndex: 1, currentRevision: 2, compactRevision: 0, leases: [], alarms: [], records });
  assert.throws(() => new StoreStateMachine().restore(bytes), { code: 'KEEL_STORE_MALFORMED_BYTES' });
  const outOfOrder = encodeSnapshot({ appliedIndex: 1, currentRevision: 3, compactRevision: 0, leases: [], alarms: [], records: [records[1]!, records[0]!] });
  assert.throws(() => new StoreStateMachine().restore(outOfOrder), { code: 'KEEL_STORE_MALFORMED_BYTES' });
});
