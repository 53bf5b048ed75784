import { test } from 'node:test';
import assert from 'node:assert/strict';
import { message, MessageType, type Message } from '../../src/raft/types.js';
import { SeededRandom } from '../../src/raft/random.js';
import { closeAll, connectAll, eventually, freePort, heartbeat, makeNode, sampleMessages } from './helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSnapshotFile, FileSnapshotSource, inMemoryData, nodeFileSystem } from '../../src/storage/index.js';
import { SnapshotFiles } from '../../src/storage/snapshot-files.js';
import { readsRanges } from '../../src/storage/snapshot-source.js';

test('every network message type crosses a real socket with binary fields intact', async () => {
  const a = makeNode('a');
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    const snapshotData = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const originals = sampleMessages('a', 'b').map((m) =>
      m.type === MessageType.Snapshot ? { ...m, snapshot: { metadata: { index: 5, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data: snapshotData } } : m,
    );
    for (const m of originals) assert.equal(a.transport.send(m), true);
    await b.inbox.count(originals.length);
    // The snapshot may be overtaken by later small messages; everything else keeps its order.
    const bySnapshot = (m: Message): boolean => m.type === MessageType.Snapshot;
    assert.deepStrictEqual(b.inbox.messages.filter((m) => !bySnapshot(m)), originals.filter((m) => !bySnapshot(m)));
    assert.deepStrictEqual(b.inbox.messages.find(bySnapshot), originals.find(bySnapshot));
    for (const m of b.inbox.messages) {
      for (const entry of m.entries) assert.equal(Object.getPrototypeOf(entry.data), Uint8Array.prototype);
      if (m.context) assert.equal(Object.getPrototypeOf(m.context), Uint8Array.prototype);
      if (m.snapshot) assert.equal(Object.getPrototypeOf(m.snapshot.data), Uint8Array.prototype);
    }
    assert.deepStrictEqual(await a.snapshotStatus.some(), { peer: 'b', failed: false });
    const roundTrip = await a.roundTrips.some();
    assert.equal(roundTrip.peer, 'b');
    assert.ok(roundTrip.seconds >= 0);
    const statsA = a.transport.stats().get('b')!;
    const statsB = b.transport.stats().get('a')!;
    assert.equal(statsA.connected, true);
    assert.equal(statsA.sentMessages, originals.length);
    assert.equal(statsB.receivedMessages, originals.length);
    assert.ok(statsA.sentBytes > snapshotData.length && statsB.receivedBytes > snapshotData.length);
  } finally {
    await closeAll([a, b]);
  }
});

test('10,000 messages arrive complete and in order, both directions at once', async () => {
  const a = makeNode('a', { queueMessagesMax: 20_000 });
  const b = makeNode('b', { queueMessagesMax: 20_000 });
  await connectAll([a, b]);
  try {
    const count = 10_000;
    const payload = new Uint8Array(100).fill(42);
    for (let i = 0; i < count; i++) {
      assert.equal(a.transport.send(message({ type: MessageType.Append, from: 'a', to: 'b', index: i, entries: [{ term: 1, index: i + 1, type: 0, data: payload }] })), true);
      assert.equal(b.transport.send(heartbeat('b', 'a', i)), true);
    }
    await Promise.all([b.inbox.count(count), a.inbox.count(count)]);
    assert.deepStrictEqual(b.inbox.messages.map((m) => m.index), Array.from({ length: count }, (_, i) => i));
    assert.deepStrictEqual(a.inbox.messages.map((m) => m.commit), Array.from({ length: count }, (_, i) => i));
    assert.equal(a.transport.stats().get('b')!.droppedMessages, 0);
  } finally {
    await closeAll([a, b]);
  }
});

