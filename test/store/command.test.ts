import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { commandScalesWithData, decodeCommand, encodeCommand } from '../../src/store/index.js';
import type { Command, Compare, RequestOp } from '../../src/store/index.js';

const blob = fc.uint8Array({ maxLength: 6 });
const int = fc.integer({ min: -1000, max: 2 ** 40 });
const lease = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

const compare: fc.Arbitrary<Compare> = fc.record({
  result: fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
  target: fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'),
  key: blob,
  rangeEnd: blob,
  version: int,
  createRevision: int,
  modRevision: int,
  value: blob,
  lease,
}).map((c) => {
  const base = { result: c.result, target: c.target, key: c.key, rangeEnd: c.rangeEnd };
  switch (c.target) {
    case 'VERSION':
      return { ...base, version: c.version };
    case 'CREATE':
      return { ...base, createRevision: c.createRevision };
    case 'MOD':
      return { ...base, modRevision: c.modRevision };
    case 'VALUE':
      return { ...base, value: c.value };
    case 'LEASE':
      return { ...base, lease: c.lease };
  }
});

const put = fc.record({ key: blob, value: blob, lease, prevKv: fc.boolean(), ignoreValue: fc.boolean(), ignoreLease: fc.boolean() });
const deleteRange = fc.record({ key: blob, rangeEnd: blob, prevKv: fc.boolean() });
const range = fc.record({
  key: blob,
  rangeEnd: blob,
  limit: int,
  revision: int,
  sortOrder: fc.constantFrom('NONE', 'ASCEND', 'DESCEND'),
  sortTarget: fc.constantFrom('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: int,
  maxModRevision: int,
  minCreateRevision: int,
  maxCreateRevision: int,
});

const { op } = fc.letrec<{ op: RequestOp; txn: { compare: Compare[]; success: RequestOp[]; failure: RequestOp[] } }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    range.map((request) => ({ type: 'range' as const, request })),
    put.map((request) => ({ type: 'put' as const, request })),
    deleteRange.map((request) => ({ type: 'deleteRange' as const, request })),
    tie('txn').map((request) => ({ type: 'txn' as const, request })),
  ),
  txn: fc.record({ compare: fc.array(compare, { maxLength: 3 }), success: fc.array(tie('op'), { maxLength: 3 }), failure: fc.array(tie('op'), { maxLength: 3 }) }),
}));

const unstamped: fc.Arbitrary<Command> = fc.oneof(
  put.map((request) => ({ type: 'put' as const, request })),
  deleteRange.map((request) => ({ type: 'deleteRange' as const, request })),
  fc.record({ compare: fc.array(compare, { maxLength: 3 }), success: fc.array(op, { maxLength: 3 }), failure: fc.array(op, { maxLength: 3 }) }).map((request) => ({ type: 'txn' as const, request })),
  fc.record({ revision: int, physical: fc.boolean() }).map((request) => ({ type: 'compact' as const, request })),
  fc.record({ id: lease, ttlSeconds: fc.nat() }).map((request) => ({ type: 'leaseGrant' as const, request })),
  fc.record({ id: lease }).map((request) => ({ type: 'leaseRevoke' as const, request })),
);

/** Half the commands carry an auth stamp (format 2); the rest keep format 1's bytes. */
const command: fc.Arbitrary<Command> = fc.tuple(unstamped, fc.option(fc.nat(), { nil: undefined })).map(([body, authRevision]) => (authRevision === undefined ? body : { ...body, authRevision }));

test('commands round-trip through their encoding, and re-encode to the same bytes', () => {
  fc.assert(
    fc.property(command, (original) => {
      const encoded = encodeCommand(original);
      const decoded = decodeCommand(encoded);
      assert.deepEqual(decoded, structuredClone(original)); // the clone drops fast-check's null prototypes
      assert.deepEqual(encodeCommand(decoded), encoded);
    }),
    { numRuns: 500 },
  );
});

test('truncated or padded commands fail to decode with a typed error', () => {
  fc.assert(
    fc.property(command, fc.nat(), (original, cut) => {
      const encoded = encodeCommand(original);
      const truncated = encoded.subarray(0, cut % encoded.length);
      assert.throws(() => decodeCommand(truncated), { code: 'KEEL_STORE_MALFORMED_BYTES' });
      const padded = new Uint8Array(encoded.length + 1);
      padded.set(encoded);
      assert.throws(() => decodeCommand(padded), { code: 'KEEL_STORE_MALFORMED_BYTES' });
    }),
    { numRuns: 200 },
  );
});

