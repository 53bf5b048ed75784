import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, seededRandom } from '../../src/resilience/index.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { RateLimits, type RateLimitRequest } from '../../src/gateway/rate-limits.js';
import { Router, type RouteRequest } from '../../src/gateway/router.js';

const base = { listeners: [{ port: 0 }], clusters: { a: { endpoints: [{ address: 'a:1' }] }, b: { endpoints: [{ address: 'b:1' }] } } };

function request(overrides: Partial<RouteRequest>): RouteRequest {
  return { method: 'GET', host: 'example.com', path: '/', headers: {}, clientIp: '192.0.2.1', ...overrides };
}

test('routes match by host, prefix, regex, method, header and client CIDR; the first match wins', () => {
  const config = parseGatewayConfig({
    ...base,
    routes: [
      { name: 'internal', match: { sourceCidrs: ['10.0.0.0/8', '2001:db8::/32'] }, cluster: 'b' },
      { name: 'beta', match: { prefix: '/api', headers: [{ name: 'X-Beta', exact: '1' }] }, cluster: 'b' },
      { name: 'writes', match: { host: 'api.example.com', methods: ['post'] }, cluster: 'b' },
      { name: 'assets', match: { regex: '\\.(css|js)$' }, cluster: 'b' },
      { name: 'rest', cluster: 'a' },
    ],
  });
  const router = new Router(config, seededRandom(1));
  const name = (overrides: Partial<RouteRequest>) => router.match(request(overrides))?.route.name;
  assert.equal(name({ clientIp: '10.1.2.3' }), 'internal');
  assert.equal(name({ clientIp: '2001:db8::5' }), 'internal');
  assert.equal(name({ path: '/api/x', headers: { 'x-beta': '1' } }), 'beta');
  assert.equal(name({ path: '/api/x', headers: { 'x-beta': '2' } }), 'rest');
  assert.equal(name({ host: 'api.example.com', method: 'POST' }), 'writes');
  assert.equal(name({ host: 'api.example.com', method: 'GET' }), 'rest');
  assert.equal(name({ path: '/site.css' }), 'assets');
});

function limitRequest(overrides: Partial<RateLimitRequest>): RateLimitRequest {
  return { ...request({}), routeName: 'r', cost: 1, criticality: 'CRITICAL', ...overrides };
}

test('rate limits: request cost weights, quotas over long windows, CIDR scoping and exemption by criticality', async () => {
  const clock = new FakeClock(0);
  const config = parseGatewayConfig({
    ...base,
    routes: [{ name: 'r', cluster: 'a' }],
    rateLimits: [
      { name: 'quota', descriptor: { header: 'x-user' }, algorithm: 'sliding-window', limit: 10, windowMs: 86_400_000 },
      { name: 'office', descriptor: { global: true }, algorithm: 'gcra', limit: 1, windowMs: 1_000, sourceCidrs: ['198.51.100.0/24'], exemptCriticality: 'CRITICAL_PLUS' },
    ],
  });
  const limits = new RateLimits(config.rateLimits, clock);
  const refused: string[] = [];
  const check = (overrides: Partial<RateLimitRequest>) => limits.check(limitRequest(overrides), (rule) => refused.push(rule));
  check({ headers: { 'x-user': 'u1' }, cost: 6 });
  assert.throws(() => check({ headers: { 'x-user': 'u1' }, cost: 5 }), (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_RATE_LIMITED' && Number(error.headers['retry-after']) > 3_600);
  check({ headers: { 'x-user': 'u1' }, cost: 4 });
  check({ clientIp: '198.51.100.7' });
  assert.throws(() => check({ clientIp: '198.51.100.8' }));
  check({ clientIp: '198.51.100.8', criticality: 'CRITICAL_PLUS' });
  check({ clientIp: '203.0.113.1' });
  await clock.advance(1_000);
  check({ clientIp: '198.51.100.8' });
  assert.deepEqual(refused, ['quota', 'office']);
});
