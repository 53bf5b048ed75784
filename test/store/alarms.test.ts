import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreStateMachine, decodeCommand, encodeCommand } from '../../src/store/index.js';
import type { AlarmResponse, Command } from '../../src/store/index.js';
import { Harness, bytes } from './helpers.js';

const MEMBER = (1n << 64n) - 3n; // member ids use all 64 bits
const activate: Command = { type: 'alarm', request: { action: 'activate', memberId: MEMBER, alarm: 'NOSPACE' } };
const deactivate: Command = { type: 'alarm', request: { action: 'deactivate', memberId: MEMBER, alarm: 'NOSPACE' } };
const alarmsOf = (response: unknown): AlarmResponse['alarms'] => (response as { response: AlarmResponse }).response.alarms;

test('the alarm command round-trips through the codec, uint64 member ids included', () => {
  for (const memberId of [0n, 1n, MEMBER, (1n << 64n) - 1n, 1n << 63n]) {
    for (const action of ['activate', 'deactivate'] as const) {
      for (const alarm of ['NONE', 'NOSPACE', 'CORRUPT'] as const) {
        const command: Command = { type: 'alarm', request: { action, memberId, alarm } };
        assert.deepEqual(decodeCommand(encodeCommand(command)), command);
      }
    }
  }
});

test('an alarm command with a bad action or type is malformed, not applied', () => {
  const good = encodeCommand(activate);
  const badAction = good.slice();
  badAction[2] = 9;
  const badType = good.slice();
  badType[badType.length - 1] = 7;
  const harness = new Harness();
  assert.equal(harness.machine.apply(1, badAction).status, 'rejected');
  assert.equal(harness.machine.apply(2, badType).status, 'rejected');
  assert.deepEqual(harness.machine.alarms(), []);
});

test('activate is idempotent, deactivate answers with what it removed, NONE cannot be raised', () => {
  const harness = new Harness();
  assert.deepEqual(alarmsOf(harness.ok(activate)), [{ memberId: MEMBER, alarm: 'NOSPACE' }]);
  assert.deepEqual(alarmsOf(harness.ok(activate)), [{ memberId: MEMBER, alarm: 'NOSPACE' }]);
  harness.ok({ type: 'alarm', request: { action: 'activate', memberId: 5n, alarm: 'CORRUPT' } });
  harness.ok({ type: 'alarm', request: { action: 'activate', memberId: 2n, alarm: 'NOSPACE' } });
  // Canonical order: by type (etcd's numbers), then member id.
  assert.deepEqual(harness.machine.alarms(), [
    { memberId: 2n, alarm: 'NOSPACE' },
    { memberId: MEMBER, alarm: 'NOSPACE' },
    { memberId: 5n, alarm: 'CORRUPT' },
  ]);
  assert.deepEqual(harness.machine.alarms('CORRUPT'), [{ memberId: 5n, alarm: 'CORRUPT' }]);
  assert.deepEqual(alarmsOf(harness.ok(deactivate)), [{ memberId: MEMBER, alarm: 'NOSPACE' }]);
  assert.deepEqual(alarmsOf(harness.ok(deactivate)), []);
  assert.equal(harness.rejected({ type: 'alarm', request: { action: 'activate', memberId: 1n, alarm: 'NONE' } }), 'KEEL_STORE_INVALID_REQUEST');
  assert.deepEqual(alarmsOf(harness.ok({ type: 'alarm', request: { action: 'deactivate', memberId: 1n, alarm: 'NONE' } })), []);
});

test('writes beyond the quota are refused with NO_SPACE; deletes and compaction still apply', () => {
  const harness = new Harness(new StoreStateMachine({ quotaBytes: 4096 }));
  const value = 'v'.repeat(200);
  let refused = 0;
  for (let i = 0; i < 40 && refused === 0; i++) {
    const result = harness.apply({ type: 'put', request: { key: bytes(`k${i}`), value: bytes(value) } });
    if (result.status === 'rejected') {
      assert.equal(result.error.code, 'KEEL_STORE_NO_SPACE');
      refused++;
    }
  }
  assert.equal(refused, 1, 'the quota is reached within 40 puts');
  const usedBefore = harness.machine.usedBytes;
  assert.ok(usedBefore <= 4096, 'a refused put leaves nothing behind');
  harness.del('k0');
  harness.ok({ type: 'compact', request: { revision: harness.machine.revision } });
  assert.ok(harness.machine.usedBytes < usedBefore);
});

test('while NOSPACE is active everything that can grow the space is refused, the rest applies, and disarming lifts it', () => {
  const harness = new Harness(new StoreStateMachine({ quotaBytes: 1024 * 1024 }));
  harness.put('a', '1');
  harness.put('b', '2');
  harness.ok({ type: 'leaseGrant', request: { id: 7n, ttlSeconds: 60 } });
  harness.ok(activate);
  const revision = harness.machine.revision;
  assert.equal(harness.rejected({ type: 'put', request: { key: bytes('c'), value: bytes('3') } }), 'KEEL_STORE_NO_SPACE_ALARM');
  const txnWithPut: Command = {
    type: 'txn',
    request: { compare: [], success: [], failure: [{ type: 'txn', request: { compare: [], success: [{ type: 'put', request: { key: bytes('d'), value: bytes('4') } }], failure: [] } }] },
  };
  assert.equal(harness.rejected(txnWithPut), 'KEEL_STORE_NO_SPACE_ALARM', 'a put nested in the failure branch counts');
  assert.equal(harness.rejected({ type: 'leaseGrant', request: { id: 8n, ttlSeconds: 60 } }), 'KEEL_STORE_NO_SPACE_ALARM');
  assert.equal(harness.machine.revision, revision, 'refused writes change nothing');
  // Reads, deletes, read-only and delete-only txns, compaction and revokes go on.
  assert.deepEqual(harness.list('a'), ['a=1']);
  harness.ok({ type: 'txn', request: { compare: [], success: [{ type: 'deleteRange', request: { key: bytes('b') } }], failure: [] } });
  harness.del('a');
  harness.ok({ type: 'compact', request: { revision: harness.machine.revision } });
  harness.ok({ type: 'leaseRevoke', request: { id: 7n } });
  harness.ok(deactivate);
  harness.put('c', '3');
  harness.ok(txnWithPut);
  assert.deepEqual(harness.list('c'), ['c=3']);
});

test('alarms survive a snapshot; a state without alarms keeps the format-1 bytes earlier versions wrote', () => {
  const harness = new Harness();
  harness.put('a', '1');
  const withoutAlarms = harness.machine.snapshot();
  assert.equal(withoutAlarms[6], 1, 'format byte after the 6-byte magic');
  harness.ok(activate);
  const withAlarms = harness.machine.snapshot();
  assert.equal(withAlarms[6], 2);
  const restored = new StoreStateMachine();
  restored.restore(withAlarms);
  assert.deepEqual(restored.alarms(), [{ memberId: MEMBER, alarm: 'NOSPACE' }]);
  assert.deepEqual(restored.snapshot(), withAlarms, 'equal states give equal bytes');
  assert.equal(restored.apply(harness.index + 1, encodeCommand({ type: 'put', request: { key: bytes('x'), value: bytes('y') } })).status, 'rejected');
  // Restoring a format-1 snapshot clears alarms the store had.
  restored.restore(withoutAlarms);
  assert.deepEqual(restored.alarms(), []);
});
