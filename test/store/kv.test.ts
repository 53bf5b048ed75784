import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limits, prefixRangeEnd, StoreStateMachine } from '../../src/store/index.js';
import type { Command, RequestOp } from '../../src/store/index.js';
import { bytes, Harness, plain, responseOf, text } from './helpers.js';

test('an empty store is at revision 1; each write advances the revision by one', () => {
  const store = new Harness();
  assert.equal(store.machine.revision, 1);
  assert.equal(responseOf(store.put('a', '1'), 'put').header.revision, 2);
  assert.equal(responseOf(store.put('b', '1'), 'put').header.revision, 3);
  assert.equal(store.machine.revision, 3);
});

test('create_revision, mod_revision and version follow etcd; a delete starts a new generation', () => {
  const store = new Harness();
  store.put('k', 'v1');
  store.put('k', 'v2');
  assert.deepEqual(plain(store.machine.range({ key: bytes('k') }).kvs[0]!), { key: 'k', value: 'v2', create: 2, mod: 3, version: 2, lease: 0n });
  store.del('k');
  assert.deepEqual(store.list('k'), []);
  store.put('k', 'v3');
  assert.deepEqual(plain(store.machine.range({ key: bytes('k') }).kvs[0]!), { key: 'k', value: 'v3', create: 5, mod: 5, version: 1, lease: 0n });
});

test('a delete that deletes nothing does not advance the revision', () => {
  const store = new Harness();
  store.put('a', '1');
  const response = responseOf(store.del('zzz'), 'deleteRange');
  assert.equal(response.deleted, 0);
  assert.equal(response.header.revision, 2);
  assert.equal(store.machine.revision, 2);
});

test('range_end conventions: empty is one key, [0] is to the end, prefix end is key+1', () => {
  const store = new Harness();
  for (const key of ['a', 'ab', 'abc', 'b', 'b\xff']) store.put(key, key);
  assert.deepEqual(store.list('ab'), ['ab=ab']);
  assert.deepEqual(store.list('ab', '\0'), ['ab=ab', 'abc=abc', 'b=b', 'b\xff=b\xff']);
  assert.deepEqual(store.list('\0', '\0').length, 5);
  assert.deepEqual(store.list('a', 'b'), ['a=a', 'ab=ab', 'abc=abc']);
  const prefix = store.machine.range({ key: bytes('ab'), rangeEnd: prefixRangeEnd(bytes('ab')) });
  assert.deepEqual(prefix.kvs.map((kv) => text(kv.key)), ['ab', 'abc']);
  assert.deepEqual(store.list('b', 'a'), []);
  assert.deepEqual([...prefixRangeEnd(new Uint8Array([1, 0xff]))], [2]);
  assert.deepEqual([...prefixRangeEnd(new Uint8Array([0xff, 0xff]))], [0]);
});

test('limit reports more and count counts every key in the range', () => {
  const store = new Harness();
  for (const key of ['a', 'b', 'c', 'd']) store.put(key, key);
  const limited = store.machine.range({ key: bytes('a'), rangeEnd: bytes('z'), limit: 2 });
  assert.deepEqual(limited.kvs.map((kv) => text(kv.key)), ['a', 'b']);
  assert.equal(limited.more, true);
  assert.equal(limited.count, 4);
  const exact = store.machine.range({ key: bytes('a'), rangeEnd: bytes('z'), limit: 4 });
  assert.equal(exact.more, false);
  const counted = store.machine.range({ key: bytes('a'), rangeEnd: bytes('z'), countOnly: true });
  assert.deepEqual(counted.kvs, []);
  assert.equal(counted.count, 4);
  const keysOnly = store.machine.range({ key: bytes('a'), keysOnly: true });
  assert.equal(keysOnly.kvs[0]!.value.length, 0);
  assert.equal(keysOnly.kvs[0]!.version, 1);
});

