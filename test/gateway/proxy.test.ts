import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Agent } from 'undici';
import { upstreamRequestHeaders } from '../../src/gateway/proxy.js';
import { call, closeAll, load, nameHandler, simpleConfig, startBackend, startGateway } from './helpers.js';

test('proxies with forwarding headers, the deadline, hop-by-hop stripped and bodies streamed both ways', async (t) => {
  const backend = await startBackend('echo', (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(200, { 'x-seen': JSON.stringify(request.headers), connection: 'keep-alive', 'keep-alive': 'timeout=99' });
      response.end(Buffer.concat(chunks));
    });
  });
  const gateway = await startGateway(simpleConfig([backend.address]));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const body = 'x'.repeat(200_000);
  const reply = await call(agent, gateway.ports[0]!, '/upload?q=1', { method: 'POST', body, headers: { 'x-forwarded-for': '10.1.1.1', 'keel-deadline': '5000'} });
  assert.equal(reply.status, 200);
  assert.equal(reply.body.length, body.length);
  const seen = JSON.parse(reply.headers['x-seen'] as string) as Record<string, string>;
  assert.equal(seen['x-forwarded-for'], '10.1.1.1, 127.0.0.1');
  assert.equal(seen.via, '1.1 keel-gateway');
  assert.ok(Number(seen['keel-deadline']) > 0 && Number(seen['keel-deadline']) <= 5000);
  assert.match(seen['grpc-timeout'] ?? '', /^\d{1,8}[HMSmun]$/);
  assert.notEqual(reply.headers['keep-alive'], 'timeout=99', 'the backend keep-alive stays on its own connection');
  assert.equal(reply.headers.via, '1.1 keel-gateway');
});

test('a request with no route gets 404 with a reason', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway(simpleConfig([backend.address], {}, { match: { prefix: '/api' } }));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const reply = await call(agent, gateway.ports[0]!, '/other');
  assert.equal(reply.status, 404);
  assert.equal(reply.headers['keel-reject-reason'], 'no-route');
  assert.equal(JSON.parse(reply.body).code, 'KEEL_GW_NO_ROUTE');
});

test('failover: a backend that dies mid-load costs no failed request (retried on another endpoint)', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name)));
  const gateway = await startGateway(simpleConfig(backends.map((b) => b.address), { outlierDetection: { consecutiveGatewayErrors: 2, maxEjectionPercent: 50 } }, { retry: { maxAttempts: 3 } }));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backends.slice(1)));
  const failures: number[] = [];
  await load(300, 8, async (index) => {
    if (index === 100) await backends[0]!.close();
    const reply = await call(agent, gateway.ports[0]!, `/item/${index}`);
    if (reply.status !== 200) failures.push(reply.status);
  });
  assert.deepEqual(failures, []);
  assert.ok(backends[1]!.hits + backends[2]!.hits >= 200);
});

test('outlier detection ejects a backend answering 5xx', async (t) => {
  const bad = await startBackend('bad', (request, response) => {
    request.resume();
    response.writeHead(500);
    response.end('broken');
  });
  const good = await Promise.all(['g1', 'g2'].map((name) => startBackend(name)));
  const gateway = await startGateway(simpleConfig([bad.address, ...good.map((b) => b.address)], {
    outlierDetection: { consecutive5xx: 3, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
  }));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, [bad, ...good]));
  let errors = 0;
  for (let index = 0; index < 60; index++) if ((await call(agent, gateway.ports[0]!, '/')).status === 500) errors++;
  assert.equal(bad.hits, 3, 'ejected after 3 consecutive 5xx');
  assert.equal(errors, 3);
  const admin = JSON.parse((await call(agent, gateway.adminPort!, '/clusters')).body) as { clusters: Array<{ endpoints: Array<{ address: string; ejected: boolean }> }> };
  assert.equal(admin.clusters[0]!.endpoints.find((e) => e.address === bad.address)?.ejected, true);
  const metrics = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(metrics, /keel_gateway_outlier_ejections_total\{cluster="app",cause="consecutive-5xx"\} 1/);
});

