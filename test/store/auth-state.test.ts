import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreStateMachine } from '../../src/store/index.js';
import type { Command } from '../../src/store/index.js';
import { Harness, bytes } from './helpers.js';

/** The auth commands through the state machine: etcd's rules and errors, snapshots, and the checks. */
const HASH = '$2a$04$abcdefghijklmnopqrstuuJ2GQ5B1Jj4N4Wa.mOk8gG0QWf2VD4Y.';
const auth = (request: Extract<Command, { type: 'auth' }>['request']): Command => ({ type: 'auth', request });

function codeOf(harness: Harness, command: Command): string {
  const result = harness.apply(command);
  return result.status === 'rejected' ? result.error.code : result.status;
}

test("auth commands follow etcd's rules for root and answer etcd's errors", () => {
  const harness = new Harness();
  assert.equal(codeOf(harness, auth({ op: 'enable' })), 'KEEL_AUTH_ROOT_USER_NOT_EXIST');
  assert.equal(codeOf(harness, auth({ op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false })), 'applied');
  assert.equal(codeOf(harness, auth({ op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false })), 'KEEL_AUTH_USER_ALREADY_EXIST');
  assert.equal(codeOf(harness, auth({ op: 'userAdd', name: 'clear', passwordHash: 'secret', noPassword: false })), 'KEEL_AUTH_FAILED', 'a clear-text password is never stored');
  assert.equal(codeOf(harness, auth({ op: 'enable' })), 'KEEL_AUTH_ROOT_ROLE_NOT_EXIST');
  assert.equal(codeOf(harness, auth({ op: 'userGrantRole', name: 'root', role: 'root' })), 'applied', 'root may be granted before the role is added, as in etcd');
  assert.equal(codeOf(harness, auth({ op: 'userGrantRole', name: 'root', role: 'nope' })), 'KEEL_AUTH_ROLE_NOT_FOUND');
  assert.equal(codeOf(harness, auth({ op: 'enable' })), 'applied');
  assert.equal(codeOf(harness, auth({ op: 'userDelete', name: 'root' })), 'KEEL_AUTH_INVALID_MANAGEMENT');
  assert.equal(codeOf(harness, auth({ op: 'userRevokeRole', name: 'root', role: 'root' })), 'KEEL_AUTH_INVALID_MANAGEMENT');
  assert.equal(codeOf(harness, auth({ op: 'userDelete', name: 'ghost' })), 'KEEL_AUTH_USER_NOT_FOUND');
  assert.equal(codeOf(harness, auth({ op: 'roleRevokePermission', name: 'ghost', key: bytes('a'), rangeEnd: new Uint8Array(0) })), 'KEEL_AUTH_ROLE_NOT_FOUND');
  assert.equal(codeOf(harness, auth({ op: 'authenticate', name: 'ghost', token: 't' })), 'KEEL_AUTH_FAILED');
  assert.equal(codeOf(harness, auth({ op: 'disable' })), 'applied');
  assert.equal(codeOf(harness, auth({ op: 'authenticate', name: 'root', token: 't' })), 'KEEL_AUTH_NOT_ENABLED');
});

test('permission checks: user name is empty, old revision, denied, root can do everything', () => {
  const harness = new Harness();
  for (const command of [
    auth({ op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false }),
    auth({ op: 'userGrantRole', name: 'root', role: 'root' }),
    auth({ op: 'userAdd', name: 'alice', passwordHash: HASH, noPassword: false }),
    auth({ op: 'roleAdd', name: 'app' }),
    auth({ op: 'roleGrantPermission', name: 'app', permission: { permType: 'READ', key: bytes('/a/'), rangeEnd: bytes('/a0') } }),
    auth({ op: 'userGrantRole', name: 'alice', role: 'app' }),
    auth({ op: 'enable' }),
  ]) {
    assert.equal(harness.apply(command).status, 'applied');
  }
  const state = harness.machine.auth;
  const alice = { name: 'alice', revision: state.revision };
  assert.throws(() => state.checkRange(undefined, bytes('/a/x'), new Uint8Array(0), 'READ'), { code: 'KEEL_AUTH_USER_EMPTY' });
  state.checkRange(alice, bytes('/a/x'), new Uint8Array(0), 'READ');
  assert.throws(() => state.checkRange(alice, bytes('/a/x'), new Uint8Array(0), 'WRITE'), { code: 'KEEL_AUTH_PERMISSION_DENIED' });
  assert.throws(() => state.checkRange({ name: 'alice', revision: state.revision - 1 }, bytes('/a/x'), new Uint8Array(0), 'READ'), { code: 'KEEL_AUTH_OLD_REVISION' });
  state.checkRange({ name: 'root', revision: state.revision }, new Uint8Array([0]), new Uint8Array([0]), 'WRITE');
  assert.throws(() => state.checkAdmin(alice), { code: 'KEEL_AUTH_PERMISSION_DENIED' });
  // Deleting the role takes it from alice: the cached permissions go with the revision.
  assert.equal(harness.apply(auth({ op: 'roleDelete', name: 'app' })).status, 'applied');
  assert.throws(() => state.checkRange({ name: 'alice', revision: state.revision }, bytes('/a/x'), new Uint8Array(0), 'READ'), { code: 'KEEL_AUTH_PERMISSION_DENIED' });
});

