/**
 * client.watch() against small node:http servers that play the member's
 * side of /v3/watch: backpressure on a consumer that does not read, resume
 * after a cut with the right start revision and without repeats, a bounded
 * number of reconnects, and a refused watch.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { constantBackoff } from '../../src/resilience/index.js';
import { KeelClient, StreamUnavailableError, WatchCanceledError, type WatchBatch } from '../../src/client/index.js';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { eventually } from '../node/cluster-harness.js';

const servers: Server[] = [];
const clients: KeelClient[] = [];
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A fake member: `onWatch` gets the parsed create request of each /v3/watch stream. */
async function fakeMember(onWatch: (create: Record<string, unknown>, response: ServerResponse, request: IncomingMessage) => void): Promise<string> {
  const server = createServer((request, response) => {
    let text = '';
    let started = false;
    request.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (started || newline < 0) return;
      started = true;
      const first = JSON.parse(text.slice(0, newline)) as { create_request: Record<string, unknown> };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
      onWatch(first.create_request, response, request);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const line = (result: unknown): string => `${JSON.stringify({ result })}\n`;
const created = (revision: number): string => line({ header: { revision: String(revision) }, watch_id: '0', created: true });
const event = (key: string, revision: number, value = 'v'): string =>
  line({ header: { revision: String(revision) }, events: [{ kv: { key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64'), mod_revision: String(revision), create_revision: String(revision), version: '1' } }] });

function newClient(endpoints: string[]): KeelClient {
  const client = new KeelClient({ endpoints, preferLeader: false });
  clients.push(client);
  return client;
}

test('a consumer that does not read stops the socket: the member is held back, and reading lets it go on', async () => {
  const total = 100_000;
  const state = { written: 0, waitingForDrain: false };
  const value = 'x'.repeat(1024);
  const url = await fakeMember((_create, response) => {
    response.write(created(1));
    const pump = (): void => {
      state.waitingForDrain = false;
      while (state.written < total) {
        state.written++;
        if (!response.write(event(`k${state.written}`, state.written + 1, value))) {
          state.waitingForDrain = true;
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    pump();
  });
  const watch = newClient([url]).watch('k', { prefix: true, bufferSize: 2 });
  const iterator = watch[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal((first.value as WatchBatch).events[0]!.kv.key.toString(), 'k1');
  await eventually(() => state.waitingForDrain, 30_000, 'the member to wait for the client to drain');
  const heldAt = state.written;
  assert.ok(heldAt < total, 'the member could not send everything into the client');
  let revision = 2;
  for (let i = 0; i < 2_000; i++) {
    const next = await iterator.next();
    const batch = next.value as WatchBatch;
    assert.equal(batch.events[0]!.kv.modRevision, ++revision, 'in order, none skipped');
  }
  await eventually(() => state.written > heldAt, 30_000, 'the member to go on once the client reads');
  assert.ok(state.written < total, `${state.written} of ${total} sent: the client holds a bounded amount`);
  await watch.close();
});

test('after a cut the watch resumes at last seen + 1 on another member and drops what it already saw', async () => {
  const starts: unknown[] = [];
  const first = await fakeMember((create, response) => {
    starts.push(create.start_revision);
    response.write(created(10));
    response.write(event('a', 11));
    response.write(event('b', 12));
    setImmediate(() => response.destroy()); // the member dies
  });
  const second = await fakeMember((create, response) => {
    starts.push(create.start_revision);
    response.write(created(12));
    response.write(event('b', 12)); // a member that repeats: the client must drop it
    response.write(event('c', 13));
  });
  const watch = newClient([first, second]).watch('a', { rangeEnd: 'z' });
  const seen: string[] = [];
  for await (const batch of watch) {
    for (const each of batch.events) seen.push(`${each.kv.key}@${each.kv.modRevision}`);
    if (seen.length >= 3) break;
  }
  assert.deepEqual(seen, ['a@11', 'b@12', 'c@13']);
  assert.deepEqual(starts, [undefined, '13']);
  assert.equal(watch.reconnects, 1);
});

test('reconnects are bounded: a watch whose members all refuse fails with StreamUnavailableError', async () => {
  const [portA, portB] = (await freeLoopbackPorts(2)) as [number, number];
  const client = new KeelClient({ endpoints: [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`] });
  clients.push(client);
  const watch = client.watch('k', { reconnectAttempts: 3, backoff: constantBackoff(10) });
  await assert.rejects(
    (async () => {
      for await (const _batch of watch) assert.fail('no batch expected');
    })(),
    (error: unknown) => error instanceof StreamUnavailableError && error.code === 'KEEL_CLIENT_STREAM_UNAVAILABLE' && error.attempts === 3,
  );
});

test('a watch the member refuses fails with WatchCanceledError and its reason, without reconnecting', async () => {
  let streams = 0;
  const url = await fakeMember((_create, response) => {
    streams++;
    response.write(line({ header: { revision: '5' }, watch_id: '0', created: true, canceled: true, cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream' }));
  });
  const watch = newClient([url]).watch('k');
  await assert.rejects(
    (async () => {
      for await (const _batch of watch) assert.fail('no batch expected');
    })(),
    (error: unknown) => error instanceof WatchCanceledError && error.code === 'KEEL_CLIENT_WATCH_CANCELED' && /duplicate watch ID/.test(error.reason),
  );
  assert.equal(streams, 1);
});

test("a member that answers only once the request ended (etcd's gateway) gets a one-way watch, and silence is no reason to leave it", async () => {
  let streams = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      streams++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(created(3));
      // A long silence (many keep-alive periods), then an event.
      setTimeout(() => response.write(event('k', 4)), 1_500);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const watch = newClient([url]).watch('k', { keepAliveMs: 100, keepAliveTimeoutMs: 100 });
  const first = await watch[Symbol.asyncIterator]().next();
  assert.equal((first.value as WatchBatch).events[0]!.kv.modRevision, 4);
  assert.equal(streams, 1);
  assert.equal(watch.reconnects, 0);
  await watch.close();
});