test('with the peer down the queue stays bounded: overflow is dropped, counted and reported unreachable', async () => {
  const a = makeNode('a', { queueMessagesMax: 5 });
  await a.transport.listen();
  a.transport.setPeer('b', `127.0.0.1:${await freePort()}`);
  try {
    const results = Array.from({ length: 20 }, (_, i) => a.transport.send(heartbeat('a', 'b', i)));
    assert.deepStrictEqual(results, [...Array(5).fill(true), ...Array(15).fill(false)]);
    const stats = a.transport.stats().get('b')!;
    assert.equal(stats.droppedMessages, 15);
    assert.equal(stats.queuedMessages, 5);
    assert.equal(stats.connected, false);
    assert.equal(await a.unreachable.some(), 'b');
    assert.equal(a.transport.send(heartbeat('a', 'nobody', 0)), false);
    assert.equal(a.transport.counters().unknownPeerDrops, 1);
  } finally {
    await a.transport.close();
  }
});

test('a message with a field no message holds is dropped, counted and logged at error, not thrown into the caller; the link goes on', async () => {
  const logged: { level: string; message: string }[] = [];
  const a = makeNode('a', { log: (level, text) => logged.push({ level, message: text }) });
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    assert.equal(a.transport.send(message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: -1 })), false);
    assert.equal(a.transport.stats().get('b')!.droppedMessages, 1);
    assert.ok(logged.some((entry) => entry.level === 'error' && /could not be encoded/.test(entry.message)), JSON.stringify(logged));
    assert.equal(a.transport.send(heartbeat('a', 'b', 5)), true);
    await b.inbox.count(1);
    assert.equal(b.inbox.messages[0]!.commit, 5);
  } finally {
    await closeAll([a, b]);
  }
});

test('a snapshot to an unknown peer, or beyond the queue bound, is reported failed', async () => {
  const a = makeNode('a', { queueMessagesMax: 1 });
  await a.transport.listen();
  a.transport.setPeer('b', `127.0.0.1:${await freePort()}`);
  try {
    const snapshot = { metadata: { index: 1, term: 1, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array(10) };
    assert.equal(a.transport.send(heartbeat('a', 'b', 0)), true);
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'b', snapshot })), false);
    assert.deepStrictEqual(await a.snapshotStatus.some(), { peer: 'b', failed: true });
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'x', snapshot })), false);
    assert.deepStrictEqual(await a.snapshotStatus.some((call) => call.peer === 'x'), { peer: 'x', failed: true });
  } finally {
    await a.transport.close();
  }
});

test('after the peer restarts on the same port, the link reconnects and queued messages go out', async () => {
  const a = makeNode('a');
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    a.transport.send(heartbeat('a', 'b', 1));
    await b.inbox.count(1);
    const lost = a.unreachable.next((peer) => peer === 'b');
    await b.transport.close();
    await lost;
    for (let i = 2; i <= 4; i++) assert.equal(a.transport.send(heartbeat('a', 'b', i)), true);
    const restarted = makeNode('b', { listenPort: b.port, peers: { a: `127.0.0.1:${a.port}` } });
    await restarted.transport.listen();
    try {
      await restarted.inbox.count(3);
      assert.deepStrictEqual(restarted.inbox.messages.map((m) => m.commit), [2, 3, 4]);
      assert.ok(a.transport.stats().get('b')!.connects >= 2);
      restarted.transport.send(heartbeat('b', 'a', 9));
      await a.inbox.until((messages) => messages.some((m) => m.commit === 9));
    } finally {
      await restarted.transport.close();
    }
  } finally {
    await closeAll([a, b]);
  }
});