test('the auth state survives a snapshot, byte for byte, and fresh state keeps the old snapshot format', () => {
  const harness = new Harness();
  const empty = harness.machine.snapshot();
  assert.equal(empty[6], 1, 'no auth, no alarms: format 1');
  harness.apply(auth({ op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false }));
  harness.apply(auth({ op: 'roleAdd', name: 'app' }));
  harness.apply(auth({ op: 'roleGrantPermission', name: 'app', permission: { permType: 'READWRITE', key: bytes('k'), rangeEnd: new Uint8Array([0]) } }));
  harness.apply(auth({ op: 'userGrantRole', name: 'root', role: 'root' }));
  harness.apply(auth({ op: 'enable' }));
  const bytesBefore = harness.machine.snapshot();
  const restored = new StoreStateMachine();
  restored.restore(bytesBefore);
  assert.deepEqual(restored.snapshot(), bytesBefore);
  assert.equal(restored.auth.enabled, true);
  assert.equal(restored.auth.revision, harness.machine.auth.revision);
  assert.deepEqual(restored.auth.user('root')?.roles, ['root']);
  assert.equal(restored.auth.user('root')?.passwordHash, HASH);
  assert.deepEqual(restored.auth.role('app')?.permissions.map((permission) => permission.permType), ['READWRITE']);
});

test('a write stamped with an older auth revision is refused at apply once auth is on; nothing is written (etcd\'s auth applier)', () => {
  const applied: Command[] = [];
  const harness = new (class extends Harness {
    override apply(command: Command) {
      applied.push(command);
      return super.apply(command);
    }
  })();
  for (const command of [
    auth({ op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false }),
    auth({ op: 'userGrantRole', name: 'root', role: 'root' }),
    auth({ op: 'roleAdd', name: 'app' }),
    auth({ op: 'roleGrantPermission', name: 'app', permission: { permType: 'READWRITE', key: bytes('/a/'), rangeEnd: bytes('/a0') } }),
  ]) {
    assert.equal(harness.apply(command).status, 'applied');
  }
  const put = (key: string, authRevision?: number): Command => ({ type: 'put', request: { key: bytes(key), value: bytes('v') }, ...(authRevision === undefined ? {} : { authRevision }) });
  // Auth off: a stamp from any revision applies (etcd checks nothing with auth off).
  assert.equal(codeOf(harness, put('/a/off', 1)), 'applied');
  const checkedAt = harness.machine.auth.revision;
  // The write's checks ran at `checkedAt`; auth is enabled before it applies: refused.
  assert.equal(codeOf(harness, auth({ op: 'enable' })), 'applied');
  assert.equal(codeOf(harness, put('/a/raced', checkedAt)), 'KEEL_AUTH_OLD_REVISION');
  const current = harness.machine.auth.revision;
  assert.equal(codeOf(harness, put('/a/fresh', current)), 'applied', 'a stamp equal to the applied revision: the check saw this very state');
  // A permission revoked between the check (at `current`) and the apply: the write does not go through.
  assert.equal(codeOf(harness, auth({ op: 'roleRevokePermission', name: 'app', key: bytes('/a/'), rangeEnd: bytes('/a0') })), 'applied');
  for (const command of [
    put('/a/revoked', current),
    { type: 'deleteRange', request: { key: bytes('/a/fresh') }, authRevision: current } as Command,
    { type: 'txn', request: { compare: [], success: [{ type: 'put', request: { key: bytes('/a/txn'), value: bytes('v') } }], failure: [] }, authRevision: current } as Command,
    { type: 'compact', request: { revision: 1, physical: false }, authRevision: current } as Command,
    { type: 'leaseRevoke', request: { id: 7n }, authRevision: current } as Command,
  ]) {
    assert.equal(codeOf(harness, command), 'KEEL_AUTH_OLD_REVISION', command.type);
  }
  assert.deepEqual(harness.list('/a/', '/a0'), ['/a/fresh=v', '/a/off=v'], 'no refused write left a trace');
  // Unstamped commands (the leader's own lease revokes and compactions) are not auth-checked.
  assert.equal(codeOf(harness, put('/a/internal')), 'applied');
  // Every member refuses the same entries: a replica applying the same log ends in the same state.
  const replica = new Harness();
  for (const command of applied) replica.apply(command);
  assert.deepEqual(replica.machine.snapshot(), harness.machine.snapshot());
});
