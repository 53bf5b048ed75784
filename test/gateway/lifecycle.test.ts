import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Agent } from 'undici';
import { FakeClock, seededRandom } from '../../src/resilience/index.js';
import { parseGatewayConfig, defaults } from '../../src/gateway/config.js';
import { ActiveHealthChecker } from '../../src/gateway/health/active.js';
import { Cluster } from '../../src/gateway/cluster.js';
import { call, closeAll, load, simpleConfig, startBackend, startGateway } from './helpers.js';

test('slowloris: a connection that never finishes its headers is closed while others are served', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), limits: { headersTimeoutMs: 300 } });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const port = gateway.ports[0]!;
  const slow = connect(port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
  slow.on('error', () => {});
  slow.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
  const drip = setInterval(() => slow.write('X-More: 1\r\n'), 50);
  t.after(() => clearInterval(drip));
  for (let index = 0; index < 20; index++) assert.equal((await call(agent, port, '/')).status, 200);
  await closed;
  clearInterval(drip);
});

test('a wall-clock step neither cuts idle keep-alive connections nor the ones sending their head (the sweeps use a monotonic clock)', async (t) => {
  const backend = await startBackend('a');
  // Sweeps every second (a quarter of the header timeout, at most 1 s).
  const gateway = await startGateway({ ...simpleConfig([backend.address]), limits: { headersTimeoutMs: 6_000, keepAliveTimeoutMs: 5_000 } });
  const realNow = Date.now;
  t.after(async () => {
    Date.now = realNow;
    await closeAll(gateway, backend);
  });
  const socket = connect(gateway.ports[0]!, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const answered = async (count: number): Promise<void> => {
    while ((received.match(/HTTP\/1\.1 200/g) ?? []).length < count) {
      if (socket.destroyed) assert.fail(`the gateway closed the connection: ${received}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await answered(1);
  // Half a head in flight (for well under its 6 s), one idle keep-alive connection: the wall clock jumps an hour ahead for two sweeps.
  const idle = connect(gateway.ports[0]!, '127.0.0.1');
  idle.on('error', () => {});
  await new Promise((resolve) => idle.once('connect', resolve));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  Date.now = () => realNow() + 3_600_000;
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  Date.now = realNow;
  socket.write('\r\n');
  await answered(2);
  assert.equal(idle.destroyed, false, 'the idle connection was cut');
  idle.destroy();
  socket.destroy();
});

test('connections beyond the per-client-IP limit are closed at once', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), limits: { maxConnectionsPerClientIp: 2 } });
  t.after(() => closeAll(gateway, backend));
  const sockets = Array.from({ length: 3 }, () => connect(gateway.ports[0]!, '127.0.0.1'));
  for (const socket of sockets) socket.on('error', () => {});
  await new Promise<void>((resolve) => sockets[2]!.once('close', () => resolve()));
  for (const socket of sockets) socket.destroy();
});

test('draining the gateway lets every in-flight request finish', async (t) => {
  const backend = await startBackend('slow', (request, response) => {
    request.resume();
    setTimeout(() => response.end('done'), 150);
  });
  const gateway = await startGateway(simpleConfig([backend.address]));
  const agent = new Agent();
  t.after(() => closeAll(agent, backend));
  const port = gateway.ports[0]!;
  const inflight = Array.from({ length: 20 }, () => call(agent, port, '/'));
  while (backend.hits < 20) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((await call(agent, gateway.adminPort!, '/readyz')).status, 200);
  const drained = gateway.drain();
  assert.equal(gateway.ready, false);
  const replies = await Promise.all(inflight);
  assert.deepEqual(replies.map((r) => r.status), Array(20).fill(200));
  await drained;
  await assert.rejects(call(new Agent(), port, '/'));
});

test('reload under load drops no request, and in-flight requests finish on the old table', async (t) => {
  const first = await startBackend('first');
  const second = await startBackend('second');
  const gateway = await startGateway(simpleConfig([first.address]));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, first, second));
  const failures: number[] = [];
  await load(400, 8, async (index) => {
    if (index % 40 === 0) {
      const target = (index / 40) % 2 === 0 ? second : first;
      await gateway.reload(parseGatewayConfig({ listeners: [{ port: 0 }], ...simpleConfig([target.address]) }));
    }
    const reply = await call(agent, gateway.ports[0]!, '/');
    if (reply.status !== 200) failures.push(reply.status);
  });
  assert.deepEqual(failures, []);
  assert.ok(first.hits > 50 && second.hits > 50, `${first.hits} ${second.hits}`);
  const metrics = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(metrics, /keel_gateway_config_reloads_total\{result="ok"\} 10/);
});

test('priority failover across regions: when region a is down, traffic moves to region b', async (t) => {
  const regionA = await Promise.all(['a1', 'a2'].map((name) => startBackend(name)));
  const regionB = await Promise.all(['b1', 'b2'].map((name) => startBackend(name)));
  const endpoints = [...regionA.map((b) => ({ address: b.address, priority: 0 })), ...regionB.map((b) => ({ address: b.address, priority: 1 }))];
  const gateway = await startGateway({
    routes: [{ name: 'all', cluster: 'app' }],
    clusters: { app: { endpoints, healthCheck: { path: '/', intervalMs: 30, jitter: 0, timeoutMs: 200, unhealthyThreshold: 1, healthyThreshold: 1 } } },
  });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, regionB));
  // Counted from the answers, not the backends' hit counters: those include the 30 ms health checks.
  let bBefore = 0;
  for (let index = 0; index < 20; index++) if (/^b/.test((await call(agent, gateway.ports[0]!, '/')).body)) bBefore++;
  await Promise.all(regionA.map((b) => b.close()));
  const describe = () => JSON.parse(JSON.stringify(gateway.describe())) as { clusters: Array<{ healthyFractions: number[] }> };
  while (describe().clusters[0]!.healthyFractions[0] !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
  const served = [];
  for (let index = 0; index < 20; index++) served.push((await call(agent, gateway.ports[0]!, '/')).body);
  assert.ok(served.every((name) => name === 'b1' || name === 'b2'), served.join(','));
  assert.ok(bBefore < 20 - 10, 'priority 1 was idle-ish while priority 0 was healthy');
});

test('zone preference: the gateway zone first, a client zone header overrides', async (t) => {
  const backends = await Promise.all(['a1', 'b1'].map((name) => startBackend(name)));
  const gateway = await startGateway({
    zone: 'a',
    routes: [{ name: 'all', cluster: 'app' }],
    clusters: { app: { endpoints: [{ address: backends[0]!.address, zone: 'a' }, { address: backends[1]!.address, zone: 'b' }] } },
  });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backends));
  for (let index = 0; index < 20; index++) assert.equal((await call(agent, gateway.ports[0]!, '/')).body, 'a1');
  for (let index = 0; index < 20; index++) assert.equal((await call(agent, gateway.ports[0]!, '/', { headers: { 'keel-client-zone': 'b' } })).body, 'b1');
});

test('active health checks: unhealthy after the threshold, recovery starts slow start', async () => {
  const clock = new FakeClock(0);
  const config = parseGatewayConfig({ listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }], clusters: { c: { endpoints: [{ address: 'x:1', weight: 10 }], slowStartMs: 10_000 } } });
  const cluster = new Cluster('c', config.clusters.c!, seededRandom(1), 0);
  let up = false;
  const transitions: boolean[] = [];
  const checker = new ActiveHealthChecker({ ...defaults.healthCheck(), intervalMs: 1_000, jitter: 0, unhealthyThreshold: 2, healthyThreshold: 2 }, cluster.endpoints, clock, seededRandom(2), async () => up, (change) => transitions.push(change.healthy));
  checker.start();
  await clock.advance(3_000);
  const endpoint = cluster.endpoints[0]!;
  assert.equal(endpoint.healthy, false);
  up = true;
  await clock.advance(2_000);
  assert.equal(endpoint.healthy, true);
  assert.deepEqual(transitions, [false, true]);
  const recoveredAt = endpoint.eligibleSinceMs;
  assert.ok(recoveredAt > 3_000);
  assert.equal(endpoint.effectiveWeight(recoveredAt, 10_000, 10), 1);
  assert.equal(endpoint.effectiveWeight(recoveredAt + 5_000, 10_000, 10), 5);
  checker.stop();
});

test('an endpoint that recovers its health check comes back slowly (slow start); endpoints present at start do not', async (t) => {
  let healthy = true;
  const recovering = await startBackend('recovering', (request, response) => {
    request.resume();
    if (request.url === '/health') response.writeHead(healthy ? 200 : 503);
    response.end('recovering');
  });
  const steady = await startBackend('steady');
  const gateway = await startGateway({
    routes: [{ name: 'all', cluster: 'app' }],
    clusters: {
      app: {
        endpoints: [{ address: recovering.address }, { address: steady.address }], slowStartMs: 60_000, slowStartMinWeightPercent: 5,
        healthCheck: { path: '/health', intervalMs: 20, jitter: 0, timeoutMs: 500, unhealthyThreshold: 1, healthyThreshold: 1 },
      },
    },
  });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, recovering, steady));
  const served = async (count: number) => {
    let toRecovering = 0;
    for (let index = 0; index < count; index++) if ((await call(agent, gateway.ports[0]!, '/')).body === 'recovering') toRecovering++;
    return toRecovering;
  };
  assert.equal(await served(20), 10, 'no slow start for the endpoints the cluster was created with');
  const state = () => (gateway.describe() as { clusters: Array<{ endpoints: Array<{ healthy: boolean }> }> }).clusters[0]!.endpoints[0]!.healthy;
  healthy = false;
  while (state()) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(await served(20), 0, 'unhealthy: no traffic');
  healthy = true;
  while (!state()) await new Promise((resolve) => setTimeout(resolve, 10));
  // a minute-long ramp starting at 5%: the first requests after recovery mostly go elsewhere
  assert.ok((await served(100)) <= 25, 'slow start keeps the recovered endpoint light');
});
