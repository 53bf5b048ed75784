import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { Toxiproxy, type ICreateToxicBody } from 'toxiproxy-node-client';
import { ToxiproxyServer } from '../../../src/chaos/toxiproxy/index.js';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { until } from '../fixtures/helpers.js';

/** An echo server on loopback: what the proxy stands in front of. */
async function echoServer(t: { after(fn: () => void): void }): Promise<string> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Sends `message` through host:port and resolves with what came back before the peer closed or `expectBytes` arrived, or with the socket error code. */
function roundTrip(address: string, message: string, expectBytes = Buffer.byteLength(message)): Promise<{ reply: string; error?: string; closed: boolean }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (Buffer.byteLength(reply) >= expectBytes) {
        socket.destroy();
        resolve({ reply, closed: false });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ reply, error: error.code ?? error.message, closed: true }));
    socket.on('close', () => resolve({ reply, closed: true }));
    socket.write(message);
  });
}

async function startApi(t: { after(fn: () => Promise<void>): void }): Promise<{ host: string; server: ToxiproxyServer }> {
  const server = new ToxiproxyServer();
  const address = await server.listen(0);
  t.after(() => server.close());
  return { host: `http://127.0.0.1:${address.port}`, server };
}

test('toxiproxy-node-client drives the proxy unchanged: latency, reset_peer, timeout, then recovery', { timeout: 60_000 }, async (t) => {
  const upstream = await echoServer(t);
  const { host } = await startApi(t);
  const toxiproxy = new Toxiproxy(host);
  assert.match(await toxiproxy.getVersion(), /^\d+\.\d+/);
  const proxy = await toxiproxy.createProxy({ name: 'echo', listen: '127.0.0.1:0', upstream });
  assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(proxy.listen, '127.0.0.1:0');
  assert.deepEqual(await roundTrip(proxy.listen, 'hello'), { reply: 'hello', closed: false });

  // Latency: a lower bound only (a slow machine only adds to it).
  const latency = await proxy.addToxic({ name: 'slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 600, jitter: 0 } } as ICreateToxicBody<unknown>);
  const started = performance.now();
  assert.equal((await roundTrip(proxy.listen, 'late')).reply, 'late');
  assert.ok(performance.now() - started >= 590, 'the reply waited for the latency toxic');
  assert.deepEqual(Object.keys(await toxiproxy.getAll()), ['echo']);
  assert.equal((await proxy.getToxic('slow')).attributes && ((await proxy.getToxic('slow')).attributes as { latency: number }).latency, 600);
  await latency.remove();

  // reset_peer with timeout 0: the client's connection is reset at once.
  const reset = await proxy.addToxic({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } } as ICreateToxicBody<unknown>);
  const resetResult = await roundTrip(proxy.listen, 'nope');
  assert.equal(resetResult.reply, '');
  assert.equal(resetResult.error, 'ECONNRESET');
  await reset.remove();

  // timeout: nothing gets through, and the connection closes after the timeout.
  const timeout = await proxy.addToxic({ name: 'blackhole', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 300 } } as ICreateToxicBody<unknown>);
  const timedOut = await roundTrip(proxy.listen, 'lost');
  assert.equal(timedOut.reply, '');
  assert.equal(timedOut.closed, true);
  await timeout.remove();

  // Recovery: with the toxics gone, traffic flows again.
  assert.deepEqual((await toxiproxy.get('echo')).toJson(), { name: 'echo', listen: proxy.listen, upstream, enabled: true });
  assert.deepEqual(await roundTrip(proxy.listen, 'back'), { reply: 'back', closed: false });

  // Disable closes the listener; reset re-enables every proxy and removes every toxic.
  await proxy.update({ enabled: false, listen: proxy.listen, upstream });
  assert.equal((await roundTrip(proxy.listen, 'x')).error, 'ECONNREFUSED');
  await proxy.addToxic({ name: 'slow2', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 10_000, jitter: 0 } } as ICreateToxicBody<unknown>);
  await toxiproxy.reset();
  assert.deepEqual(await roundTrip(proxy.listen, 'reset'), { reply: 'reset', closed: false });
  await proxy.remove();
  assert.deepEqual(await toxiproxy.getAll(), {});
});

test('slicer, bandwidth and limit_data shape the stream; toxicity 0 leaves connections alone', { timeout: 60_000 }, async (t) => {
  const upstream = await echoServer(t);
  const { host } = await startApi(t);
  const toxiproxy = new Toxiproxy(host);
  const proxy = await toxiproxy.createProxy({ name: 'shape', listen: '127.0.0.1:0', upstream });
  const payload = 'x'.repeat(4_000);
  const slicer = await proxy.addToxic({ name: 'slices', type: 'slicer', stream: 'downstream', toxicity: 1, attributes: { average_size: 100, size_variation: 50, delay: 100 } } as ICreateToxicBody<unknown>);
  assert.equal((await roundTrip(proxy.listen, payload)).reply, payload);
  await slicer.remove();
  const bandwidth = await proxy.addToxic({ name: 'narrow', type: 'bandwidth', stream: 'downstream', toxicity: 1, attributes: { rate: 8 } } as ICreateToxicBody<unknown>);
  const started = performance.now();
  assert.equal((await roundTrip(proxy.listen, payload)).reply, payload);
  assert.ok(performance.now() - started >= 400, '4000 bytes at 8 KB/s take about half a second at least');
  await bandwidth.remove();
  await proxy.addToxic({ name: 'cap', type: 'limit_data', stream: 'downstream', toxicity: 1, attributes: { bytes: 10 } } as ICreateToxicBody<unknown>);
  const capped = await roundTrip(proxy.listen, 'abcdefghijklmnopqrstuvwxyz');
  assert.equal(capped.reply, 'abcdefghij');
  assert.equal(capped.closed, true);
  await (await proxy.getToxic('cap')).remove();
  await proxy.addToxic({ name: 'never', type: 'reset_peer', stream: 'downstream', toxicity: 0, attributes: { timeout: 0 } } as ICreateToxicBody<unknown>);
  assert.deepEqual(await roundTrip(proxy.listen, 'fine'), { reply: 'fine', closed: false });
});

