/**
 * A DeleteRange applied in steps (StoreStateMachine.applyInSteps): between
 * steps reads, watch history and hashes see the state before it whole, and
 * the end state, response and events are those of the same command applied
 * in one call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand, isApplySteps, StoreStateMachine } from '../../src/store/index.js';
import type { ApplySteps, Command, EventBatch } from '../../src/store/index.js';
import { bytes, Harness, responseOf, text } from './helpers.js';

const deleteAll = (prevKv = false): Command => ({ type: 'deleteRange', request: { key: bytes('k'), rangeEnd: bytes('l'), prevKv } });

function filled(keys: number, machine = new StoreStateMachine()): Harness {
  const harness = new Harness(machine);
  for (let i = 0; i < keys; i++) harness.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
  return harness;
}

function begin(harness: Harness, command: Command, keysMax: number): ApplySteps {
  const outcome = harness.machine.applyInSteps(++harness.index, encodeCommand(command), keysMax);
  assert.ok(isApplySteps(outcome), 'expected the command left under way');
  return outcome;
}

test('between steps reads, history and hashes see the state before the DeleteRange; the last step applies it at one revision', () => {
  const harness = filled(50);
  const twin = filled(50);
  const before = harness.machine.revision;
  const hashBefore = harness.machine.hash();
  const batches: EventBatch[] = [];
  harness.machine.subscribe((batch) => batches.push(batch));

  const steps = begin(harness, deleteAll(true), 7);
  assert.equal(harness.machine.applyingInSteps, true);
  let calls = 0;
  for (;;) {
    assert.equal(harness.list('k', 'l').length, 50, 'reads see every key until the last step');
    assert.equal(harness.machine.revision, before);
    assert.equal(harness.machine.appliedIndex, harness.index - 1, 'the applied index stays before the command');
    assert.deepEqual(harness.machine.history({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 1 }).events.length, 50, 'history holds the puts only');
    assert.deepEqual(harness.machine.hash(), hashBefore);
    assert.equal(batches.length, 0, 'no events before the command is applied');
    calls++;
    const result = steps.step(7);
    if (result !== undefined) {
      assert.equal(result.status, 'applied');
      const response = result.status === 'applied' ? responseOf(result.response, 'deleteRange') : undefined;
      assert.equal(response?.deleted, 50);
      assert.deepEqual(response?.prevKvs.map((kv) => text(kv.key)), twin.list('k', 'l').map((entry) => entry.split('=')[0]));
      assert.equal(response?.header.revision, before + 1);
      break;
    }
  }
  assert.equal(calls, 7, '50 keys, 7 a step: the first call walked 7, then 7 more calls');
  assert.equal(harness.machine.applyingInSteps, false);
  assert.equal(harness.machine.appliedIndex, harness.index);
  assert.deepEqual(harness.list('k', 'l'), []);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.events.length, 50);
  assert.ok(steps.step(1) !== undefined, 'a step after the end returns the result again');

  twin.ok(deleteAll(true));
  assert.deepEqual(harness.machine.snapshot(), twin.machine.snapshot());
  assert.deepEqual(harness.machine.hash(), twin.machine.hash());
});

test('a range the first step walks whole is applied at once; a replay is skipped', () => {
  const harness = filled(5);
  const outcome = harness.machine.applyInSteps(++harness.index, encodeCommand(deleteAll()), 6);
  assert.ok(!isApplySteps(outcome));
  assert.equal(outcome.status, 'applied');
  assert.equal(harness.machine.applyingInSteps, false);
  const replay = harness.machine.applyInSteps(harness.index, encodeCommand(deleteAll()), 1);
  assert.ok(!isApplySteps(replay) && replay.status === 'skipped');
});

test('other commands are applied in one call whatever the bound', () => {
  const harness = filled(20);
  const txn: Command = { type: 'txn', request: { compare: [], success: [{ type: 'deleteRange', request: { key: bytes('k'), rangeEnd: bytes('l') } }], failure: [] } };
  const outcome = harness.machine.applyInSteps(++harness.index, encodeCommand(txn), 1);
  assert.ok(!isApplySteps(outcome) && outcome.status === 'applied');
  assert.deepEqual(harness.list('k', 'l'), []);
});

test('nothing else applies, marks applied or restores while a command is under way; a snapshot finishes it first', () => {
  const harness = filled(30);
  const twin = filled(30);
  const snapshotBefore = harness.machine.snapshot();
  const steps = begin(harness, deleteAll(), 4);
  assert.throws(() => harness.machine.apply(harness.index + 1, encodeCommand({ type: 'put', request: { key: bytes('x'), value: bytes('y') } })), /applied in steps/);
  assert.throws(() => harness.machine.markApplied(harness.index + 1), /applied in steps/);
  assert.throws(() => harness.machine.beginRestore(snapshotBefore), /applied in steps/);
  const snapshot = harness.machine.snapshot();
  assert.equal(harness.machine.applyingInSteps, false);
  twin.ok(deleteAll());
  assert.deepEqual(snapshot, twin.machine.snapshot());
  const result = steps.step(4);
  assert.ok(result !== undefined && result.status === 'applied', 'the owner gets the result at its next step');
  assert.equal(responseOf(result.response, 'deleteRange').deleted, 30);
  harness.put('x', 'y'); // applies again
});

const keyName = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyName, value: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyName, end: fc.option(keyName, { nil: undefined }), prevKv: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(5) }) },
);
const between = fc.oneof(
  fc.record({ kind: fc.constant('range' as const) }),
  fc.record({ kind: fc.constant('history' as const), from: fc.nat(40) }),
  fc.record({ kind: fc.constant('compactStep' as const), records: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('hash' as const) }),
);

test('any DeleteRange in steps of any size, with reads and compaction steps between, ends as in one call', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), between), { maxLength: 30 }), (ops, interleave) => {
      const stepped = new Harness(new StoreStateMachine({ compactInSteps: true }));
      const whole = new Harness(new StoreStateMachine({ compactInSteps: true }));
      const events: { stepped: string[]; whole: string[] } = { stepped: [], whole: [] };
      stepped.machine.subscribe((batch) => events.stepped.push(JSON.stringify(batch.events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision]))));
      whole.machine.subscribe((batch) => events.whole.push(JSON.stringify(batch.events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision]))));
      let cursor = 0;
      for (const each of ops) {
        let command: Command;
        if (each.kind === 'put') command = { type: 'put', request: { key: bytes(each.key), value: bytes(String(each.value)) } };
        else if (each.kind === 'delete') {
          const end = each.end === undefined ? undefined : each.end > each.key ? bytes(each.end) : new Uint8Array([0]);
          command = { type: 'deleteRange', request: { key: bytes(each.key), ...(end ? { rangeEnd: end } : {}), prevKv: each.prevKv } };
        } else command = { type: 'compact', request: { revision: Math.max(1, stepped.machine.revision - each.back) } };
        const rangeBefore = whole.machine.range({ key: bytes('a'), rangeEnd: new Uint8Array([0]) });
        const expected = whole.apply(command);
        const outcome = stepped.machine.applyInSteps(++stepped.index, encodeCommand(command), 1);
        let result = isApplySteps(outcome) ? undefined : outcome;
        if (isApplySteps(outcome)) {
          while (result === undefined) {
            const [keysMax, action] = interleave[cursor++ % Math.max(1, interleave.length)] ?? [1, { kind: 'range' as const }];
            switch (action.kind) {
              case 'range':
                assert.deepEqual(stepped.machine.range({ key: bytes('a'), rangeEnd: new Uint8Array([0]) }).kvs, rangeBefore.kvs);
                break;
              case 'history':
                stepped.machine.history({ key: bytes('a'), rangeEnd: new Uint8Array([0]), startRevision: Math.max(stepped.machine.compactRevision, action.from) });
                break;
              case 'compactStep':
                stepped.machine.compactStep(action.records);
                break;
              case 'hash':
                assert.equal(stepped.machine.hash().revision, rangeBefore.header.revision);
                break;
            }
            result = outcome.step(keysMax);
          }
        }
        assert.deepEqual(JSON.parse(JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? String(v) : v))), JSON.parse(JSON.stringify(expected, (_k, v) => (typeof v === 'bigint' ? String(v) : v))));
      }
      stepped.machine.compactStep(Number.POSITIVE_INFINITY);
      whole.machine.compactStep(Number.POSITIVE_INFINITY);
      assert.deepEqual(stepped.machine.snapshot(), whole.machine.snapshot());
      assert.deepEqual(events.stepped, events.whole);
    }),
    { numRuns: 300 },
  );
});

test('a lease revoke of a lease with more keys than a step sorts and deletes them in steps, removes the lease with the last, and matches a member that restored them', () => {
  const harness = new Harness();
  harness.ok({ type: 'leaseGrant', request: { id: 7n, ttlSeconds: 60 } });
  // Attached in reverse key order: a member that restores them from a snapshot attaches them in key order, and both must delete alike.
  for (let i = 2999; i >= 0; i--) harness.put(`k${String(i).padStart(4, '0')}`, `v${i}`, { lease: i % 2 === 0 ? 7n : 0n });
  harness.put('k0000', 'again', { lease: 7n }); // a key written twice: revoked once
  const restored = new StoreStateMachine();
  restored.restore(harness.machine.snapshot());
  const events: string[] = [];
  harness.machine.subscribe((batch) => events.push(...batch.events.map((event) => text(event.kv.key))));
  const before = harness.machine.revision;
  const revoke = encodeCommand({ type: 'leaseRevoke', request: { id: 7n } });
  const outcome = harness.machine.applyInSteps(++harness.index, revoke, 50);
  assert.ok(isApplySteps(outcome));
  let result = undefined;
  let steps = 1;
  while (result === undefined) {
    assert.equal(harness.list('k', 'l').length, 3000, 'reads see every key until the last step');
    assert.deepEqual(harness.machine.leases().map((lease) => lease.id), [7n], 'the lease lives until the last step');
    result = outcome.step(50);
    steps++;
  }
  assert.ok(steps > 1500 / 50, `sorted and deleted in ${steps} steps`);
  assert.ok(result.status === 'applied');
  const response = responseOf(result.response, 'leaseRevoke');
  assert.equal(response.deleted, 1500);
  assert.equal(response.header.revision, before + 1);
  assert.deepEqual(harness.machine.leases(), []);
  assert.deepEqual(events, [...events].sort(), 'deleted in byte order');
  const once = restored.apply(harness.index, revoke);
  assert.ok(once.status === 'applied');
  assert.deepEqual(harness.machine.snapshot(), restored.snapshot());

  const unknown = harness.machine.applyInSteps(++harness.index, encodeCommand({ type: 'leaseRevoke', request: { id: 8n } }), 1);
  assert.ok(!isApplySteps(unknown) && unknown.status === 'rejected' && unknown.error.code === 'KEEL_STORE_LEASE_NOT_FOUND');
});
