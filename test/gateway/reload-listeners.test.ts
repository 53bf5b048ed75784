import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectH2 } from 'node:http2';
import { connect, createServer } from 'node:net';
import { Agent } from 'undici';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { call, closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';

/** Reloads that change listeners: new ones bound first, dropped ones drained, a port that cannot be bound refuses the whole reload. */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

test('a reload moves the listener: in-flight requests on the old port finish, the new port serves, the old one refuses', async (t) => {
  const backend = await startBackend('slow', (request, response) => {
    request.resume();
    setTimeout(() => response.end('done'), 200);
  });
  const [oldPort, newPort, h2Port] = (await freeLoopbackPorts(3)) as [number, number, number];
  const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: oldPort }] });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));

  const inflight = Array.from({ length: 10 }, () => call(agent, oldPort, '/'));
  while (backend.hits < 10) await sleep(5);
  await gateway.reload(parseGatewayConfig({ ...simpleConfig([backend.address]), listeners: [{ port: newPort }, { port: h2Port, protocol: 'h2c' }] }));
  assert.deepEqual(gateway.ports, [newPort, h2Port]);
  assert.deepEqual((await Promise.all(inflight)).map((reply) => reply.status), Array(10).fill(200), 'requests in flight on the dropped listener finish');
  assert.equal((await call(agent, newPort, '/')).body, 'done');
  // The kept-alive connections to the old port are closed once idle, and it accepts no new ones.
  for (let tries = 0; !(await refused(oldPort)); tries++) {
    assert.ok(tries < 100, 'the dropped listener still accepts connections');
    await sleep(20);
  }
  const session = connectH2(`http://127.0.0.1:${h2Port}`);
  t.after(() => session.close());
  const status = await new Promise<number>((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': '/' });
    stream.on('response', (headers) => resolve(Number(headers[':status'])));
    stream.on('error', reject);
    stream.resume();
  });
  assert.equal(status, 200, 'the h2c listener added by the reload serves');
});

test('a reload whose new listener cannot bind changes nothing: old listener, old routes, and a typed error', async (t) => {
  const first = await startBackend('first');
  const second = await startBackend('second');
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const taken = (squatter.address() as { port: number }).port;
  const gateway = await startGateway(simpleConfig([first.address]));
  const agent = new Agent();
  t.after(async () => {
    await closeAll(agent, gateway, first, second);
    squatter.close();
  });
  const port = gateway.ports[0]!;
  await assert.rejects(
    gateway.reload(parseGatewayConfig({ ...simpleConfig([second.address]), listeners: [{ port: 0 }, { port: taken }] })),
    (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_LISTENER_UNAVAILABLE' && error.message.includes(`127.0.0.1:${taken}`),
  );
  assert.deepEqual(gateway.ports, [port]);
  assert.equal((await call(agent, port, '/')).body, 'first', 'the routes were not swapped');
  const metrics = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(metrics, /keel_gateway_config_reloads_total\{result="error"\} 1/);
  // Without the squatter's port the same reload goes through, keeping the port-0 listener (same spec) as it is.
  await gateway.reload(parseGatewayConfig({ ...simpleConfig([second.address]), listeners: [{ port: 0 }] }));
  assert.deepEqual(gateway.ports, [port]);
  assert.equal((await call(agent, port, '/')).body, 'second');
});

test('a kept listener takes the reloaded connection limits', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway(simpleConfig([backend.address]));
  t.after(() => closeAll(gateway, backend));
  const port = gateway.ports[0]!;
  await gateway.reload(parseGatewayConfig({ ...simpleConfig([backend.address]), listeners: [{ port: 0 }], limits: { maxConnections: 1 } }));
  assert.deepEqual(gateway.ports, [port]);
  const held = connect(port, '127.0.0.1');
  held.on('error', () => {});
  await new Promise<void>((resolve) => held.once('connect', () => resolve()));
  t.after(() => held.destroy());
  await sleep(50); // the server counts the first connection before it sees the second
  const second = connect(port, '127.0.0.1');
  second.on('error', () => {});
  second.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let answered = '';
  second.on('data', (chunk: Buffer) => (answered += chunk.toString()));
  await new Promise<void>((resolve) => second.once('close', () => resolve()));
  assert.equal(answered, '', 'the connection over maxConnections was closed unanswered');
});

test('two listeners on the same host and port are a config error', () => {
  assert.throws(
    () => parseGatewayConfig({ ...simpleConfig(['127.0.0.1:1']), listeners: [{ port: 8080 }, { port: 8080, protocol: 'h2c' }] }),
    (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_CONFIG_INVALID' && /listeners\.1\.port: another listener already uses 127\.0\.0\.1:8080/.test(error.message),
  );
});