test('canary weights split traffic within a statistical bound and change on reload', async (t) => {
  const stable = await startBackend('stable');
  const canary = await startBackend('canary');
  const config = (canaryWeight: number) => ({
    routes: [{ name: 'all', weightedClusters: [{ cluster: 'stable', weight: 100 - canaryWeight }, { cluster: 'canary', weight: canaryWeight }] }],
    clusters: { stable: { endpoints: [{ address: stable.address }] }, canary: { endpoints: [{ address: canary.address }] } },
  });
  const gateway = await startGateway(config(10), 42);
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, stable, canary));
  const total = 1_000;
  await load(total, 8, async () => void (await call(agent, gateway.ports[0]!, '/')));
  // binomial(1000, 0.1): sd ≈ 9.5; 5 sd either side
  assert.ok(Math.abs(canary.hits - 100) <= 48, `canary got ${canary.hits}`);
  const { parseGatewayConfig } = await import('../../src/gateway/config.js');
  await gateway.reload(parseGatewayConfig({ listeners: [{ port: 0 }], ...config(50) }));
  const before = canary.hits;
  await load(total, 8, async () => void (await call(agent, gateway.ports[0]!, '/')));
  assert.ok(Math.abs(canary.hits - before - 500) <= 80, `canary got ${canary.hits - before} after reload`);
});

test('rate limits per API key answer 429 with Retry-After and the RateLimit fields', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({
    ...simpleConfig([backend.address]),
    rateLimits: [{ name: 'per-key', descriptor: { header: 'x-api-key' }, limit: 3, windowMs: 60_000 }],
  });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const port = gateway.ports[0]!;
  const replies = [];
  for (let index = 0; index < 4; index++) replies.push(await call(agent, port, '/', { headers: { 'x-api-key': 'k1' } }));
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 429]);
  assert.equal(replies[0]!.headers.ratelimit, '"per-key";r=2;t=0');
  assert.equal(replies[0]!.headers['ratelimit-policy'], '"per-key";q=3;w=60');
  const refused = replies[3]!;
  assert.equal(refused.headers['keel-reject-reason'], 'rate-limited');
  assert.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60);
  assert.match(String(refused.headers.ratelimit), /^"per-key";r=0;t=\d+$/);
  assert.equal((await call(agent, port, '/', { headers: { 'x-api-key': 'k2' } })).status, 200, 'another key has its own bucket');
  const metrics = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(metrics, /keel_gateway_rate_limited_total\{rule="per-key"\} 1/);
  assert.match(metrics, /keel_gateway_rejections_total\{reason="rate-limited",criticality="CRITICAL"\} 1/);
});

test('hop-by-hop headers, those the Connection header names, and a client\'s x-forwarded-client-cert are not forwarded', () => {
  const headers = { connection: 'close, x-private', 'x-private': '1', 'keep-alive': 'timeout=5', te: 'trailers', host: 'h', accept: '*/*', 'x-forwarded-client-cert': 'Hash=00;Subject="CN=admin"' };
  const out = upstreamRequestHeaders(headers, '10.0.0.9', { 'keel-deadline': '100' });
  assert.deepEqual(out, { host: 'h', accept: '*/*', 'x-forwarded-for': '10.0.0.9', 'x-forwarded-proto': 'http', via: '1.1 keel-gateway', 'keel-deadline': '100' });
  const verified = upstreamRequestHeaders(headers, '10.0.0.9', {}, false, { encrypted: true, forwardedClientCert: 'Hash=ab;Subject="CN=alice"' });
  assert.equal(verified['x-forwarded-client-cert'], 'Hash=ab;Subject="CN=alice"', 'only the identity the listener verified');
  assert.equal(verified['x-forwarded-proto'], 'https');
});

