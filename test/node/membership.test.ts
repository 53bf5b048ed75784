import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfChangeType } from '../../src/raft/types.js';
import {
  MembershipTable,
  addedMemberId,
  checkPeerUrls,
  encodeChangeContext,
  joiningRaftId,
  normalizePeerUrl,
  raftIdOf,
  unwrapSnapshot,
  wrapSnapshot,
} from '../../src/node/membership.js';
import { decodeEntry, encodeMembershipEntry } from '../../src/node/entry-codec.js';

describe('membership records', () => {
  it('normalises peer URLs and refuses what the transport cannot dial', () => {
    assert.equal(normalizePeerUrl('HTTP://Host.example:2380/'), 'http://host.example:2380');
    assert.equal(normalizePeerUrl('http://[::1]:2380'), 'http://[::1]:2380');
    for (const bad of ['http://h', 'h:1', 'ftp://h:1', 'http://h:0', 'http://h:70000', 'http://h:1/path', 7, undefined]) assert.equal(normalizePeerUrl(bad), undefined, String(bad));
    assert.throws(() => checkPeerUrls([]), { code: 'KEEL_MEMBER_BAD_URLS' });
    assert.throws(() => checkPeerUrls(['http://a:1', 'http://b:2']), { code: 'KEEL_MEMBER_BAD_URLS' });
    assert.deepEqual(checkPeerUrls(['http://a:1/']), ['http://a:1']);
  });

  it('gives MemberAdd and the joining process the same raft id', () => {
    assert.equal(joiningRaftId('keel', '127.0.0.1:2380'), raftIdOf(addedMemberId('keel', 'http://127.0.0.1:2380')));
    assert.notEqual(joiningRaftId('keel', '127.0.0.1:2380'), joiningRaftId('other', '127.0.0.1:2380'));
    assert.equal(raftIdOf(5n), '0000000000000005');
  });

  it('follows conf changes and commands, and survives a snapshot', () => {
    const table = new MembershipTable('keel', { n1: '127.0.0.1:1' }, {});
    const memberId = addedMemberId('keel', 'http://127.0.0.1:4');
    const raftId = raftIdOf(memberId);
    const record = { raftId, memberId, name: '', peerUrls: ['http://127.0.0.1:4'], clientUrls: [] };
    const added = table.applyConfChange({ type: ConfChangeType.AddLearner, nodeId: raftId, context: encodeChangeContext('r1', record) });
    assert.equal(added.requestId, 'r1');
    assert.deepEqual([...added.addresses], [[raftId, '127.0.0.1:4']]);
    const decoded = decodeEntry(encodeMembershipEntry({ op: 'publish', raftId, name: 'n4', clientUrls: ['http://127.0.0.1:5'] }));
    assert.ok(decoded.kind === 'membership' && decoded.command);
    table.applyCommand(decoded.command);
    assert.equal(table.get(raftId)?.name, 'n4');
    assert.equal(table.get('n1')?.memberId !== undefined, true, 'a founder without a record falls back to the flags');
    const wrapped = wrapSnapshot(table.encode(), new Uint8Array([1, 2, 3]));
    const { membership, store } = unwrapSnapshot(wrapped);
    assert.deepEqual([...store], [1, 2, 3]);
    const restored = new MembershipTable('keel', {}, {});
    restored.restore(membership!);
    assert.deepEqual(restored.get(raftId), { ...record, name: 'n4', clientUrls: ['http://127.0.0.1:5'] });
    restored.applyConfChange({ type: ConfChangeType.Remove, nodeId: raftId });
    assert.equal(restored.isRemoved(raftId), true);
    assert.equal(restored.get(raftId), undefined);
    // A snapshot written before membership was replicated is all store data.
    assert.deepEqual(unwrapSnapshot(new Uint8Array([0x4b, 0x45, 0x45, 0x4c, 0x4b, 0x56])).membership, undefined);
    // Garbage in a context or command is ignored, never thrown.
    assert.deepEqual(table.applyConfChange({ type: ConfChangeType.AddVoter, nodeId: 'x', context: new Uint8Array([0xff, 0x00]) }).addresses.size, 0);
    assert.deepEqual(decodeEntry(new Uint8Array([0xeb, 0x7b])), { kind: 'membership', command: undefined });
  });
});
