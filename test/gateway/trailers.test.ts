import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';

/** One request on its own connection through node:http; the response body and trailers once it ended. */
function send(port: number, options: { method?: string; headers?: Record<string, string>; body?: string[]; trailers?: Record<string, string> } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path: '/', method: options.method ?? 'GET', headers: options.headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, trailers: response.trailers }));
      response.once('error', reject);
    });
    request.once('error', reject);
    for (const chunk of options.body ?? []) request.write(chunk);
    if (options.trailers !== undefined) request.addTrailers(options.trailers);
    request.end();
  });
}

for (const engine of ['fast', 'node'] as const) {
  test(`trailers (${engine} engine): a chunked response's trailers reach the client; a HEAD is answered without them`, async (t) => {
    const backend = await startBackend('trailing', (request, response) => {
      request.resume();
      request.once('end', () => {
        if (request.method === 'HEAD') return response.end();
        response.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-count' });
        response.write('part one, ');
        response.write('part two');
        response.addTrailers({ 'x-checksum': 'abc123', 'x-count': '2' });
        response.end();
      });
    });
    const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, engine }] });
    t.after(() => closeAll(gateway, backend));
    const port = gateway.ports[0]!;
    const reply = await send(port);
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'part one, part two');
    assert.equal(reply.headers.trailer, 'x-checksum, x-count');
    assert.equal(reply.headers['transfer-encoding'], 'chunked');
    assert.deepEqual({ ...reply.trailers }, { 'x-checksum': 'abc123', 'x-count': '2' });
    const head = await send(port, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  test(`trailers (${engine} engine): a request's trailers reach the upstream`, async (t) => {
    let seen: { body: string; trailers: NodeJS.Dict<string>; declared: string | undefined } | undefined;
    const backend = await startBackend('reader', (request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.once('end', () => {
        seen = { body, trailers: { ...request.trailers }, declared: request.headers.trailer };
        response.end('ok');
      });
    });
    const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, engine }] });
    t.after(() => closeAll(gateway, backend));
    const reply = await send(gateway.ports[0]!, { method: 'POST', headers: { trailer: 'x-digest', 'transfer-encoding': 'chunked' }, body: ['abc', 'def'], trailers: { 'x-digest': 'sha-256=xyz' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(seen, { body: 'abcdef', trailers: { 'x-digest': 'sha-256=xyz' }, declared: 'x-digest' });
  });
}