test('a 20 MiB snapshot streams intact while heartbeats keep flowing', async () => {
  // Each heartbeat B receives makes A send the next one: the chain advances during the snapshot only if heartbeats interleave with its chunks.
  let heartbeatsBeforeSnapshot = 0;
  let snapshotArrived = false;
  const onMessage = (m: Message): void => {
    if (m.type === MessageType.Snapshot) snapshotArrived = true;
    else if (!snapshotArrived) {
      heartbeatsBeforeSnapshot++;
      a.transport.send(heartbeat('a', 'b', m.commit + 1));
    }
    b.inbox.deliver(m);
  };
  const a = makeNode('a');
  const b = makeNode('b', { deliver: (m) => onMessage(m) });
  await connectAll([a, b]);
  try {
    const random = new SeededRandom(1);
    const data = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = random.int(256);
    data[data.length - 1] = 0xab;
    const snapshot = { metadata: { index: 100, term: 4, confState: { voters: ['a', 'b'], learners: [] } }, data };
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 4, snapshot })), true);
    assert.equal(a.transport.send(heartbeat('a', 'b', 1)), true);
    await b.inbox.until((messages) => messages.some((m) => m.type === MessageType.Snapshot));
    const received = b.inbox.messages.find((m) => m.type === MessageType.Snapshot)!;
    assert.deepStrictEqual(received.snapshot!.metadata, snapshot.metadata);
    const receivedData = inMemoryData(received.snapshot!.data); // the receiver always holds what arrived in memory
    assert.equal(receivedData.length, data.length);
    assert.ok(Buffer.from(receivedData.buffer, receivedData.byteOffset, data.length).equals(data), 'snapshot bytes intact');
    assert.ok(heartbeatsBeforeSnapshot >= 2, `heartbeats delivered during the snapshot: ${heartbeatsBeforeSnapshot}`);
    assert.deepStrictEqual(await a.snapshotStatus.some(), { peer: 'b', failed: false });
  } finally {
    await closeAll([a, b]);
  }
});

test('a snapshot left in its file streams from it intact; one whose file cannot be read fails and the link carries on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-transport-source-'));
  const a = makeNode('a', { snapshotChunkBytes: 64 * 1024 });
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    const files = new SnapshotFiles(dir, nodeFileSystem);
    files.prepare();
    const data = Uint8Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => (i * 7) & 0xff);
    const metadata = { index: 100, term: 4, confState: { voters: ['a', 'b'], learners: [] } };
    const file = files.save({ metadata, data });
    assert.ok(readsRanges(nodeFileSystem));
    const checked = await checkSnapshotFile(nodeFileSystem, dir, file);
    assert.ok(typeof checked !== 'string' && checked.data instanceof FileSnapshotSource);
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 4, snapshot: checked })), true);
    assert.equal(a.transport.send(heartbeat('a', 'b', 1)), true);
    await b.inbox.until((messages) => messages.some((m) => m.type === MessageType.Snapshot));
    const received = b.inbox.messages.find((m) => m.type === MessageType.Snapshot)!;
    assert.deepStrictEqual(received.snapshot!.metadata, metadata);
    assert.ok(Buffer.from(inMemoryData(received.snapshot!.data)).equals(data), 'snapshot bytes intact');
    assert.deepStrictEqual(await a.snapshotStatus.some(), { peer: 'b', failed: false });

    // Deleted before the send opens it: the begin frame is out, so the link drops the connection; the snapshot is reported failed, nothing half-read is delivered, and later messages get through.
    rmSync(join(dir, file.name));
    const snapshotsBefore = b.inbox.messages.filter((m) => m.type === MessageType.Snapshot).length;
    const status = a.snapshotStatus.next();
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 4, snapshot: checked })), true);
    assert.deepStrictEqual(await status, { peer: 'b', failed: true });
    assert.equal(a.transport.send(heartbeat('a', 'b', 777)), true); // queued through the reconnect
    await b.inbox.until((messages) => messages.some((m) => m.commit === 777));
    assert.equal(b.inbox.messages.filter((m) => m.type === MessageType.Snapshot).length, snapshotsBefore);
  } finally {
    await closeAll([a, b]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fault hook: drop with probability 1 and 0.5, partition both ways, delay keeps order, heal', async () => {
  const a = makeNode('a', { random: new SeededRandom(3) });
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    let commit = 0;
    const marker = async (from: typeof a, to: typeof b): Promise<void> => {
      const value = ++commit;
      from.transport.send(heartbeat(from.id, to.id, value));
      await to.inbox.until((messages) => messages.some((m) => m.commit === value));
    };
    // Drop everything: sends still succeed locally (lost on the "wire"); the marker after heal() proves nothing got through.
    a.transport.faults.drop('b', 1);
    for (let i = 0; i < 10; i++) assert.equal(a.transport.send(heartbeat('a', 'b', 1000 + i)), true);
    a.transport.faults.heal();
    await marker(a, b);
    assert.equal(b.inbox.messages.length, 1);
    assert.equal(a.transport.stats().get('b')!.faultDroppedMessages, 10);

    a.transport.faults.drop('b', 0.5);
    for (let i = 0; i < 1000; i++) a.transport.send(heartbeat('a', 'b', 2000 + i));
    a.transport.faults.heal();
    await marker(a, b);
    const halfDelivered = b.inbox.messages.filter((m) => m.commit >= 2000).length;
    assert.ok(halfDelivered > 300 && halfDelivered < 700, `delivered ${halfDelivered} of 1000`);
    assert.equal(a.transport.stats().get('b')!.faultDroppedMessages, 10 + 1000 - halfDelivered);

    // Partition at a: nothing leaves a for b, nothing from b is delivered at a.
    a.transport.faults.partition(['b']);
    a.transport.send(heartbeat('a', 'b', 3000));
    b.transport.send(heartbeat('b', 'a', 3001));
    await eventually(() => a.transport.stats().get('b')!.faultDroppedMessages === 10 + 1000 - halfDelivered + 2, 'inbound partition drop');
    a.transport.faults.heal();
    await marker(a, b);
    await marker(b, a);
    assert.equal(b.inbox.messages.some((m) => m.commit === 3000), false);
    assert.equal(a.inbox.messages.some((m) => m.commit === 3001), false);

    // Delay: held back, then delivered in order, and a message sent after heal() does not overtake them.
    a.transport.faults.delay('b', 30);
    for (let i = 0; i < 10; i++) a.transport.send(heartbeat('a', 'b', 4000 + i));
    assert.equal(a.transport.stats().get('b')!.queuedMessages, 10);
    a.transport.faults.heal();
    a.transport.send(heartbeat('a', 'b', 4010));
    await b.inbox.until((messages) => messages.some((m) => m.commit === 4010));
    assert.deepStrictEqual(b.inbox.messages.filter((m) => m.commit >= 4000).map((m) => m.commit), Array.from({ length: 11 }, (_, i) => 4000 + i));
  } finally {
    await closeAll([a, b]);
  }
});

