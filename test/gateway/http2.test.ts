import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { Agent } from 'undici';
import { sniffProtocol } from '../../src/gateway/listeners.js';
import { call, closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';
import { eventually } from '../node/cluster-harness.js';

/** An h2c listener: HTTP/2 clients (prior knowledge) through the gateway to HTTP/1.1 backends. */

interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function h2call(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => (responseHeaders = received));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

test('an h2c listener proxies GET and POST (multiplexed on one connection) to HTTP/1.1 backends', async (t) => {
  const backend = await startBackend('echo', (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(200, { 'x-seen': JSON.stringify(request.headers), connection: 'keep-alive', 'keep-alive': 'timeout=9' });
      response.end(`${request.method} ${request.url} ${Buffer.concat(chunks).length}`);
    });
  });
  const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, protocol: 'h2c' }] });
  const session = connect(`http://127.0.0.1:${gateway.ports[0]}`);
  t.after(async () => {
    session.close();
    await closeAll(gateway, backend);
  });
  const replies = await Promise.all([
    h2call(session, { ':method': 'GET', ':path': '/a?q=1' }),
    h2call(session, { ':method': 'POST', ':path': '/upload', 'content-type': 'text/plain' }, 'y'.repeat(100_000)),
    h2call(session, { ':method': 'GET', ':path': '/b', 'x-forwarded-for': '10.0.0.9' }),
  ]);
  assert.deepEqual(replies.map((reply) => reply.status), [200, 200, 200]);
  assert.equal(replies[0]!.body, 'GET /a?q=1 0');
  assert.equal(replies[1]!.body, 'POST /upload 100000');
  const seen = JSON.parse(replies[2]!.headers['x-seen'] as string) as Record<string, string>;
  assert.equal(seen.host, `127.0.0.1:${gateway.ports[0]}`, 'the :authority becomes Host upstream');
  assert.equal(seen['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
  assert.equal(Object.keys(seen).some((name) => name.startsWith(':')), false, 'no pseudo-headers upstream');
  assert.equal(replies[0]!.headers['keep-alive'], undefined, 'connection headers are not sent over HTTP/2');
  assert.equal(replies[0]!.headers.via, '1.1 keel-gateway');
});

test('rejections over h2c carry the status, the reason header and Retry-After', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({
    ...simpleConfig([backend.address]),
    listeners: [{ port: 0, protocol: 'h2c' }],
    rateLimits: [{ name: 'tiny', descriptor: { global: true }, algorithm: 'token-bucket', limit: 1, windowMs: 3_600_000 }],
  });
  const session = connect(`http://127.0.0.1:${gateway.ports[0]}`);
  t.after(async () => {
    session.close();
    await closeAll(gateway, backend);
  });
  const first = await h2call(session, { ':method': 'GET', ':path': '/' });
  const second = await h2call(session, { ':method': 'GET', ':path': '/' });
  assert.equal(first.status, 200);
  assert.equal(second.status, 429);
  assert.equal(second.headers['keel-reject-reason'], 'rate-limited');
  assert.ok(Number(second.headers['retry-after']) >= 1);
  assert.ok(second.headers.ratelimit !== undefined || second.headers['ratelimit-policy'] !== undefined, 'the IETF RateLimit fields');
});

test('draining an h2c listener sends GOAWAY and lets the in-flight request finish', async (t) => {
  let release: () => void = () => {};
  const backend = await startBackend('slow', (request, response) => {
    request.resume();
    release = () => response.end('done');
    response.writeHead(200);
  });
  const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, protocol: 'h2c' }] });
  const session = connect(`http://127.0.0.1:${gateway.ports[0]}`);
  t.after(async () => {
    session.destroy();
    await closeAll(backend);
  });
  let goaway = false;
  session.on('goaway', () => (goaway = true));
  const inflight = h2call(session, { ':method': 'GET', ':path': '/slow' });
  // Conditions, not a fixed number of polls: on a busy machine the request may take seconds to reach the backend,
  // and draining before it did would leave release() a no-op and the request hanging until the test timeout.
  await eventually(() => backend.hits > 0, 30_000, 'the request to reach the backend');
  const drained = gateway.drain();
  await eventually(() => goaway, 30_000, 'GOAWAY from the draining listener');
  release();
  const reply = await inflight;
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'done');
  await drained;
});

test('sniffProtocol: the whole HTTP/2 preface is h2c, any divergence is HTTP/1.1, a proper prefix waits', () => {
  const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
  assert.equal(sniffProtocol(Buffer.from(preface)), 'h2c');
  assert.equal(sniffProtocol(Buffer.from(`${preface}\0\0\0\x04`)), 'h2c');
  for (let length = 0; length < preface.length; length++) assert.equal(sniffProtocol(Buffer.from(preface.slice(0, length))), undefined, `prefix of ${length}`);
  assert.equal(sniffProtocol(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  assert.equal(sniffProtocol(Buffer.from('P')), undefined);
  assert.equal(sniffProtocol(Buffer.from('POST')), 'http1');
  assert.equal(sniffProtocol(Buffer.from('PRI * HTTP/1.1\r\n')), 'http1');
});

test('an auto listener serves HTTP/1.1 and h2c on one port', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, protocol: 'auto' }] });
  const port = gateway.ports[0]!;
  const session = connect(`http://127.0.0.1:${port}`);
  const agent = new Agent();
  t.after(async () => {
    session.close();
    await closeAll(agent, gateway, backend);
  });
  const h2 = await Promise.all(Array.from({ length: 5 }, () => h2call(session, { ':method': 'GET', ':path': '/' })));
  assert.deepEqual(h2.map((reply) => `${reply.status} ${reply.body}`), Array(5).fill('200 a'));
  for (let index = 0; index < 5; index++) assert.equal((await call(agent, port, '/')).body, 'a', 'HTTP/1.1 keep-alive requests');
  // A request line that starts like the preface ("P") and then leaves it, sent in pieces.
  const raw = netConnect(port, '127.0.0.1');
  let answer = '';
  raw.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  raw.write('P');
  await new Promise((resolve) => setTimeout(resolve, 50));
  raw.write('OST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
  await new Promise<void>((resolve) => raw.once('close', () => resolve()));
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.equal(backend.hits, 11);
});

test('an auto listener closes connections that say too little to pick a protocol, and HTTP/1.1 slowloris ones', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, protocol: 'auto' }], limits: { headersTimeoutMs: 300 } });
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const port = gateway.ports[0]!;
  // Listening for the close from the start: the gateway may close these while the requests below run (a loaded
  // machine), and a close already past would never reach a listener attached after them.
  const connectWatched = (): { socket: Socket; closed: Promise<void> } => {
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    return { socket, closed: new Promise<void>((resolve) => socket.once('close', () => resolve())) };
  };
  const silent = connectWatched();
  const undecided = connectWatched();
  undecided.socket.write('PRI * HTTP'); // a proper prefix of the preface, then nothing
  const slow = connectWatched();
  slow.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => {
    if (!slow.socket.destroyed) slow.socket.write('X-More: 1\r\n');
  }, 50);
  t.after(() => clearInterval(drip));
  for (let index = 0; index < 10; index++) assert.equal((await call(agent, port, '/')).status, 200);
  await Promise.all([silent.closed, undecided.closed, slow.closed]);
});
