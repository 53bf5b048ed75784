/**
 * The client against small node:http servers that play keel's additions
 * (not-leader redirects, 503 + Retry-After), a member that is down, a
 * connection cut after the request arrived, and a member that hangs.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { KeelClient, KeelClientError } from '../../src/client/index.js';
import { freeLoopbackPorts } from '../../bench/lib/net.js';

type Handler = (request: IncomingMessage, body: Record<string, unknown>, response: ServerResponse) => void;

interface Fake {
  readonly url: string;
  /** Requests to /v3/kv/* (discovery calls are not counted). */
  kvRequests: number;
  handler: Handler;
  close(): Promise<void>;
}

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

const HEADER = { cluster_id: '1', member_id: '2', revision: '7', raft_term: '3' };

function ok(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function startFake(handler: Handler): Promise<Fake> {
  const fake: Fake = { url: '', kvRequests: 0, handler, close: async () => {} };
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      if (request.url === '/v3/maintenance/status') return ok(response, { header: HEADER, leader: '0' });
      fake.kvRequests++;
      fake.handler(request, text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(fake, { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}

const putOk: Handler = (_request, _body, response) => ok(response, { header: HEADER });
const rangeOk: Handler = (_request, body, response) => ok(response, { header: HEADER, kvs: [{ key: body.key, value: Buffer.from('v').toString('base64'), mod_revision: '5', version: '1', create_revision: '5' }], count: '1' });

function notLeader(leaderUrl: string): Handler {
  return (_request, _body, response) => {
    response.writeHead(503, { 'content-type': 'application/json', 'keel-leader-url': leaderUrl });
    response.end(JSON.stringify({ error: 'keel: not leader', code: 14, message: 'not the leader', keel_code: 'KEEL_NODE_NOT_LEADER', leader: '9', leader_url: leaderUrl }));
  };
}

async function rejection(promise: Promise<unknown>): Promise<KeelClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(KeelClientError.is(error), `expected a KeelClientError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('client against fake members', () => {
  it('follows a not-leader hint at once, remembers the leader, and sends later writes straight to it', async () => {
    const leader = await startFake(putOk);
    const follower = await startFake(notLeader(leader.url));
    const client = new KeelClient({ endpoints: [follower.url] });
    try {
      const result = await client.put('k', 'v');
      assert.equal(result.header.revision, 7);
      assert.equal(client.leader, leader.url);
      await client.put('k', 'v2');
      assert.equal(follower.kvRequests, 1);
      assert.equal(leader.kvRequests, 2);
    } finally {
      await client.close();
    }
  });

  it('retries a read on 503 with Retry-After, on another member', async () => {
    let refusals = 0;
    const busy = await startFake((_request, _body, response) => {
      refusals++;
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      response.end(JSON.stringify({ error: 'overloaded', code: 14, message: 'overloaded', keel_code: 'KEEL_NODE_OVERLOADED' }));
    });
    const healthy = await startFake(rangeOk);
    const client = new KeelClient({ endpoints: [busy.url, healthy.url], preferLeader: false });
    try {
      const first = await client.get('a');
      const second = await client.get('b');
      assert.equal(first?.value.toString(), 'v');
      assert.equal(second?.key.toString(), 'b');
      assert.ok(refusals >= 1, 'rotation reached the busy member at least once');
      assert.equal(healthy.kvRequests, 2);
    } finally {
      await client.close();
    }
  });

  it('does not retry a put on a plain 503 (etcd may have proposed it) and says it may have applied', async () => {
    const busy = await startFake((_request, _body, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'etcdserver: request timed out', code: 14, message: 'etcdserver: request timed out' }));
    });
    const healthy = await startFake(putOk);
    const client = new KeelClient({ endpoints: [busy.url, healthy.url], preferLeader: false });
    try {
      const error = await rejection(client.put('k', 'v'));
      assert.equal(error.code, 'KEEL_CLIENT_UNAVAILABLE');
      assert.equal(error.mayHaveApplied, true);
      assert.equal((error as KeelClientError & { grpcCode?: number }).grpcCode, 14);
      assert.equal(busy.kvRequests + healthy.kvRequests, 1);
    } finally {
      await client.close();
    }
  });

  it('retries reads and puts on another endpoint when a member is down (connection refused)', async () => {
    const [downPort] = await freeLoopbackPorts(1);
    const healthy = await startFake((request, body, response) => (request.url === '/v3/kv/put' ? putOk : rangeOk)(request, body, response));
    const client = new KeelClient({ endpoints: [`http://127.0.0.1:${downPort}`, healthy.url], preferLeader: false });
    try {
      for (let index = 0; index < 4; index++) {
        await client.put(`k${index}`, 'v');
        assert.equal((await client.get(`k${index}`))?.value.toString(), 'v');
      }
      assert.equal(healthy.kvRequests, 8);
    } finally {
      await client.close();
    }
  });

  it('does not retry a put whose connection broke after sending; retries a read', async () => {
    const cut: Handler = (request) => request.socket.destroy();
    const cutter = await startFake(cut);
    const healthy = await startFake((request, body, response) => (request.url === '/v3/kv/put' ? putOk : rangeOk)(request, body, response));
    const client = new KeelClient({ endpoints: [cutter.url, healthy.url], preferLeader: false });
    try {
      const error = await rejection(client.put('k', 'v'));
      assert.equal(error.code, 'KEEL_CLIENT_CONNECTION_FAILED');
      assert.equal(error.mayHaveApplied, true);
      assert.equal(cutter.kvRequests, 1);
      assert.equal(healthy.kvRequests, 0);
      const before = cutter.kvRequests;
      const kv = await client.get('k');
      assert.equal(kv?.value.toString(), 'v');
      assert.ok(cutter.kvRequests + healthy.kvRequests >= before + 1);
    } finally {
      await client.close();
    }
  });

  it('bounds a call by its deadline when every member hangs', async () => {
    const hanging = await startFake(() => {});
    const client = new KeelClient({ endpoints: [hanging.url], preferLeader: false, timeoutMs: 300, attemptTimeoutMs: 100 });
    try {
      const read = await rejection(client.get('k'));
      assert.ok(['KEEL_CLIENT_DEADLINE_EXCEEDED', 'KEEL_CLIENT_ATTEMPT_TIMEOUT'].includes(read.code), read.code);
      const write = await rejection(client.put('k', 'v'));
      assert.equal(write.code, 'KEEL_CLIENT_DEADLINE_EXCEEDED');
      assert.equal(write.mayHaveApplied, true);
    } finally {
      await client.close();
    }
  });

  it('surfaces a server error with its grpc code and does not retry it', async () => {
    const invalid = await startFake((_request, _body, response) => {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'etcdserver: key is not provided', code: 3, message: 'etcdserver: key is not provided' }));
    });
    const client = new KeelClient({ endpoints: [invalid.url], preferLeader: false });
    try {
      const error = await rejection(client.put('k', 'v'));
      assert.equal(error.code, 'KEEL_CLIENT_SERVER_ERROR');
      assert.equal(error.mayHaveApplied, false);
      assert.equal((error as KeelClientError & { grpcCode?: number }).grpcCode, 3);
      assert.equal(invalid.kvRequests, 1);
    } finally {
      await client.close();
    }
  });

  it('checks arguments and options with typed errors', async () => {
    assert.throws(() => new KeelClient({ endpoints: [] }), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CONFIG_INVALID');
    assert.throws(() => new KeelClient({ endpoints: ['ftp://x'] }), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CONFIG_INVALID');
    const client = new KeelClient({ endpoints: ['http://127.0.0.1:1'] });
    await assert.rejects(client.put('', 'v'), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_INVALID_ARGUMENT');
    await client.close();
    await assert.rejects(client.get('k'), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CLOSED');
  });
});
