import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Caller, guardPut, guardTxn } from '../../../src/api/auth/guard.js';
import type { KeelNode } from '../../../src/node/keel-node.js';
import { StoreStateMachine, encodeCommand } from '../../../src/store/index.js';
import type { Command } from '../../../src/store/index.js';

/**
 * The stamp a write guard hands to its command is the auth revision from
 * before its first check. The node here is a stand-in (a mock: KeelNode
 * cannot be built in-process) holding a real state machine; the token
 * resolution is where the test applies an auth change in the middle of the
 * checks, as a raft apply could between two awaits on a real member. Such a
 * write is refused at apply even though its checks passed: the checks did
 * not all see one state (etcd refuses it the same way).
 */
const HASH = '$2a$04$abcdefghijklmnopqrstuuJ2GQ5B1Jj4N4Wa.mOk8gG0QWf2VD4Y.';
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function setUp(): { machine: StoreStateMachine; apply: (command: Command) => string } {
  const machine = new StoreStateMachine();
  let index = 0;
  const apply = (command: Command): string => {
    const result = machine.apply(++index, encodeCommand(command));
    return result.status === 'rejected' ? result.error.code : result.status;
  };
  for (const request of [
    { op: 'userAdd', name: 'root', passwordHash: HASH, noPassword: false },
    { op: 'userGrantRole', name: 'root', role: 'root' },
    { op: 'userAdd', name: 'alice', passwordHash: HASH, noPassword: false },
    { op: 'roleAdd', name: 'app' },
    { op: 'roleGrantPermission', name: 'app', permission: { permType: 'READWRITE', key: bytes('/a/'), rangeEnd: bytes('/a0') } },
    { op: 'userGrantRole', name: 'alice', role: 'app' },
    { op: 'enable' },
  ] as const) {
    assert.equal(apply({ type: 'auth', request } as Command), 'applied');
  }
  return { machine, apply };
}

test('a guard stamps the write with the auth revision its checks started from; a change during the checks makes the apply refuse it', async () => {
  const { machine, apply } = setUp();
  let changeDuringCheck = false;
  const node = {
    get auth() {
      return machine.auth;
    },
    authTokens: {
      // A simple token resolves at the current auth revision (as etcd's).
      resolve: async () => {
        if (changeDuringCheck) {
          changeDuringCheck = false;
          // An auth change applies while the guard awaits the token: one that leaves alice's checks passing.
          assert.equal(apply({ type: 'auth', request: { op: 'userAdd', name: 'bob', passwordHash: HASH, noPassword: false } }), 'applied');
        }
        return { name: 'alice', revision: machine.auth.revision };
      },
    },
    leaseKeys: () => [],
  } as unknown as KeelNode;

  const quiet = await guardPut(node, new Caller(node, 'token-1'), { key: bytes('/a/1'), value: bytes('v') });
  assert.equal(quiet, machine.auth.revision);
  assert.equal(apply({ type: 'put', request: { key: bytes('/a/1'), value: bytes('v') }, authRevision: quiet }), 'applied');

  changeDuringCheck = true;
  const raced = await guardTxn(node, new Caller(node, 'token-2'), { compare: [], success: [{ type: 'put', request: { key: bytes('/a/2'), value: bytes('v') } }], failure: [] });
  assert.ok(raced < machine.auth.revision, 'the stamp predates the change made during the checks');
  assert.equal(
    apply({ type: 'txn', request: { compare: [], success: [{ type: 'put', request: { key: bytes('/a/2'), value: bytes('v') } }], failure: [] }, authRevision: raced }),
    'KEEL_AUTH_OLD_REVISION',
  );
  assert.deepEqual(
    machine.range({ key: bytes('/a/'), rangeEnd: bytes('/a0') }).kvs.map((kv) => new TextDecoder().decode(kv.key)),
    ['/a/1'],
  );
});

test("a caller's identity is looked up once, on first use, and not at all while auth is off and nothing asks", async () => {
  const machine = new StoreStateMachine();
  const node = { get auth() { return machine.auth; } } as unknown as KeelNode; // a stand-in, as above
  let lookups = 0;
  const caller = new Caller(node, undefined, () => {
    lookups++;
    return { address: '10.0.0.7', commonName: 'alice' };
  });
  assert.equal(await caller.info(), undefined, 'auth is off');
  assert.equal(lookups, 0, 'a call under auth off never pays for its peer and certificate');
  assert.equal(caller.identity.address, '10.0.0.7');
  assert.equal(caller.knownUser(), 'alice');
  assert.equal(lookups, 1);
});
