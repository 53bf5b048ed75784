import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { seededRandom } from '../../src/resilience/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { ADMIN_TOKEN_ENV, resolveAdminAccess } from '../../src/gateway/admin-auth.js';
import { call, closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('admin port: the default host is loopback, and with no token every endpoint is open', () => {
  const config = parseGatewayConfig({ ...simpleConfig(['127.0.0.1:1']), listeners: [{ port: 0 }], admin: { port: 0 } });
  assert.equal(config.admin?.host, '127.0.0.1');
  assert.equal(resolveAdminAccess(config.admin, {}).tokenDigest, undefined);
});

test('admin token: every endpoint answers 401 KEEL_GW_ADMIN_UNAUTHORIZED without the right bearer token', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), admin: { port: 0, token: TOKEN } });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const port = gateway.adminPort!;
  for (const path of ['/livez', '/readyz', '/clusters', '/metrics', '/nope']) {
    for (const headers of [{}, bearer('wrong-token-0123456789abcdef'), bearer(TOKEN.slice(0, -1)), { authorization: `Basic ${TOKEN}` }]) {
      const reply = await call(agent, port, path, { headers });
      assert.equal(reply.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(JSON.parse(reply.body).code, 'KEEL_GW_ADMIN_UNAUTHORIZED');
      assert.match(String(reply.headers['www-authenticate']), /^Bearer/);
      assert.ok(!reply.body.includes(TOKEN.slice(0, 8)), 'the token is never echoed');
    }
  }
  const denied = await call(agent, port, '/reload', { method: 'POST' });
  assert.equal(denied.status, 401);
  assert.equal((await call(agent, port, '/clusters', { headers: bearer(TOKEN) })).status, 200);
  assert.equal((await call(agent, port, '/metrics', { headers: { authorization: `bearer  ${TOKEN}` } })).status, 200);
  // The proxy listeners do not care about the admin token.
  assert.equal((await call(agent, gateway.ports[0]!, '/')).status, 200);
});

test('admin token: openMetrics leaves /metrics open and nothing else; the env var sets the token', async (t) => {
  const backend = await startBackend('a');
  process.env[ADMIN_TOKEN_ENV] = TOKEN;
  let gateway: Gateway;
  try {
    gateway = await startGateway({ ...simpleConfig([backend.address]), admin: { port: 0, openMetrics: true } });
  } finally {
    delete process.env[ADMIN_TOKEN_ENV];
  }
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  assert.equal((await call(agent, gateway.adminPort!, '/metrics')).status, 200);
  assert.equal((await call(agent, gateway.adminPort!, '/clusters')).status, 401);
  assert.equal((await call(agent, gateway.adminPort!, '/clusters', { headers: bearer(TOKEN) })).status, 200);
});

test('admin tokenFile: read at start, re-read on reload (rotation); an unreadable file refuses the reload with a typed error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-admin-'));
  const tokenFile = join(dir, 'token');
  const configFile = join(dir, 'gw.json');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const backend = await startBackend('a');
  const raw = { ...simpleConfig([backend.address]), listeners: [{ port: 0 }], admin: { port: 0, tokenFile } };
  writeFileSync(configFile, JSON.stringify(raw));
  const gateway = await Gateway.start({ config: parseGatewayConfig(raw), configFile, random: seededRandom(1) });
  const agent = new Agent();
  t.after(async () => {
    await closeAll(agent, gateway, backend);
    rmSync(dir, { recursive: true, force: true });
  });
  const port = gateway.adminPort!;
  assert.equal((await call(agent, port, '/clusters', { headers: bearer(TOKEN) })).status, 200);
  const rotated = 'rotated-token-0123456789abcdef';
  writeFileSync(tokenFile, rotated);
  const reload = await call(agent, port, '/reload', { method: 'POST', headers: bearer(TOKEN) });
  assert.equal(reload.status, 200, reload.body);
  assert.equal((await call(agent, port, '/clusters', { headers: bearer(TOKEN) })).status, 401);
  assert.equal((await call(agent, port, '/clusters', { headers: bearer(rotated) })).status, 200);
  rmSync(tokenFile);
  await assert.rejects(gateway.reload(parseGatewayConfig(raw)), (error: Error & { code?: string }) => error.code === 'KEEL_GW_CONFIG_INVALID' && /admin\.tokenFile/.test(error.message));
  assert.equal((await call(agent, port, '/clusters', { headers: bearer(rotated) })).status, 200, 'the running token stays');
});

test('admin config: a short token, or both token and tokenFile, is a config error naming the field', () => {
  const base = { ...simpleConfig(['127.0.0.1:1']), listeners: [{ port: 0 }] };
  assert.throws(() => parseGatewayConfig({ ...base, admin: { port: 0, token: 'short' } }), /admin\.token/);
  assert.throws(() => parseGatewayConfig({ ...base, admin: { port: 0, token: TOKEN, tokenFile: '/x' } }), /token or tokenFile/);
  assert.throws(() => resolveAdminAccess(parseGatewayConfig({ ...base, admin: { port: 0 } }).admin, { [ADMIN_TOKEN_ENV]: 'has space in it 0123456789' }), /KEEL_GW_ADMIN_TOKEN/);
});
