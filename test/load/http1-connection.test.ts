import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { headersOf, Http1Connection, RequestFailedError, scanResponseHead } from '../../src/load/http1-connection.js';

// keel load's raw HTTP/1.1 connection against real sockets: servers here write exact bytes, so each framing
// and failure shape is the one under test (no HTTP library in between).

async function rawServer(onRequest: (socket: Socket, request: string, count: number) => void): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    let buffered = '';
    let count = 0;
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end + 4);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        onRequest(socket, request, count++);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, sockets };
}

const GET = (port: number): string => `GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`;

test('length, chunked (split at every byte), HEAD and close-delimited bodies; one keep-alive socket for all', async () => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n';
  const { server, port, sockets } = await rawServer((socket, request, count) => {
    if (request.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n');
    else if (request.startsWith('POST')) socket.write(`HTTP/1.1 201 Created\r\nContent-Length: ${request.length}\r\n\r\n${request}`);
    else if (count === 1) {
      // Byte by byte: every split point of the head and the chunked framing.
      let at = 0;
      const drip = (): void => {
        if (at < chunked.length) socket.write(chunked[at++]!, () => setImmediate(drip));
      };
      drip();
    } else if (request.includes('x-last')) socket.end('HTTP/1.1 200 OK\r\n\r\nuntil close');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const connection = new Http1Connection({ host: '127.0.0.1', port });
  try {
    const first = await connection.request('GET', GET(port), undefined, 10_000);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'ok');
    const second = await connection.request('GET', GET(port), undefined, 10_000);
    assert.equal(second.body, 'hello world');
    assert.equal(second.bodyBytes, 11);
    assert.deepEqual(headersOf(second.head), { 'transfer-encoding': 'chunked', 'x-a': '1, 2' });
    const head = await connection.request('HEAD', `HEAD / HTTP/1.1\r\nhost: x\r\n\r\n`, undefined, 10_000);
    assert.equal(head.body, '');
    const body = Buffer.from('{"a":1}');
    const post = await connection.request('POST', `POST / HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`, body, 10_000);
    assert.equal(post.status, 201);
    assert.ok(post.body.endsWith('{"a":1}'));
    assert.equal(sockets.length, 1, 'one keep-alive connection for every request so far');
    const last = await connection.request('GET', `GET / HTTP/1.1\r\nhost: x\r\nx-last: 1\r\n\r\n`, undefined, 10_000);
    assert.equal(last.body, 'until close');
  } finally {
    connection.destroy();
    server.close();
  }
});

test('a reused connection the server drops before answering: an idempotent request is sent again once, a POST fails', async () => {
  // The second request on any connection is dropped unanswered: what a client sees when its request crosses
  // the server's keep-alive close on the wire.
  const { server, port, sockets } = await rawServer((socket, _request, count) => {
    if (count === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    else socket.destroy();
  });
  const connection = new Http1Connection({ host: '127.0.0.1', port });
  try {
    assert.equal((await connection.request('GET', GET(port), undefined, 10_000)).body, 'ok');
    assert.equal((await connection.request('GET', GET(port), undefined, 10_000)).body, 'ok');
    assert.equal(sockets.length, 2, 'the retry went over a fresh connection');
    const post = `POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`;
    await assert.rejects(connection.request('POST', post, undefined, 10_000), (error: RequestFailedError) => error.code === 'ECONNRESET');
    assert.equal(sockets.length, 2, 'a POST is not repeated');
  } finally {
    connection.destroy();
    server.close();
  }
});

test('refused, reset mid-body, malformed and slow responses fail with a counted code, never a throw out of the socket', async (t) => {
  const refused = new Http1Connection({ host: '127.0.0.1', port: 1 });
  await assert.rejects(refused.request('GET', GET(1), undefined, 5_000), (error: RequestFailedError) => error.code === 'ECONNREFUSED');

  const { server, port } = await rawServer((socket, request) => {
    if (request.includes('x-reset')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    else if (request.includes('x-garbage')) socket.write('HTTP/1.1 2xx nope\r\n\r\n');
    else if (request.includes('x-smuggle')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    else if (request.includes('x-bare-lf')) socket.write('HTTP/1.1 200 OK\nContent-Length: 0\n\n');
    // x-slow: never answers.
  });
  t.after(() => server.close());
  for (const [header, code] of [['x-reset', 'ECONNRESET'], ['x-garbage', 'HPE_INVALID'], ['x-smuggle', 'HPE_INVALID'], ['x-bare-lf', 'HPE_INVALID'], ['x-slow', 'ETIMEDOUT']] as const) {
    const connection = new Http1Connection({ host: '127.0.0.1', port });
    await assert.rejects(connection.request('GET', `GET / HTTP/1.1\r\nhost: x\r\n${header}: 1\r\n\r\n`, undefined, 300), (error: RequestFailedError) => {
      assert.equal(error.code, code, `${header}: ${error.message}`);
      return true;
    });
    connection.destroy();
  }
});

test('scanResponseHead reads framing as RFC 9112 says and refuses what a proxy would not guess', () => {
  const scan = (head: string, method = 'GET') => {
    const bytes = Buffer.from(head, 'latin1');
    return scanResponseHead(bytes, bytes.length, method);
  };
  assert.deepEqual(scan('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), { status: 200, framing: 5, close: false });
  assert.deepEqual(scan('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'), { status: 204, framing: 0, close: false });
  assert.deepEqual(scan('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD'), { status: 200, framing: 0, close: false });
  assert.deepEqual(scan('HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n'), { status: 200, framing: 5, close: true });
  assert.deepEqual(scan('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\n'), { status: 200, framing: 5, close: false });
  assert.deepEqual(scan('HTTP/1.1 200 OK\r\nconnection: upgrade, Close\r\nTRANSFER-ENCODING: gzip, chunked\r\n\r\n'), { status: 200, framing: -1, close: true });
  assert.deepEqual(scan('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), { status: 200, framing: -2, close: true });
  assert.deepEqual(scan('HTTP/1.1 200\r\n\r\n'), { status: 200, framing: -2, close: true });
  assert.throws(() => scan('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'), /more than one Content-Length/);
  assert.throws(() => scan('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), /not a number/);
  assert.throws(() => scan('HTTP/2 200 OK\r\n\r\n'), /status line/);
  assert.throws(() => scan('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), /HTTP\/1\.0/);
  assert.throws(() => scan('HTTP/1.1 099 Low\r\n\r\n'), /status line/);
});
