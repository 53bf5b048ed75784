import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Encoder } from '@msgpack/msgpack';
import { message, MessageType, type Entry, type Message } from '../../src/raft/types.js';
import { decodeMessage, decodeSnapshotBegin, encodeSnapshotBegin, NETWORK_MESSAGE_TYPES } from '../../src/transport/codec.js';
import { encodeMessageParts, REFERENCED_DATA_MIN } from '../../src/transport/message-encoder.js';

// What the transport sent before message-encoder.ts (and what a peer of an
// earlier build sends): @msgpack/msgpack's Encoder over the fields in wire order.
const reference = new Encoder({ ignoreUndefined: true });
function referenceFields(m: Message): unknown[] {
  const entries = m.entries.map((entry) => [entry.term, entry.index, entry.type, entry.data]);
  return [m.type, m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint, m.logTermHint, entries, m.context ?? null];
}
function referenceBody(m: Message): Uint8Array {
  return reference.encode(referenceFields(m));
}

function joined(m: Message): Buffer {
  const { parts, bytes } = encodeMessageParts(m);
  const body = Buffer.concat(parts);
  assert.equal(body.length, bytes, 'the byte count is the parts');
  return body;
}

// Each msgpack width boundary, and the largest integer a field can hold.
const boundaries = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
const types = [...NETWORK_MESSAGE_TYPES].filter((type) => type !== MessageType.Snapshot) as MessageType[];

test('a message body is byte for byte what the msgpack Encoder gave, so peers of an earlier build read it', () => {
  const integer = fc.oneof(fc.constantFrom(...boundaries), fc.nat(), fc.maxSafeNat());
  const id = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('n1', 'é', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(256), '\u{1F600}'.repeat(64)));
  const dataLength = fc.oneof(fc.nat(300), fc.constantFrom(0xff, 0x100, REFERENCED_DATA_MIN - 1, REFERENCED_DATA_MIN, 0xffff, 0x1_0000, 70_000));
  const entry = fc.record({ term: integer, index: integer, type: fc.constantFrom(0, 1), length: dataLength, fill: fc.nat(255) });
  const arbitrary = fc.record({
    type: fc.constantFrom(...types),
    from: id,
    to: id,
    term: integer,
    logTerm: integer,
    index: integer,
    commit: integer,
    reject: fc.boolean(),
    rejectHint: integer,
    logTermHint: integer,
    entries: fc.array(entry, { maxLength: 20 }),
    context: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
  });
  fc.assert(
    fc.property(arbitrary, (fields) => {
      const entries: Entry[] = fields.entries.map(({ term, index, type, length, fill }) => ({ term, index, type: type as Entry['type'], data: new Uint8Array(length).fill(fill) }));
      const { context, ...rest } = fields;
      const m = message(context === undefined ? { ...rest, entries } : { ...rest, entries, context });
      const body = joined(m);
      assert.ok(body.equals(referenceBody(m)));
      assert.deepStrictEqual(decodeMessage(body), m);
    }),
    { numRuns: 300 },
  );
});

test('16 and 65,536 entries take the wider array headers, as the Encoder writes them', () => {
  for (const count of [15, 16, 0xffff, 0x1_0000]) {
    const entries: Entry[] = Array.from({ length: count }, (_, i) => ({ term: 1, index: i + 1, type: 0, data: new Uint8Array(i % 3) }));
    const m = message({ type: MessageType.Append, from: 'a', to: 'b', term: 1, entries });
    assert.ok(joined(m).equals(referenceBody(m)), `${count} entries`);
  }
});

test("large entry data is sent as the entry's own bytes, not copied; small data is copied in with the fields", () => {
  const large = new Uint8Array(REFERENCED_DATA_MIN).fill(7);
  const small = new Uint8Array(REFERENCED_DATA_MIN - 1).fill(8);
  const m = message({
    type: MessageType.Append,
    from: 'a',
    to: 'b',
    term: 2,
    entries: [
      { term: 2, index: 1, type: 0, data: large },
      { term: 2, index: 2, type: 0, data: small },
      { term: 2, index: 3, type: 0, data: large },
    ],
  });
  const { parts } = encodeMessageParts(m);
  assert.equal(parts.length, 5, 'fields, large, fields and small, large, the last fields');
  assert.equal(parts[1], large);
  assert.equal(parts[3], large);
  assert.ok(parts[2]!.buffer !== small.buffer && parts[2]!.length > small.length, 'the small data is a copy, among the fields');
});

test('a field a message cannot hold is refused at the sender, not sent for the receiver to refuse', () => {
  for (const term of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
    assert.throws(() => encodeMessageParts(message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term })), RangeError);
  }
});

test("a snapshot's begin frame is byte for byte what the msgpack Encoder gave for [message, metadata, data length]", () => {
  const metadata = { index: 70_000, term: 300, confState: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } };
  const data = new Uint8Array(5_000);
  const m = message({ type: MessageType.Snapshot, from: 'n1', to: 'n4', term: 300, commit: 70_001, snapshot: { metadata, data } });
  const body = encodeSnapshotBegin(m);
  const { snapshot: _snapshot, ...withoutSnapshot } = m;
  const expected = reference.encode([referenceFields(withoutSnapshot as Message), [metadata.index, metadata.term, metadata.confState.voters, metadata.confState.learners], data.length]);
  assert.ok(body.equals(expected));
  assert.deepStrictEqual(decodeSnapshotBegin(body), { message: withoutSnapshot, metadata, dataBytes: data.length });
});
