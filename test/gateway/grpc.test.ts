import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Server, ServerCredentials, credentials, Metadata, status, type ServiceError, type ServerUnaryCall, type sendUnaryData, type ServerWritableStream, type ServerDuplexStream } from '@grpc/grpc-js';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { grpcMessage } from '../../src/gateway/gateway.js';
import { closeAll, startGateway } from './helpers.js';

/**
 * gRPC through the gateway: an HTTP/2 client (grpc-js) to an h2c or auto
 * listener, an h2c cluster to a real grpc-js server. Messages are raw bytes
 * (identity serializers), so the test needs no .proto file.
 */

const identity = {
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
};
const service = {
  Unary: { path: '/keel.test.Echo/Unary', requestStream: false, responseStream: false, ...identity },
  Fail: { path: '/keel.test.Echo/Fail', requestStream: false, responseStream: false, ...identity },
  Count: { path: '/keel.test.Echo/Count', requestStream: false, responseStream: true, ...identity },
  Chat: { path: '/keel.test.Echo/Chat', requestStream: true, responseStream: true, ...identity },
};

async function startGrpcBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new Server();
  server.addService(service, {
    Unary: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, Buffer.from(`echo ${call.request.toString()} via ${String(call.metadata.get('via')[0] ?? '')}`)),
    Fail: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const trailer = new Metadata();
      trailer.set('why', 'because');
      callback({ code: status.NOT_FOUND, details: 'no such thing', metadata: trailer });
    },
    Count: (call: ServerWritableStream<Buffer, Buffer>) => {
      const count = Number(call.request.toString());
      for (let index = 0; index < count; index++) call.write(Buffer.from(String(index)));
      call.end();
    },
    Chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (message: Buffer) => call.write(Buffer.from(`re: ${message.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { port, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** A grpc-js client to a gateway whose one route (`prefix`) leads to an h2c cluster of one grpc-js backend; all stopped after the test. */
async function throughGateway(t: TestContext, protocol: 'h2c' | 'auto', prefix: string): Promise<Client> {
  const backend = await startGrpcBackend();
  const gateway = await startGateway({
    listeners: [{ port: 0, protocol }],
    routes: [{ name: 'grpc', match: { prefix }, cluster: 'echo' }],
    clusters: { echo: { protocol: 'h2c', endpoints: [{ address: `127.0.0.1:${backend.port}` }] } },
  });
  const client = new Client(`127.0.0.1:${gateway.ports[0]}`, credentials.createInsecure());
  t.after(async () => {
    client.close();
    await closeAll(gateway, backend);
  });
  return client;
}

function unary(client: Client, method: keyof typeof service, body: string): Promise<{ value?: string; error?: ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(service[method].path, identity.requestSerialize, identity.responseDeserialize, Buffer.from(body), (error, value) => resolve(error ? { error } : { value: value?.toString() }));
  });
}

for (const protocol of ['h2c', 'auto'] as const) {
  test(`gRPC through a ${protocol} listener to an h2c cluster: unary, status and trailers, server streaming, bidirectional streaming`, async (t) => {
    const client = await throughGateway(t, protocol, '/keel.test.Echo/');

    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) => unary(client, 'Unary', `m${index}`)));
    assert.deepEqual(answers.map((answer) => answer.value), Array.from({ length: 20 }, (_, index) => `echo m${index} via 1.1 keel-gateway`));

    const failed = await unary(client, 'Fail', '');
    assert.equal(failed.error?.code, status.NOT_FOUND, 'grpc-status reaches the client');
    assert.equal(failed.error?.details, 'no such thing');
    assert.deepEqual(failed.error?.metadata.get('why'), ['because']);

    const counted: string[] = [];
    const streamStatus = await new Promise<number>((resolve, reject) => {
      const call = client.makeServerStreamRequest(service.Count.path, identity.requestSerialize, identity.responseDeserialize, Buffer.from('50'));
      call.on('data', (message: Buffer) => counted.push(message.toString()));
      call.on('status', (received) => resolve(received.code));
      call.on('error', reject);
    });
    assert.equal(streamStatus, status.OK);
    assert.deepEqual(counted, Array.from({ length: 50 }, (_, index) => String(index)));

    // Each reply comes back before the next message is sent: the request body streams through, not buffered to its end.
    const chat = client.makeBidiStreamRequest(service.Chat.path, identity.requestSerialize, identity.responseDeserialize);
    const replies: string[] = [];
    for (let index = 0; index < 5; index++) {
      const reply = new Promise<string>((resolve) => chat.once('data', (message: Buffer) => resolve(message.toString())));
      chat.write(Buffer.from(`hello ${index}`));
      replies.push(await reply);
    }
    const chatStatus = new Promise<number>((resolve) => chat.on('status', (received) => resolve(received.code)));
    chat.end();
    assert.equal(await chatStatus, status.OK);
    assert.deepEqual(replies, Array.from({ length: 5 }, (_, index) => `re: hello ${index}`));
  });
}

test('the gateway refuses gRPC calls in gRPC: grpc-status and grpc-message trailers, the reason and Retry-After as metadata', async (t) => {
  const backend = await startGrpcBackend();
  const gateway = await startGateway({
    listeners: [{ port: 0, protocol: 'h2c' }],
    routes: [{ name: 'grpc', match: { prefix: '/keel.test.Echo/' }, cluster: 'echo' }],
    clusters: { echo: { protocol: 'h2c', endpoints: [{ address: `127.0.0.1:${backend.port}` }] } },
    rateLimits: [{ name: 'tiny', descriptor: { global: true }, algorithm: 'token-bucket', limit: 1, windowMs: 3_600_000 }],
  });
  const client = new Client(`127.0.0.1:${gateway.ports[0]}`, credentials.createInsecure());
  t.after(async () => {
    client.close();
    await closeAll(gateway, backend);
  });
  assert.equal((await unary(client, 'Unary', 'first')).value, 'echo first via 1.1 keel-gateway');
  const limited = await unary(client, 'Unary', 'second');
  assert.equal(limited.error?.code, status.RESOURCE_EXHAUSTED);
  assert.match(limited.error?.details ?? '', /^KEEL_GW_RATE_LIMITED: /);
  assert.deepEqual(limited.error?.metadata.get('keel-reject-reason'), ['rate-limited']);
  assert.ok(Number(limited.error?.metadata.get('retry-after')[0]) >= 1, 'Retry-After travels as metadata');
  const missing = await new Promise<ServiceError | null>((resolve) => {
    client.makeUnaryRequest('/keel.test.Other/Call', identity.requestSerialize, identity.responseDeserialize, Buffer.from('x'), (error) => resolve(error));
  });
  assert.equal(missing?.code, status.UNIMPLEMENTED);
  assert.match(missing?.details ?? '', /^KEEL_GW_NO_ROUTE: /);
  const metrics = await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`).then((response) => response.text());
  assert.match(metrics, /keel_gateway_requests_total\{route="grpc",cluster="echo",code_class="4xx"\} 1/, 'the refusal counts as the 429 it stands for');
});

