import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { addressKey, AuthenticateLimits } from '../../../src/api/auth/attempt-limits.js';
import { HopIdentities, IDENTIFIED_HOPS_MAX } from '../../../src/api/auth/client-identity.js';

test('failed attempts are limited per user, successes are given back, other users go on', () => {
  const limits = new AuthenticateLimits(2, 100);
  limits.admit('alice', '10.0.0.1'); // failed: kept
  limits.admit('alice', '10.0.0.2').refund(); // succeeded: given back
  limits.admit('alice', '10.0.0.3'); // failed
  assert.throws(() => limits.admit('alice', '10.0.0.4'), (error: Error & { code?: string; scope?: string; retryAfterSeconds?: number }) => {
    assert.equal(error.code, 'KEEL_AUTH_RATE_LIMITED');
    assert.equal(error.scope, 'user');
    assert.ok(error.retryAfterSeconds! >= 1);
    assert.ok(!error.message.includes('alice'));
    return true;
  });
  limits.admit('bob', '10.0.0.4');
});

test('failed attempts are limited per address over every name; a user refusal does not spend the address', () => {
  const limits = new AuthenticateLimits(1, 3);
  limits.admit('a', '::ffff:10.0.0.9');
  assert.throws(() => limits.admit('a', '10.0.0.9'), { scope: 'user' });
  limits.admit('b', '10.0.0.9');
  limits.admit('c', '10.0.0.9');
  assert.throws(() => limits.admit('d', '10.0.0.9'), { scope: 'address' });
  limits.admit('d', '10.0.0.10');
  assert.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('::1'), '::1');
});

test('0 turns a limit off', () => {
  const limits = new AuthenticateLimits(0, 0);
  for (let index = 0; index < 1_000; index++) limits.admit('alice', '10.0.0.1');
});

test('hop identities: looked up by the grpc-js peer string, forgotten only by their own hop, bounded', () => {
  const hops = new HopIdentities();
  const alice = { address: '10.0.0.1', commonName: 'alice' };
  hops.register(40_000, alice);
  assert.equal(hops.ofPeer('127.0.0.1:40000'), alice);
  assert.equal(hops.ofPeer('127.0.0.1:40001').commonName, undefined);
  assert.equal(hops.ofPeer('unknown').address, 'unknown');
  hops.forget(40_000, { address: '10.0.0.2', commonName: undefined }); // another hop's identity: not this one's to drop
  assert.equal(hops.ofPeer('127.0.0.1:40000'), alice);
  hops.forget(40_000, alice);
  assert.equal(hops.size, 0);
  for (let port = 0; port < IDENTIFIED_HOPS_MAX; port++) hops.register(port, alice);
  assert.equal(hops.register(IDENTIFIED_HOPS_MAX, alice), false);
  assert.equal(hops.size, IDENTIFIED_HOPS_MAX);
});

test('a call\'s identity: its own verified certificate, else its hop\'s record, else its peer address', () => {
  const hops = new HopIdentities();
  const alice = { address: '10.0.0.1', commonName: 'alice' };
  hops.register(40_000, alice);
  const call = (peer: string, authContext: ReturnType<Parameters<HopIdentities['ofCall']>[0]['getAuthContext']> = {}) => ({ getPeer: () => peer, getAuthContext: () => authContext });
  // Handed to grpc-js directly over TLS with a verified certificate: the certificate names the user, even on a hop's port number.
  assert.deepEqual(hops.ofCall(call('127.0.0.1:40000', { transportSecurityType: 'ssl', sslPeerCertificate: { subject: { CN: 'bob' } } })), { address: '127.0.0.1', commonName: 'bob' });
  assert.deepEqual(hops.ofCall(call('10.0.0.7:5000', { transportSecurityType: 'ssl', sslPeerCertificate: { subject: { CN: '' } } })), { address: '10.0.0.7', commonName: undefined });
  // Over a hop: the record the client port made.
  assert.equal(hops.ofCall(call('127.0.0.1:40000')), alice);
  // Direct in cleartext: the peer's address; a hop's port number from another address is not that hop.
  assert.deepEqual(hops.ofCall(call('10.0.0.8:40000')), { address: '10.0.0.8', commonName: undefined });
  assert.deepEqual(hops.ofCall(call('::1:40001')), { address: '::1', commonName: undefined });
  assert.deepEqual(hops.ofCall(call('unknown')), { address: 'unknown', commonName: undefined });
});
