import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EntryKind, decodeEntry, encodeCommandEntry, encodeMembershipEntry, encodeStoreCommandEntry } from '../../src/node/entry-codec.js';
import { type Command, encodeCommand } from '../../src/store/command.js';
import { decodeChangeContext, encodeChangeContext } from '../../src/node/membership.js';
import type { MembershipCommand } from '../../src/node/membership.js';

const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)];

/**
 * Entry data as the code before entry-codec.ts wrote it (envelope.ts and
 * membership.ts), byte for byte. WAL segments and snapshots on disk hold
 * these; they must decode the same after an upgrade.
 */
const UPDATE_JSON = '{"op":"update","raftId":"n2","peerUrls":["http://h:2"],"requestId":"q7"}';
const PUBLISH_JSON = '{"op":"publish","raftId":"n3","name":"n3","clientUrls":["http://h:3"]}';
const CONTEXT_JSON = '{"requestId":"r9","member":{"memberId":"5","name":"","peerUrls":["http://h:4"],"clientUrls":[]}}';
const FIXTURES = {
  noOp: Uint8Array.of(),
  command: Uint8Array.of(1, 2, 0x72, 0x31, 0xaa, 0xbb), // version 1, id "r1", command [aa bb]
  commandWithoutId: Uint8Array.of(1, 0, 0x01, 0x02),
  update: Uint8Array.of(0xeb, ...utf8(UPDATE_JSON)),
  publish: Uint8Array.of(0xeb, ...utf8(PUBLISH_JSON)),
} as const;
const UPDATE: MembershipCommand = { op: 'update', raftId: 'n2', peerUrls: ['http://h:2'], requestId: 'q7' };
const PUBLISH: MembershipCommand = { op: 'publish', raftId: 'n3', name: 'n3', clientUrls: ['http://h:3'] };

describe('entry codec', () => {
  it('decodes the entry formats already on disk', () => {
    assert.deepEqual(decodeEntry(FIXTURES.noOp), { kind: 'empty' });
    assert.deepEqual(decodeEntry(FIXTURES.command), { kind: 'command', requestId: 'r1', command: Uint8Array.of(0xaa, 0xbb) });
    assert.deepEqual(decodeEntry(FIXTURES.commandWithoutId), { kind: 'command', requestId: '', command: Uint8Array.of(1, 2) });
    assert.deepEqual(decodeEntry(FIXTURES.update), { kind: 'membership', command: UPDATE });
    assert.deepEqual(decodeEntry(FIXTURES.publish), { kind: 'membership', command: PUBLISH });
    assert.deepEqual(decodeChangeContext('n4', Uint8Array.from(utf8(CONTEXT_JSON))), {
      requestId: 'r9',
      member: { raftId: 'n4', memberId: 5n, name: '', peerUrls: ['http://h:4'], clientUrls: [] },
    });
  });

  it('encodes each kind to the same bytes as before, and back', () => {
    assert.deepEqual(encodeCommandEntry('r1', Uint8Array.of(0xaa, 0xbb)), FIXTURES.command);
    assert.deepEqual(encodeMembershipEntry(UPDATE), FIXTURES.update);
    assert.deepEqual(encodeMembershipEntry(PUBLISH), FIXTURES.publish);
    const member = { raftId: 'n4', memberId: 5n, name: '', peerUrls: ['http://h:4'], clientUrls: [] };
    assert.deepEqual(encodeChangeContext('r9', member), Uint8Array.from(utf8(CONTEXT_JSON)));
    assert.equal(FIXTURES.command[0], EntryKind.Command);
    assert.equal(FIXTURES.update[0], EntryKind.Membership);
  });

  it('round-trips command entries', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 32 }), (requestId, command) => {
        assert.deepEqual(decodeEntry(encodeCommandEntry(requestId, command)), { kind: 'command', requestId, command });
      }),
      { numRuns: 200 },
    );
    assert.throws(() => encodeCommandEntry('x'.repeat(256), Uint8Array.of()), RangeError);
  });

  it('reports tags it does not know, and cut-short envelopes, as unknown', () => {
    assert.deepEqual(decodeEntry(Uint8Array.of(2, 1, 2)), { kind: 'unknown', tag: 2, data: Uint8Array.of(2, 1, 2) });
    assert.deepEqual(decodeEntry(Uint8Array.of(0xeb)), { kind: 'unknown', tag: 0xeb, data: Uint8Array.of(0xeb) });
    assert.deepEqual(decodeEntry(Uint8Array.of(1, 5, 0x61)), { kind: 'unknown', tag: 1, data: Uint8Array.of(1, 5, 0x61) });
    // A membership tag whose JSON does not decode is still membership: every member skips it alike.
    assert.deepEqual(decodeEntry(Uint8Array.of(0xeb, 0x7b)), { kind: 'membership', command: undefined });
  });

  it('never throws on a truncated entry', () => {
    for (const fixture of Object.values(FIXTURES)) {
      for (let length = 0; length <= fixture.length; length++) {
        const kind = decodeEntry(fixture.subarray(0, length)).kind;
        assert.ok(['empty', 'command', 'membership', 'unknown'].includes(kind));
      }
    }
  });

  it('never throws on arbitrary bytes, and names the kind their first byte tags', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(undefined, EntryKind.Command, EntryKind.Membership), (rest, tag) => {
        const data = tag === undefined ? rest : Uint8Array.of(tag, ...rest);
        const decoded = decodeEntry(data);
        if (data.length === 0) assert.equal(decoded.kind, 'empty');
        else if (decoded.kind === 'unknown') assert.equal(decoded.tag, data[0]);
        else assert.equal(decoded.kind, data[0] === EntryKind.Command ? 'command' : 'membership');
      }),
      { numRuns: 1000 },
    );
  });
});

it('encodeStoreCommandEntry writes the same bytes as encodeCommandEntry of encodeCommand, in one buffer with little to spare', () => {
  const commands: Command[] = [
    { type: 'put', request: { key: Uint8Array.of(1, 2), value: new Uint8Array(300_000).fill(9), lease: 7n, prevKv: true } },
    { type: 'put', request: { key: Uint8Array.of(3), value: new Uint8Array(0) } },
    { type: 'deleteRange', request: { key: Uint8Array.of(1), rangeEnd: Uint8Array.of(9) } },
    { type: 'compact', request: { revision: 12, physical: true } },
    {
      type: 'txn',
      request: {
        compare: [{ key: Uint8Array.of(1), target: 'VALUE', result: 'EQUAL', value: new Uint8Array(70_000).fill(1) }],
        success: [{ type: 'put', request: { key: Uint8Array.of(2), value: new Uint8Array(90_000).fill(2) } }],
        failure: [{ type: 'txn', request: { compare: [], success: [{ type: 'range', request: { key: Uint8Array.of(5) } }], failure: [] } }],
      },
    },
  ];
  for (const command of commands) {
    for (const requestId of ['', 'r1', 'x'.repeat(255)]) {
      const entry = encodeStoreCommandEntry(requestId, command);
      assert.deepEqual(entry, encodeCommandEntry(requestId, encodeCommand(command)));
      assert.ok(entry.buffer.byteLength - entry.byteLength <= Math.max(64, entry.byteLength / 16), `${command.type}: ${entry.buffer.byteLength} bytes held for ${entry.byteLength}`);
    }
  }
  assert.throws(() => encodeStoreCommandEntry('x'.repeat(256), commands[1]!), RangeError);
});