test('an h2c endpoint that refuses connections is retried on another: the call was never sent', async (t) => {
  const backend = await startGrpcBackend();
  const [dead] = await freeLoopbackPorts(1);
  const gateway = await startGateway({
    listeners: [{ port: 0, protocol: 'h2c' }],
    routes: [{ name: 'grpc', match: { prefix: '/keel.test.Echo/' }, cluster: 'echo' }],
    clusters: { echo: { protocol: 'h2c', endpoints: [{ address: `127.0.0.1:${dead}` }, { address: `127.0.0.1:${backend.port}` }] } },
  });
  const client = new Client(`127.0.0.1:${gateway.ports[0]}`, credentials.createInsecure());
  t.after(async () => {
    client.close();
    await closeAll(gateway, backend);
  });
  const answers = await Promise.all(Array.from({ length: 10 }, (_, index) => unary(client, 'Unary', `r${index}`)));
  assert.deepEqual(answers.map((answer) => answer.error?.code ?? answer.value), Array.from({ length: 10 }, (_, index) => `echo r${index} via 1.1 keel-gateway`));
  const metrics = (await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`).then((response) => response.text()));
  assert.match(metrics, /keel_gateway_upstream_retries_total\{cluster="echo"\} [1-9]/);
});

test('grpcMessage percent-encodes only "%" and bytes outside printable ASCII, as the gRPC spec asks', () => {
  assert.equal(grpcMessage('plain: text/ok'), 'plain: text/ok');
  assert.equal(grpcMessage('100% sure'), '100%25 sure');
  assert.equal(grpcMessage('naïve\n'), 'na%C3%AFve%0A');
});