test('request bodies over the limit are refused with 413, by content-length or while streaming', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), limits: { maxRequestBodyBytes: 1_000 } });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const port = gateway.ports[0]!;
  const byLength = await call(agent, port, '/', { method: 'POST', body: 'x'.repeat(2_000) });
  assert.equal(byLength.status, 413);
  assert.equal(byLength.headers['keel-reject-reason'], 'request-too-large');
  const { request } = await import('undici');
  const chunks = async function* () {
    for (let index = 0; index < 10; index++) yield Buffer.alloc(500, 120);
  };
  const streamed = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent, method: 'POST', body: Readable.from(chunks()) });
  await streamed.body.dump();
  assert.equal(streamed.statusCode, 413);
  assert.equal((await call(agent, port, '/', { method: 'POST', body: 'small' })).status, 200);
});

test('Envoy-style upstream limits answer a fast 503 with the reason; a slow upstream gets the per-try timeout', async (t) => {
  const release: Array<() => void> = [];
  const backend = await startBackend('slow', (request, response) => {
    request.resume();
    release.push(() => response.end('late'));
  });
  const gateway = await startGateway(simpleConfig([backend.address], { circuitBreakers: { maxRequests: 2 } }, { perTryTimeoutMs: 200, retry: { maxAttempts: 1 } }));
  const agent = new Agent({ connections: 10 });
  t.after(async () => {
    for (const end of release) end();
    await closeAll(agent, gateway, backend);
  });
  const port = gateway.ports[0]!;
  const first = [call(agent, port, '/'), call(agent, port, '/')];
  while (backend.hits < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const overflow = await call(agent, port, '/');
  assert.equal(overflow.status, 503);
  assert.equal(overflow.headers['keel-reject-reason'], 'circuit-open');
  const timedOut = await Promise.all(first);
  assert.deepEqual(timedOut.map((r) => [r.status, r.headers['keel-reject-reason']]), [[504, 'upstream-timeout'], [504, 'upstream-timeout']]);
});

test('an endpoint set to drain by reload takes no new requests while its in-flight ones finish', async (t) => {
  let releaseSlow: (() => void) | undefined;
  const draining = await startBackend('draining', (request, response) => {
    request.resume();
    if (request.url === '/slow') releaseSlow = () => response.end('slow-done');
    else response.end('draining');
  });
  const other = await startBackend('other');
  const { parseGatewayConfig } = await import('../../src/gateway/config.js');
  const endpoints = (drain: boolean) => [{ address: draining.address, drain }, { address: other.address }];
  const config = (drain: boolean) => ({ routes: [{ name: 'all', cluster: 'app' }], clusters: { app: { endpoints: endpoints(drain), balancer: 'round-robin' } } });
  const gateway = await startGateway(config(false));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, draining, other));
  const port = gateway.ports[0]!;
  const slow = call(agent, port, '/slow');
  while (releaseSlow === undefined) {
    await call(agent, port, '/slow-other');
    if (releaseSlow === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await gateway.reload(parseGatewayConfig({ listeners: [{ port: 0 }], ...config(true) }));
  const before = draining.hits;
  for (let index = 0; index < 10; index++) assert.equal((await call(agent, port, '/')).body, 'other');
  assert.equal(draining.hits, before);
  releaseSlow();
  assert.equal((await slow).body, 'slow-done');
});

test('ring hash on a header keeps a key on one endpoint', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name)));
  const gateway = await startGateway(simpleConfig(backends.map((b) => b.address), { balancer: 'ring-hash', hashHeader: 'x-user' }));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backends));
  const port = gateway.ports[0]!;
  const seen = new Map<string, Set<string>>();
  for (let index = 0; index < 60; index++) {
    const user = `user-${index % 6}`;
    const reply = await call(agent, port, '/', { headers: { 'x-user': user } });
    seen.set(user, (seen.get(user) ?? new Set()).add(reply.body));
  }
  for (const [user, names] of seen) assert.equal(names.size, 1, `${user} went to ${[...names].join(',')}`);
});