test('changing a peer address redials; removing a peer closes its links and forgets its stats', async () => {
  const a = makeNode('a');
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    a.transport.setPeer('b', `127.0.0.1:${await freePort()}`);
    assert.equal(await a.unreachable.next(), 'b');
    a.transport.setPeer('b', `127.0.0.1:${b.port}`);
    a.transport.send(heartbeat('a', 'b', 1));
    await b.inbox.count(1);
    a.transport.removePeer('b');
    assert.equal(a.transport.stats().has('b'), false);
    assert.equal(a.transport.send(heartbeat('a', 'b', 2)), false);
  } finally {
    await closeAll([a, b]);
  }
});

test('sending a local message type or another node\'s message is a caller bug; bad options are KEEL_TRANSPORT_CONFIG_INVALID', async () => {
  const a = makeNode('a');
  try {
    assert.throws(() => a.transport.send(message({ type: MessageType.Hup, from: 'a', to: 'b' })), { name: 'AssertionError' });
    assert.throws(() => a.transport.send(heartbeat('x', 'b', 1)), { name: 'AssertionError' });
    assert.throws(() => makeNode('c', { queueMessagesMax: 0 }), { code: 'KEEL_TRANSPORT_CONFIG_INVALID' });
    assert.throws(() => makeNode('c', { peers: { d: 'no-port' } }), { code: 'KEEL_TRANSPORT_CONFIG_INVALID' });
    assert.throws(() => a.transport.faults.drop('b', 2), { code: 'KEEL_TRANSPORT_CONFIG_INVALID' });
  } finally {
    await a.transport.close();
  }
});