test('the API answers errors in Toxiproxy\'s shape', async (t) => {
  const upstream = await echoServer(t);
  const { host } = await startApi(t);
  const post = (path: string, body: unknown) => fetch(`${host}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal((await post('/proxies', { name: 'a', listen: '127.0.0.1:0', upstream })).status, 201);
  const duplicate = await post('/proxies', { name: 'a', listen: '127.0.0.1:0', upstream });
  assert.equal(duplicate.status, 409);
  assert.deepEqual(Object.keys((await duplicate.json()) as object).sort(), ['error', 'status']);
  assert.equal((await fetch(`${host}/proxies/missing`)).status, 404);
  assert.equal((await post('/proxies/a/toxics', { type: 'earthquake' })).status, 400);
  assert.equal((await post('/proxies/a/toxics', { type: 'latency', attributes: { latency: -1 } })).status, 400);
  const created = (await (await post('/proxies/a/toxics', { type: 'latency', attributes: { latency: 5 } })).json()) as { name: string; stream: string; toxicity: number };
  assert.deepEqual([created.name, created.stream, created.toxicity], ['latency_downstream', 'downstream', 1]);
  const updated = (await (await post('/proxies/a/toxics/latency_downstream', { attributes: { latency: 7 } })).json()) as { attributes: { latency: number; jitter: number } };
  assert.deepEqual(updated.attributes, { latency: 7, jitter: 0 });
  assert.equal((await fetch(`${host}/proxies/a/toxics/latency_downstream`, { method: 'DELETE' })).status, 204);
  assert.deepEqual(await (await fetch(`${host}/proxies/a/toxics`)).json(), []);
});

test('keel chaos proxy --listen serves the API', { timeout: 60_000 }, async (t) => {
  const [port] = await freeLoopbackPorts(1);
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../../src/cli/main.ts'), 'chaos', 'proxy', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  await until(async () => (await fetch(`http://127.0.0.1:${port}/version`).then((r) => r.ok, () => false)), 30_000, 'the proxy API');
  const upstream = await echoServer(t);
  const proxy = await new Toxiproxy(`http://127.0.0.1:${port}`).createProxy({ name: 'cli', listen: '127.0.0.1:0', upstream });
  assert.deepEqual(await roundTrip(proxy.listen, 'via cli'), { reply: 'via cli', closed: false });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('GET /metrics counts bytes per proxy and direction with Toxiproxy\'s names and labels; disabling a proxy (Toxiproxy\'s "down") refuses connections until it is enabled again', { timeout: 60_000 }, async (t) => {
  const upstream = await echoServer(t);
  const { host } = await startApi(t);
  const toxiproxy = new Toxiproxy(host);
  const proxy = await toxiproxy.createProxy({ name: 'counted', listen: '127.0.0.1:0', upstream });
  const message = 'x'.repeat(1_000);
  assert.equal((await roundTrip(proxy.listen, message)).reply, message);
  const series = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`${host}/metrics`)).text();
    const found = new Map<string, number>();
    for (const match of text.matchAll(/^(toxiproxy_proxy_\w+)\{direction="(\w+)",listener="([^"]+)",proxy="counted",upstream="([^"]+)"\} (\d+)$/gm)) {
      assert.equal(match[3], proxy.listen);
      assert.equal(match[4], upstream);
      found.set(`${match[1]} ${match[2]}`, Number(match[5]));
    }
    return found;
  };
  // The echo's answer is counted once it has left the proxy, which may be just after the client read it.
  await until(async () => (await series()).get('toxiproxy_proxy_sent_bytes_total downstream') === 1_000, 10_000, 'the downstream bytes to be counted');
  assert.deepEqual(Object.fromEntries(await series()), {
    'toxiproxy_proxy_received_bytes_total downstream': 1_000,
    'toxiproxy_proxy_received_bytes_total upstream': 1_000,
    'toxiproxy_proxy_sent_bytes_total downstream': 1_000,
    'toxiproxy_proxy_sent_bytes_total upstream': 1_000,
  });

  // "down": Toxiproxy's clients take a proxy down by disabling it.
  await proxy.update({ enabled: false, listen: proxy.listen, upstream });
  assert.equal((await roundTrip(proxy.listen, 'refused')).error, 'ECONNREFUSED');
  await proxy.update({ enabled: true, listen: proxy.listen, upstream });
  assert.equal((await roundTrip(proxy.listen, 'back')).reply, 'back');
});
