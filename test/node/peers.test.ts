import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialPeers, PeerBook } from '../../src/node/peers.js';
import { joiningRaftId } from '../../src/node/membership.js';
import type { Logger } from '../../src/node/logger.js';

// The transport is stood in for by a recorder: the book's job is which calls it makes (no sockets involved).
function recorder(): { calls: string[]; dialer: { setPeer(id: string, address: string): void; removePeer(id: string): void } } {
  const calls: string[] = [];
  return { calls, dialer: { setPeer: (id, address) => calls.push(`set ${id} ${address}`), removePeer: (id) => calls.push(`remove ${id}`) } };
}
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

test('a founder\'s first peers are the others from --peers; a joiner also lists each address under the id MemberAdd would give it', () => {
  const peers = { n1: '10.0.0.1:2380', n2: '10.0.0.2:2380', n4: '10.0.0.4:2380' };
  assert.deepEqual(initialPeers(peers, { name: 'n1', raftId: 'n1', clusterName: 'c' }, false), { n2: '10.0.0.2:2380', n4: '10.0.0.4:2380' });
  const joiner = joiningRaftId('c', '10.0.0.4:2380');
  const joining = initialPeers(peers, { name: 'n4', raftId: joiner, clusterName: 'c' }, true);
  assert.equal(joining['n1'], '10.0.0.1:2380');
  assert.equal(joining[joiningRaftId('c', '10.0.0.2:2380')], '10.0.0.2:2380');
  assert.equal(joining[joiner], undefined, 'never itself');
});

test('the peer book dials a new or changed address once, never itself, and drops the guesses once caught up and a member', () => {
  const { calls, dialer } = recorder();
  const book = new PeerBook(dialer, () => 'me', quiet);
  book.started({ n2: 'a:1', guess: 'b:1' });
  book.set('n2', 'a:1');
  book.set('me', 'x:1');
  book.set('n3', 'c:1');
  book.set('n3', 'c:2');
  assert.deepEqual(calls, ['set n3 c:1', 'set n3 c:2']);
  book.sync([['n2', 'a:1'], ['n3', 'c:2']], new Set(['me', 'n2', 'n3']), false);
  assert.equal(book.guessing, true, 'not caught up: the guesses stay');
  book.sync([['n2', 'a:1'], ['n3', 'c:2']], new Set(['n2', 'n3']), true);
  assert.equal(book.guessing, true, 'not a member yet: the guesses stay');
  book.sync([['n2', 'a:1'], ['n3', 'c:2']], new Set(['me', 'n2', 'n3']), true);
  assert.equal(book.guessing, false);
  assert.deepEqual(calls.slice(2), ['remove guess']);
  book.remove('me');
  book.remove('n3');
  assert.deepEqual(calls.slice(3), ['remove n3']);
});
