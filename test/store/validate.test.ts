import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTxnIntervals, isReadOnlyTxn, limits, validateTxn } from '../../src/store/index.js';
import type { RequestOp, TxnRequest } from '../../src/store/index.js';
import { bytes, Harness, text } from './helpers.js';

const put = (key: string): RequestOp => ({ type: 'put', request: { key: bytes(key), value: bytes('v') } });
const del = (key: string, rangeEnd?: string): RequestOp => ({ type: 'deleteRange', request: { key: bytes(key), ...(rangeEnd === undefined ? {} : { rangeEnd: bytes(rangeEnd) }) } });
const txn = (success: RequestOp[], failure: RequestOp[] = []): TxnRequest => ({ compare: [], success, failure });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ type: 'txn', request: txn(success, failure) });

test('checkTxnIntervals refuses a key put twice, or put and deleted, in what one execution can run', () => {
  const duplicate = { code: 'KEEL_STORE_DUPLICATE_KEY', etcdMessage: 'etcdserver: duplicate key given in txn request' };
  assert.throws(() => checkTxnIntervals(txn([put('a'), put('a')])), duplicate);
  assert.throws(() => checkTxnIntervals(txn([del('a', 'c'), put('b')])), duplicate);
  assert.throws(() => checkTxnIntervals(txn([del('a', '\0'), put('zz')])), duplicate);
  assert.throws(() => checkTxnIntervals(txn([put('a'), nested([put('a')])])), duplicate);
  assert.throws(() => checkTxnIntervals(txn([nested([del('a')]), put('a')])), duplicate);
  checkTxnIntervals(txn([put('a')], [put('a')]));
  checkTxnIntervals(txn([nested([put('a')], [put('a')])]));
  checkTxnIntervals(txn([del('a', 'c'), put('c')]));
  checkTxnIntervals(txn([del('a'), del('a')]));
});

test('validateTxn enforces the ops limit, the depth limit and non-empty keys', () => {
  const many = Array.from({ length: limits.TXN_OPS_MAX + 1 }, (_, i) => put(`k${i}`));
  assert.throws(() => validateTxn(txn(many)), { code: 'KEEL_STORE_TOO_MANY_OPS', etcdMessage: 'etcdserver: too many operations in txn request' });
  validateTxn(txn(many.slice(1)));
  let deep = txn([]);
  for (let depth = 0; depth < limits.TXN_DEPTH_MAX; depth++) deep = txn([{ type: 'txn', request: deep }]);
  assert.throws(() => validateTxn(deep), { code: 'KEEL_STORE_TXN_TOO_DEEP' });
  assert.throws(() => validateTxn({ compare: [{ key: new Uint8Array(0), target: 'VERSION', result: 'EQUAL' }], success: [], failure: [] }), {
    code: 'KEEL_STORE_EMPTY_KEY',
    etcdMessage: 'etcdserver: key is not provided',
  });
});

test('isReadOnlyTxn looks into both branches at every depth', () => {
  const range: RequestOp = { type: 'range', request: { key: bytes('a') } };
  assert.equal(isReadOnlyTxn(txn([range], [nested([range])])), true);
  assert.equal(isReadOnlyTxn(txn([range], [nested([], [put('a')])])), false);
});

test('leaseKeys lists the keys attached to a lease', () => {
  const store = new Harness();
  store.ok({ type: 'leaseGrant', request: { id: 1n, ttlSeconds: 60 } });
  store.put('b', '1', { lease: 1n });
  store.put('a', '1', { lease: 1n });
  store.put('c', '1');
  assert.deepEqual(store.machine.leaseKeys(1n).map(text), ['a', 'b']);
  store.del('a');
  assert.deepEqual(store.machine.leaseKeys(1n).map(text), ['b']);
  assert.deepEqual(store.machine.leaseKeys(2n), []);
});
