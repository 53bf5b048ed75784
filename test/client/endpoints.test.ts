import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeelClientError, normalizeEndpoint } from '../../src/client/index.js';
import { BoundedQueue } from '../../src/client/bounded-queue.js';

test('endpoints: URLs and host:port as etcd clients take them', () => {
  assert.equal(normalizeEndpoint('http://127.0.0.1:2379'), 'http://127.0.0.1:2379');
  assert.equal(normalizeEndpoint('http://127.0.0.1:2379/'), 'http://127.0.0.1:2379');
  assert.equal(normalizeEndpoint('https://keel.example:443'), 'https://keel.example');
  assert.equal(normalizeEndpoint('127.0.0.1:2379'), 'http://127.0.0.1:2379');
  assert.equal(normalizeEndpoint('localhost:22379'), 'http://localhost:22379');
  assert.equal(normalizeEndpoint(' member-1.keel.svc:2379 '), 'http://member-1.keel.svc:2379');
  assert.equal(normalizeEndpoint('[::1]:2379'), 'http://[::1]:2379');
});

test('endpoints: garbage is a ConfigError, never a crash', () => {
  for (const bad of ['', ' ', '127.0.0.1', 'localhost', ':2379', 'host:0', 'host:65536', 'host:port', 'ftp://host:21', 'http://', 'http://host:2379/v3', 'http://u:p@host:2379', 'host:2379/path', 'a b:1']) {
    assert.throws(() => normalizeEndpoint(bad), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CONFIG_INVALID', bad);
  }
  assert.throws(() => normalizeEndpoint(42 as unknown as string), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CONFIG_INVALID');
});

test('bounded queue: push waits while full (backpressure), delivers in order, then the failure', async () => {
  const queue = new BoundedQueue<number>(2);
  assert.equal(await queue.push(1), true);
  assert.equal(await queue.push(2), true);
  let thirdQueued = false;
  const third = queue.push(3).then((queued) => (thirdQueued = queued));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(thirdQueued, false, 'a full queue holds the producer');
  assert.equal(queue.size, 2);
  assert.deepEqual(await queue.take(), { value: 1, done: false });
  await third;
  assert.equal(thirdQueued, true);
  queue.fail(new Error('broken'));
  assert.equal(await queue.push(4), false, 'nothing is queued after a failure');
  assert.deepEqual(await queue.take(), { value: 2, done: false });
  assert.deepEqual(await queue.take(), { value: 3, done: false });
  await assert.rejects(queue.take(), /broken/);
});

test('bounded queue: clear ends a waiting consumer and releases a waiting producer', async () => {
  const queue = new BoundedQueue<string>(1);
  const taken = queue.take();
  queue.clear();
  assert.deepEqual(await taken, { value: undefined, done: true });
  const other = new BoundedQueue<string>(1);
  await other.push('a');
  const held = other.push('b');
  other.clear();
  assert.equal(await held, false);
});
