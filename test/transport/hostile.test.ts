import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { message, MessageType } from '../../src/raft/types.js';
import { encodeHello, encodeHelloAnswer, encodeMessage } from '../../src/transport/codec.js';
import { FrameDecoder, FrameKind, frameHeader } from '../../src/transport/frame.js';
import { closeAll, connectAll, eventually, heartbeat, makeNode, type TestNode } from './helpers.js';

const frame = (kind: number, body: Buffer): Buffer => Buffer.concat([frameHeader(kind as FrameKind, body.length), body]);

/** Writes raw bytes to a node's listener and resolves when the node closes the connection. */
async function rawExchange(node: TestNode, chunks: Buffer[]): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port: node.port });
  const received: Buffer[] = [];
  socket.on('data', (data: Buffer) => received.push(data));
  socket.on('error', () => {});
  await once(socket, 'connect');
  for (const chunk of chunks) socket.write(chunk);
  await once(socket, 'close');
  return Buffer.concat(received);
}

async function stillWorks(a: TestNode, b: TestNode, commit: number): Promise<void> {
  a.transport.send(heartbeat('a', 'b', commit));
  await b.inbox.until((messages) => messages.some((m) => m.commit === commit));
}

test('malformed bytes, oversized frames and spoofed messages close that connection only; the node keeps working', async () => {
  const a = makeNode('a');
  const b = makeNode('b');
  await connectAll([a, b]);
  try {
    const hello = frame(FrameKind.Hello, encodeHello({ clusterId: 'test', from: 'a', to: 'b' }));
    const cases: [string, Buffer[]][] = [
      ['garbage', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
      ['unknown frame kind', [frameHeader(200 as FrameKind, 0)]],
      ['oversized frame before the handshake', [frameHeader(FrameKind.Hello, 1_000_000)]],
      ['a message before the handshake', [frame(FrameKind.Message, encodeMessage(heartbeat('a', 'b', 1)))]],
      ['undecodable hello', [frame(FrameKind.Hello, Buffer.from([0xc1, 0xc1]))]],
      ['spoofed sender after the handshake', [hello, frame(FrameKind.Message, encodeMessage(heartbeat('x', 'b', 1)))]],
      ['chunk outside a snapshot', [hello, frame(FrameKind.SnapshotChunk, Buffer.alloc(10))]],
      ['truncated msgpack after the handshake', [hello, frame(FrameKind.Message, encodeMessage(heartbeat('a', 'b', 1)).subarray(0, 5))]],
    ];
    let commit = 0;
    for (const [name, chunks] of cases) {
      const before = b.transport.counters().malformedFrames;
      await rawExchange(b, chunks);
      assert.equal(b.transport.counters().malformedFrames, before + 1, name);
      await stillWorks(a, b, ++commit);
    }
    assert.equal(b.inbox.messages.every((m) => m.from === 'a'), true);
  } finally {
    await closeAll([a, b]);
  }
});

test('handshakes from another cluster, an unknown sender or for another node are refused with a reason', async () => {
  const b = makeNode('b');
  const a = makeNode('a');
  await connectAll([a, b]);
  const other = makeNode('a', { clusterId: 'other' });
  const stranger = makeNode('z');
  try {
    for (const [node, peerOfB] of [[other, 'b'], [stranger, 'b']] as const) {
      await node.transport.listen();
      node.transport.setPeer(peerOfB, `127.0.0.1:${b.port}`);
      node.transport.send(heartbeat(node.id, 'b', 99));
      await eventually(() => node.transport.counters().rejectedHandshakes >= 1, 'the dialer saw the refusal');
      assert.equal(node.transport.stats().get('b')!.connected, false);
    }
    const answer = await rawExchange(b, [frame(FrameKind.Hello, encodeHello({ clusterId: 'test', from: 'a', to: 'c' }))]);
    assert.ok(answer.includes(encodeHelloAnswer({ accepted: false, reason: 'wrong-addressee' })));
    assert.ok(b.transport.counters().rejectedHandshakes >= 3);
    assert.equal(b.inbox.messages.some((m) => m.commit === 99), false);
    await stillWorks(a, b, 1);
  } finally {
    await closeAll([a, b, other, stranger]);
  }
});

test('a peer that stops reading: writes pause on backpressure, the queue fills and drops, a snapshot cut off is reported failed', async () => {
  // A fake peer that accepts the handshake and then never reads again.
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const decoder = new FrameDecoder({
      frame: (kind) => {
        if (kind !== FrameKind.Hello) return;
        const answer = encodeHelloAnswer({ accepted: true, reason: '' });
        socket.write(Buffer.concat([frameHeader(FrameKind.HelloAnswer, answer.length), answer]));
        socket.pause();
      },
      chunkStart: () => {},
      chunkPiece: () => {},
    }, 1 << 20);
    socket.on('data', (data: Buffer) => decoder.push(data));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const queueBytesMax = 4 * 1024 * 1024;
  const a = makeNode('a', { queueBytesMax, pingIntervalMs: 60_000 });
  await a.transport.listen();
  a.transport.setPeer('stall', `127.0.0.1:${port}`);
  try {
    const snapshot = { metadata: { index: 1, term: 1, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array(64 * 1024 * 1024) };
    assert.equal(a.transport.send(message({ type: MessageType.Snapshot, from: 'a', to: 'stall', snapshot })), true);
    const entry = { term: 1, index: 1, type: 0 as const, data: new Uint8Array(64 * 1024) };
    const stats = () => a.transport.stats().get('stall')!;
    for (let round = 0; round < 10_000 && stats().droppedMessages === 0; round++) {
      a.transport.send(message({ type: MessageType.Append, from: 'a', to: 'stall', entries: [entry] }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stalled = stats();
    assert.ok(stalled.droppedMessages > 0, 'the full queue drops');
    assert.ok(stalled.queuedMessages > 0 && stalled.queuedBytes <= queueBytesMax, 'draining paused, queue bounded');
    assert.ok(stalled.sentBytes < snapshot.data.length, 'the snapshot could not have been written whole');
    const failed = a.snapshotStatus.some();
    for (const socket of sockets) socket.destroy();
    assert.deepStrictEqual(await failed, { peer: 'stall', failed: true });
    assert.equal(await a.unreachable.some(), 'stall');
  } finally {
    await a.transport.close();
    server.close();
  }
});
