import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthTokens, parseAuthTokenOption } from '../../src/node/auth-tokens.js';
import type { AuthResponse } from '../../src/store/auth-state.js';

/** The token providers in process, on an injected clock (no waiting for a TTL). */
const applied = (request: AuthResponse['request']): AuthResponse => ({ header: { revision: 1 }, request, authRevision: 2 });

test('simple tokens: learned from the log, TTL renewed on use, dropped with their user or on disable', async () => {
  let now = 1_000_000;
  const tokens = new AuthTokens({ type: 'simple' }, 300, () => now);
  const token = await tokens.issue('alice', 2);
  await assert.rejects(tokens.resolve(token, 2), { code: 'KEEL_AUTH_INVALID_TOKEN' }, 'not usable before the log hands it out');
  tokens.applied(applied({ op: 'authenticate', name: 'alice', token }));
  assert.deepEqual(await tokens.resolve(token, 7), { name: 'alice', revision: 7 });
  now += 299_000;
  await tokens.resolve(token, 7); // renews
  now += 299_000;
  await tokens.resolve(token, 7);
  now += 300_001;
  await assert.rejects(tokens.resolve(token, 7), { code: 'KEEL_AUTH_INVALID_TOKEN' });
  tokens.applied(applied({ op: 'authenticate', name: 'alice', token: 'a' }));
  tokens.applied(applied({ op: 'authenticate', name: 'bob', token: 'b' }));
  tokens.applied(applied({ op: 'userChangePassword', name: 'alice', passwordHash: 'x' }));
  await assert.rejects(tokens.resolve('a', 1), { code: 'KEEL_AUTH_INVALID_TOKEN' });
  await tokens.resolve('b', 1);
  tokens.applied(applied({ op: 'disable' }));
  assert.equal(tokens.simpleTokenCount, 0);
});

test("JWT tokens: etcd's option string, signed and verified with RS256 and ES256, expiry, forged tokens", async () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-jwt-'));
  try {
    for (const [method, type, options] of [
      ['RS256', 'rsa', { modulusLength: 2048 }],
      ['ES256', 'ec', { namedCurve: 'P-256' }],
    ] as const) {
      const pair = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
      const privateFile = join(directory, `${method}.key`);
      const publicFile = join(directory, `${method}.pub`);
      writeFileSync(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
      const option = parseAuthTokenOption(`jwt,pub-key=${publicFile},priv-key=${privateFile},sign-method=${method},ttl=10m`);
      assert.deepEqual(option, { type: 'jwt', signMethod: method, publicKeyFile: publicFile, privateKeyFile: privateFile, ttlMs: 600_000 });
      let now = Date.now();
      const tokens = new AuthTokens(option, 300, () => now);
      assert.equal(tokens.replicated, false);
      const token = await tokens.issue('alice', 4);
      assert.deepEqual(await tokens.resolve(token, 9), { name: 'alice', revision: 4 }, 'a JWT carries the revision it was issued at');
      await assert.rejects(tokens.resolve(`${token.slice(0, -4)}AAAA`, 9), { code: 'KEEL_AUTH_INVALID_TOKEN' });
      now += 601_000;
      await assert.rejects(tokens.resolve(token, 9), { code: 'KEEL_AUTH_INVALID_TOKEN' });
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('--auth-token values that are wrong are refused with a message naming the problem', () => {
  assert.deepEqual(parseAuthTokenOption('simple'), { type: 'simple' });
  for (const [value, message] of [
    ['opaque', /unknown token type/],
    ['jwt,pub-key=a,sign-method=HS999', /sign-method must be one of/],
    ['jwt,sign-method=RS256', /needs pub-key/],
    ['jwt,pub-key=a,sign-method=RS256,ttl=forever', /not a duration/],
    ['jwt,pub-key=a,sign-method=RS256,colour=blue', /unknown option/],
  ] as const) {
    assert.throws(() => parseAuthTokenOption(value), { code: 'KEEL_NODE_CONFIG_INVALID', message });
  }
  assert.throws(() => new AuthTokens(parseAuthTokenOption('jwt,pub-key=/nonexistent,sign-method=RS256'), 300), { code: 'KEEL_NODE_CONFIG_INVALID', message: /cannot load the jwt keys/ });
});