test('random bytes never decode into anything but a command or a typed error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (noise) => {
      try {
        decodeCommand(Uint8Array.of(1, ...noise));
      } catch (error) {
        assert.equal((error as { code: string }).code, 'KEEL_STORE_MALFORMED_BYTES');
      }
    }),
    { numRuns: 1000 },
  );
});

test('txns nested deeper than the limit do not decode', () => {
  let request = { compare: [], success: [] as RequestOp[], failure: [] };
  for (let depth = 0; depth < 40; depth++) request = { compare: [], success: [{ type: 'txn', request }], failure: [] };
  const encoded = encodeCommand({ type: 'txn', request });
  assert.throws(() => decodeCommand(encoded), { code: 'KEEL_STORE_MALFORMED_BYTES' });
});

test('out-of-domain numbers are refused at encoding', () => {
  assert.throws(() => encodeCommand({ type: 'compact', request: { revision: 1.5 } }), { code: 'KEEL_STORE_INVALID_REQUEST' });
  assert.throws(() => encodeCommand({ type: 'leaseGrant', request: { id: 1n, ttlSeconds: Number.MAX_SAFE_INTEGER } }), { code: 'KEEL_STORE_INVALID_REQUEST' });
});

test('an unstamped command keeps format 1 (logs written before the stamp existed still decode); a stamped one is format 2', () => {
  const put: Command = { type: 'put', request: { key: new Uint8Array([107]), value: new Uint8Array([118]) } };
  const plain = encodeCommand(put);
  assert.equal(plain[0], 1);
  const stamped = encodeCommand({ ...put, authRevision: 300 });
  assert.equal(stamped[0], 2);
  assert.deepEqual(stamped.subarray(3), plain.subarray(1), 'the varuint stamp (2 bytes for 300) sits between the format byte and the tag');
  assert.equal(decodeCommand(stamped).authRevision, 300);
  assert.equal('authRevision' in decodeCommand(plain), false);
});

/** What commandScalesWithData must say, from the decoded command: a DeleteRange over a range anywhere in it, or a lease revoke. */
function scalesWithData(c: Command): boolean {
  const ops = (list: readonly RequestOp[]): boolean =>
    list.some((op) => (op.type === 'deleteRange' && (op.request.rangeEnd?.length ?? 0) > 0) || (op.type === 'txn' && ops([...op.request.success, ...op.request.failure])));
  if (c.type === 'leaseRevoke') return true;
  if (c.type === 'deleteRange') return (c.request.rangeEnd?.length ?? 0) > 0;
  return c.type === 'txn' && ops([...c.request.success, ...c.request.failure]);
}

test('commandScalesWithData: a range delete at any depth of either branch, or a lease revoke; stamped or not; garbage is false', () => {
  fc.assert(
    fc.property(command, (c) => {
      assert.equal(commandScalesWithData(encodeCommand(c)), scalesWithData(c));
    }),
    { numRuns: 500 },
  );
  const key = new Uint8Array([107]);
  const rangeDelete: RequestOp = { type: 'deleteRange', request: { key, rangeEnd: new Uint8Array([108]) } };
  const nested: Command = { type: 'txn', request: { compare: [], success: [], failure: [{ type: 'txn', request: { compare: [], success: [rangeDelete], failure: [] } }] } };
  assert.equal(commandScalesWithData(encodeCommand({ ...nested, authRevision: 1_000_000 })), true, 'in a nested failure branch, behind a 3-byte stamp');
  assert.equal(commandScalesWithData(encodeCommand({ type: 'deleteRange', request: { key } })), false, 'one key');
  assert.equal(commandScalesWithData(encodeCommand({ type: 'leaseRevoke', request: { id: 5n } })), true);
  for (const garbage of [new Uint8Array(0), new Uint8Array([2]), new Uint8Array([2, 0x80]), new Uint8Array([1, 2]), new Uint8Array([9, 6])]) {
    assert.equal(commandScalesWithData(garbage), false, `bytes ${[...garbage]}`);
  }
});