test('sort by every target, both orders; a non-KEY target with order NONE sorts ascending', () => {
  const store = new Harness();
  store.put('c', '1'); // rev 2
  store.put('a', '3'); // rev 3
  store.put('b', '2'); // rev 4
  store.put('c', '0'); // rev 5: c version 2
  const keys = (sortTarget: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE', sortOrder: 'NONE' | 'ASCEND' | 'DESCEND') =>
    store.machine.range({ key: bytes('\0'), rangeEnd: bytes('\0'), sortTarget, sortOrder }).kvs.map((kv) => text(kv.key)).join('');
  assert.equal(keys('KEY', 'NONE'), 'abc');
  assert.equal(keys('KEY', 'DESCEND'), 'cba');
  assert.equal(keys('VALUE', 'ASCEND'), 'cba');
  assert.equal(keys('VALUE', 'NONE'), 'cba');
  assert.equal(keys('CREATE', 'ASCEND'), 'cab');
  assert.equal(keys('CREATE', 'DESCEND'), 'bac');
  assert.equal(keys('MOD', 'DESCEND'), 'cba');
  assert.equal(keys('VERSION', 'DESCEND'), 'cab');
  const limited = store.machine.range({ key: bytes('\0'), rangeEnd: bytes('\0'), sortTarget: 'MOD', sortOrder: 'DESCEND', limit: 1 });
  assert.deepEqual(limited.kvs.map((kv) => text(kv.key)), ['c']);
  assert.equal(limited.more, true);
});

test('min/max mod and create revision filters apply after count', () => {
  const store = new Harness();
  store.put('a', '1'); // 2
  store.put('b', '1'); // 3
  store.put('a', '2'); // 4
  const all = { key: bytes('\0'), rangeEnd: bytes('\0') };
  const keys = (extra: object) => store.machine.range({ ...all, ...extra }).kvs.map((kv) => text(kv.key)).join('');
  assert.equal(keys({ minModRevision: 4 }), 'a');
  assert.equal(keys({ maxModRevision: 3 }), 'b');
  assert.equal(keys({ minCreateRevision: 3 }), 'b');
  assert.equal(keys({ maxCreateRevision: 2 }), 'a');
  assert.equal(store.machine.range({ ...all, minModRevision: 4 }).count, 2);
});

test('reads at a past revision; compacted and future revisions fail with etcd messages', () => {
  const store = new Harness();
  store.put('a', '1'); // 2
  store.put('a', '2'); // 3
  store.del('a'); // 4
  assert.deepEqual(store.list('a', undefined, 2), ['a=1']);
  assert.deepEqual(store.list('a', undefined, 3), ['a=2']);
  assert.deepEqual(store.list('a', undefined, 4), []);
  assert.deepEqual(store.list('a', undefined, 0), []);
  assert.throws(() => store.list('a', undefined, 5), (error: { code: string; etcdMessage: string }) => {
    assert.equal(error.code, 'KEEL_STORE_FUTURE_REVISION');
    assert.equal(error.etcdMessage, 'etcdserver: mvcc: required revision is a future revision');
    return true;
  });
  store.ok({ type: 'compact', request: { revision: 3 } });
  assert.deepEqual(store.list('a', undefined, 3), ['a=2']);
  assert.throws(() => store.list('a', undefined, 2), (error: { code: string; etcdMessage: string }) => {
    assert.equal(error.code, 'KEEL_STORE_COMPACTED');
    assert.equal(error.etcdMessage, 'etcdserver: mvcc: required revision has been compacted');
    return true;
  });
  assert.equal(store.rejected({ type: 'compact', request: { revision: 3 } }), 'KEEL_STORE_COMPACTED');
  assert.equal(store.rejected({ type: 'compact', request: { revision: 9 } }), 'KEEL_STORE_FUTURE_REVISION');
});

test('compaction drops deleted keys entirely and keeps the value visible at the compacted revision', () => {
  const store = new Harness();
  store.put('gone', 'x'); // 2
  store.del('gone'); // 3
  store.put('kept', 'a'); // 4
  store.put('kept', 'b'); // 5
  assert.equal(store.machine.keyCount, 2);
  store.ok({ type: 'compact', request: { revision: 4 } });
  assert.equal(store.machine.keyCount, 1);
  assert.deepEqual(store.list('kept', undefined, 4), ['kept=a']);
  assert.deepEqual(store.list('kept'), ['kept=b']);
});

test('delete-range returns prev kvs and deletes in key order with sub-revisions', () => {
  const store = new Harness();
  for (const key of ['a', 'b', 'c']) store.put(key, key);
  const events: string[] = [];
  store.machine.subscribe((batch) => events.push(...batch.events.map((event) => `${batch.revision}:${event.type}:${text(event.kv.key)}`)));
  const response = responseOf(store.ok({ type: 'deleteRange', request: { key: bytes('a'), rangeEnd: bytes('c'), prevKv: true } }), 'deleteRange');
  assert.equal(response.deleted, 2);
  assert.deepEqual(response.prevKvs.map(plain).map((kv) => kv.key), ['a', 'b']);
  assert.deepEqual(events, ['5:DELETE:a', '5:DELETE:b']);
});

test('put prev_kv, ignore_value and ignore_lease', () => {
  const store = new Harness();
  store.ok({ type: 'leaseGrant', request: { id: 7n, ttlSeconds: 10 } });
  assert.equal(responseOf(store.put('k', 'v1', { prevKv: true }), 'put').prevKv, undefined);
  const second = responseOf(store.put('k', 'v2', { prevKv: true, lease: 7n }), 'put');
  assert.equal(text(second.prevKv!.value), 'v1');
  store.ok({ type: 'put', request: { key: bytes('k'), value: new Uint8Array(0), ignoreValue: true } });
  let kv = store.machine.range({ key: bytes('k') }).kvs[0]!;
  assert.equal(text(kv.value), 'v2');
  assert.equal(kv.lease, 0n, 'a put without ignore_lease detaches the lease');
  store.ok({ type: 'put', request: { key: bytes('k'), value: bytes('v3'), lease: 7n } });
  store.ok({ type: 'put', request: { key: bytes('k'), value: bytes('v4'), ignoreLease: true } });
  kv = store.machine.range({ key: bytes('k') }).kvs[0]!;
  assert.deepEqual([text(kv.value), kv.lease, kv.version], ['v4', 7n, 5]);
  assert.equal(store.rejected({ type: 'put', request: { key: bytes('nope'), value: new Uint8Array(0), ignoreValue: true } }), 'KEEL_STORE_KEY_NOT_FOUND');
  assert.equal(store.rejected({ type: 'put', request: { key: bytes('k'), value: bytes('x'), ignoreValue: true } }), 'KEEL_STORE_VALUE_PROVIDED');
  assert.equal(store.rejected({ type: 'put', request: { key: bytes('k'), value: bytes('x'), ignoreLease: true, lease: 7n } }), 'KEEL_STORE_LEASE_PROVIDED');
  assert.equal(store.rejected({ type: 'put', request: { key: new Uint8Array(0), value: bytes('x') } }), 'KEEL_STORE_EMPTY_KEY');
});

test('leases: put needs a granted lease; revoke deletes its keys in key order in one revision', () => {
  const store = new Harness();
  assert.equal(store.rejected({ type: 'put', request: { key: bytes('a'), value: bytes('1'), lease: 9n } }), 'KEEL_STORE_LEASE_NOT_FOUND');
  const big = 0x7fff_ffff_ffff_fff0n;
  store.ok({ type: 'leaseGrant', request: { id: big, ttlSeconds: 5 } });
  assert.equal(store.rejected({ type: 'leaseGrant', request: { id: big, ttlSeconds: 5 } }), 'KEEL_STORE_LEASE_EXISTS');
  store.put('c', '1', { lease: big });
  store.put('a', '1', { lease: big });
  store.put('b', '1');
  store.put('d', '1', { lease: big });
  store.put('d', '2'); // detached again
  assert.deepEqual(store.machine.leases(), [{ id: big, ttlSeconds: 5 }]);
  const revoked = responseOf(store.ok({ type: 'leaseRevoke', request: { id: big } }), 'leaseRevoke');
  assert.equal(revoked.deleted, 2);
  assert.equal(revoked.header.revision, 7);
  assert.deepEqual(store.list('\0', '\0'), ['b=1', 'd=2']);
  assert.deepEqual(store.machine.leases(), []);
  assert.equal(store.rejected({ type: 'leaseRevoke', request: { id: big } }), 'KEEL_STORE_LEASE_NOT_FOUND');
  assert.equal(store.rejected({ type: 'leaseGrant', request: { id: 0n, ttlSeconds: 5 } }), 'KEEL_STORE_INVALID_REQUEST');
});

test('txn compares every target with every result, over a range, against the state before the txn', () => {
  const store = new Harness();
  store.ok({ type: 'leaseGrant', request: { id: 3n, ttlSeconds: 5 } });
  store.put('a', 'm', { lease: 3n }); // rev 2
  store.put('b', 'n'); // rev 3
  const holds = (compare: object) =>
    responseOf(store.ok({ type: 'txn', request: { compare: [compare as never], success: [], failure: [] } }), 'txn').succeeded;
  const a = { key: bytes('a') };
  assert.equal(holds({ ...a, target: 'VERSION', result: 'EQUAL', version: 1 }), true);
  assert.equal(holds({ ...a, target: 'CREATE', result: 'GREATER', createRevision: 1 }), true);
  assert.equal(holds({ ...a, target: 'MOD', result: 'LESS', modRevision: 2 }), false);
  assert.equal(holds({ ...a, target: 'VALUE', result: 'NOT_EQUAL', value: bytes('m') }), false);
  assert.equal(holds({ ...a, target: 'VALUE', result: 'GREATER', value: bytes('l') }), true);
  assert.equal(holds({ ...a, target: 'LEASE', result: 'EQUAL', lease: 3n }), true);
  const range = { key: bytes('a'), rangeEnd: bytes('c') };
  assert.equal(holds({ ...range, target: 'VERSION', result: 'EQUAL', version: 1 }), true);
  assert.equal(holds({ ...range, target: 'MOD', result: 'GREATER', modRevision: 2 }), false, 'every key must hold');
  const missing = { key: bytes('zz') };
  assert.equal(holds({ ...missing, target: 'VERSION', result: 'EQUAL', version: 0 }), true, 'a missing key compares as zero');
  assert.equal(holds({ ...missing, target: 'CREATE', result: 'EQUAL' }), true);
  assert.equal(holds({ ...missing, target: 'VALUE', result: 'EQUAL', value: new Uint8Array(0) }), false, 'VALUE on no key is false');
  assert.equal(store.machine.revision, 3, 'txns that write nothing keep the revision');
});

test('txn ops see earlier writes; a delete and a put of one key share the main revision with their own subs', () => {
  const store = new Harness();
  store.put('k', 'old'); // 2
  const batches: string[] = [];
  store.machine.subscribe((batch) => batches.push(batch.events.map((event) => `${event.type}:${text(event.kv.key)}@${event.kv.modRevision}`).join(',')));
  const response = responseOf(
    store.ok({
      type: 'txn',
      request: {
        compare: [{ key: bytes('k'), target: 'VALUE', result: 'EQUAL', value: bytes('old') }],
        success: [
          { type: 'deleteRange', request: { key: bytes('k'), prevKv: true } },
          { type: 'range', request: { key: bytes('k') } },
          { type: 'put', request: { key: bytes('k'), value: bytes('new') } },
          { type: 'range', request: { key: bytes('k') } },
        ],
        failure: [],
      },
    }),
    'txn',
  );
  assert.equal(response.succeeded, true);
  assert.equal(response.header.revision, 3);
  const ranges = response.responses.filter((op) => op.type === 'range').map((op) => (op.type === 'range' ? op.response.kvs.map(plain) : []));
  assert.deepEqual(ranges, [[], [{ key: 'k', value: 'new', create: 3, mod: 3, version: 1, lease: 0n }]]);
  assert.deepEqual(batches, ['DELETE:k@3,PUT:k@3']);
  const history = store.machine.history({ key: bytes('k'), startRevision: 3, prevKv: true });
  assert.deepEqual(history.events.map((event) => [event.type, event.prevKv ? text(event.prevKv.value) : null]), [['DELETE', 'old'], ['PUT', null]]);
  assert.deepEqual(store.list('k', undefined, 2), ['k=old']);
});

test('nested txns take the branch their compares chose against the state before the command', () => {
  const store = new Harness();
  const response = responseOf(
    store.ok({
      type: 'txn',
      request: {
        compare: [{ key: bytes('x'), target: 'VERSION', result: 'EQUAL', version: 0 }],
        success: [
          { type: 'put', request: { key: bytes('x'), value: bytes('1') } },
          {
            type: 'txn',
            request: {
              // x did not exist before the command, so this holds even though the put above created it.
              compare: [{ key: bytes('x'), target: 'VERSION', result: 'EQUAL', version: 0 }],
              success: [{ type: 'put', request: { key: bytes('y'), value: bytes('inner') } }],
              failure: [{ type: 'put', request: { key: bytes('z'), value: bytes('wrong') } }],
            },
          },
        ],
        failure: [],
      },
    }),
    'txn',
  );
  const inner = response.responses[1]!;
  assert.equal(inner.type === 'txn' && inner.response.succeeded, true);
  assert.deepEqual(store.list('\0', '\0'), ['x=1', 'y=inner']);
});

test('a range in a txn reads no revision newer than the state before the command, even one its own writes made (etcd checkRange)', () => {
  const store = new Harness();
  store.put('a', '1'); // 2
  const writeThenRead = (revision: number, inner = false): Command => {
    const range: RequestOp = { type: 'range', request: { key: bytes('a'), revision } };
    const nested: RequestOp = { type: 'txn', request: { compare: [], success: [range], failure: [] } };
    return { type: 'txn', request: { compare: [], success: [{ type: 'put', request: { key: bytes('a'), value: bytes('2') } }, inner ? nested : range], failure: [] } };
  };
  // Revision 3 is the one this txn's put creates: etcd answers "future revision" and applies nothing.
  assert.equal(store.rejected(writeThenRead(3)), 'KEEL_STORE_FUTURE_REVISION');
  assert.equal(store.rejected(writeThenRead(3, true)), 'KEEL_STORE_FUTURE_REVISION');
  assert.equal(store.machine.revision, 2);
  assert.deepEqual(store.list('a'), ['a=1']);
  // The revision before the command is fine, and revision 0 still reads the txn's own writes.
  const response = responseOf(store.ok(writeThenRead(2)), 'txn');
  const read = response.responses[1]!;
  assert.deepEqual(read.type === 'range' ? read.response.kvs.map(plain) : [], [{ key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0n }]);
  assert.deepEqual(store.list('a'), ['a=2']);
  // Only the branch taken is checked.
  store.ok({ type: 'txn', request: { compare: [{ key: bytes('a'), target: 'VALUE', result: 'EQUAL', value: bytes('nope') }], success: [{ type: 'range', request: { key: bytes('a'), revision: 99 } }], failure: [] } });
});

test('a txn that fails half-way leaves no trace but its applied index', () => {
  const store = new Harness();
  store.put('a', '1');
  const before = store.machine.snapshot();
  const code = store.rejected({
    type: 'txn',
    request: {
      compare: [],
      success: [
        { type: 'put', request: { key: bytes('new'), value: bytes('1') } },
        { type: 'deleteRange', request: { key: bytes('a') } },
        { type: 'put', request: { key: bytes('a'), value: new Uint8Array(0), ignoreValue: true } },
      ],
      failure: [],
    },
  });
  assert.equal(code, 'KEEL_STORE_KEY_NOT_FOUND');
  assert.equal(store.machine.appliedIndex, 2);
  assert.deepEqual(store.list('\0', '\0'), ['a=1']);
  assert.equal(store.machine.revision, 2);
  const after = new StoreStateMachine();
  after.restore(store.machine.snapshot());
  const expected = new StoreStateMachine();
  expected.restore(before);
  expected.markApplied(2);
  assert.deepEqual(after.snapshot(), expected.snapshot());
});

test('readTxn serves read-only txns and refuses writes', () => {
  const store = new Harness();
  store.put('a', '1');
  const response = store.machine.readTxn({
    compare: [{ key: bytes('a'), target: 'VALUE', result: 'EQUAL', value: bytes('1') }],
    success: [{ type: 'range', request: { key: bytes('a') } }],
    failure: [],
  });
  assert.equal(response.succeeded, true);
  assert.equal(response.header.revision, 2);
  assert.throws(
    () => store.machine.readTxn({ compare: [], success: [], failure: [{ type: 'put', request: { key: bytes('a'), value: bytes('2') } }] }),
    { code: 'KEEL_STORE_NOT_READ_ONLY' },
  );
});

test('history pages at revision boundaries and refuses compacted starts', () => {
  const store = new Harness();
  for (let i = 0; i < 5; i++) store.put(`k${i}`, 'v'); // revs 2..6
  store.ok({ type: 'deleteRange', request: { key: bytes('k'), rangeEnd: bytes('l') } }); // rev 7, five events
  const first = store.machine.history({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 5, eventsMax: 3 });
  assert.deepEqual(first.events.map((event) => event.kv.modRevision), [5, 6, 7, 7, 7, 7, 7]);
  assert.equal(first.nextRevision, 8);
  const paged = store.machine.history({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 2, eventsMax: 2 });
  assert.deepEqual(paged.events.map((event) => event.kv.modRevision), [2, 3]);
  assert.equal(paged.nextRevision, 4);
  const one = store.machine.history({ key: bytes('k3'), startRevision: 1 });
  assert.deepEqual(one.events.map((event) => event.type), ['PUT', 'DELETE']);
  store.ok({ type: 'compact', request: { revision: 4 } });
  assert.throws(() => store.machine.history({ key: bytes('k'), startRevision: 3 }), { code: 'KEEL_STORE_COMPACTED' });
});

test('hash: equal for equal histories, different when a value differs, covers up to a revision', () => {
  const one = new Harness();
  const two = new Harness();
  for (const store of [one, two]) {
    store.put('a', '1');
    store.put('b', '2');
  }
  assert.deepEqual(one.machine.hash(), two.machine.hash());
  two.put('a', 'x');
  one.put('a', 'y');
  assert.notEqual(one.machine.hash().hash, two.machine.hash().hash);
  assert.deepEqual(one.machine.hash(3), two.machine.hash(3));
  assert.equal(one.machine.hash().revision, 4);
});

test('malformed and oversized commands are rejected, still counting as applied', () => {
  const store = new Harness();
  assert.equal(store.machine.apply(1, new Uint8Array([1, 99])).status, 'rejected');
  const result = store.machine.apply(2, new Uint8Array(2 * 1024 * 1024));
  assert.equal(result.status === 'rejected' && result.error.code, 'KEEL_STORE_REQUEST_TOO_LARGE');
  assert.equal(store.machine.appliedIndex, 2);
});

test('over the space quota puts are refused with etcd NOSPACE; deletes and compaction free space', () => {
  const store = new Harness(new StoreStateMachine({ quotaBytes: 1500 }));
  for (let i = 0; i < 5; i++) store.put('k', 'v'.repeat(20));
  const rejected = store.apply({ type: 'put', request: { key: bytes('k'), value: bytes('v'.repeat(20)) } });
  assert.equal(rejected.status === 'rejected' && rejected.error.etcdMessage, 'etcdserver: mvcc: database space exceeded');
  assert.equal(store.machine.revision, 6);
  store.del('k');
  store.ok({ type: 'compact', request: { revision: store.machine.revision } });
  // Only the tombstone at the compaction revision is left (a watch may start there); the next compaction frees it.
  assert.equal(store.machine.usedBytes, 'k'.length + limits.RECORD_OVERHEAD_BYTES);
  store.put('k', 'again');
  assert.deepEqual(store.list('k'), ['k=again']);
  store.ok({ type: 'compact', request: { revision: store.machine.revision } });
  assert.equal(store.machine.usedBytes, 'k'.length + 'again'.length + limits.RECORD_OVERHEAD_BYTES);
});

test('a compaction still dropping its records (compactInSteps) does not count them against the quota: every member decides a write alike', () => {
  // Members step a compaction at different paces; a write's quota check must not depend on how far one got.
  const run = (compactInSteps: boolean) => {
    const store = new Harness(new StoreStateMachine({ quotaBytes: 10_000, compactInSteps }));
    for (const key of ['a', 'b', 'c', 'd', 'e']) store.put(key, 'v'.repeat(1_500));
    store.del('a', 'f');
    store.ok({ type: 'compact', request: { revision: store.machine.revision } });
    assert.equal(store.machine.compacting, compactInSteps, 'the stepped store has not dropped a record yet');
    const result = store.apply({ type: 'put', request: { key: bytes('f'), value: bytes('w'.repeat(3_000)) } });
    return { status: result.status, snapshot: store.machine.snapshot(), usedBytes: store.machine.usedBytes };
  };
  const atOnce = run(false);
  const stepped = run(true);
  assert.equal(atOnce.status, 'applied', 'the freed space takes the write');
  assert.equal(stepped.status, 'applied');
  assert.equal(stepped.usedBytes, atOnce.usedBytes);
  assert.deepEqual(stepped.snapshot, atOnce.snapshot);
});
