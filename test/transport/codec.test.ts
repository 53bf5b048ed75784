import { test } from 'node:test';
import assert from 'node:assert/strict';
import { message, MessageType, type Message } from '../../src/raft/types.js';
import * as codec from '../../src/transport/codec.js';
import * as errors from '../../src/transport/errors.js';
import { FrameDecoder, FrameKind, frameHeader, type FrameSink } from '../../src/transport/frame.js';
import { BoundedQueue } from '../../src/transport/queue.js';
import { sampleMessages } from './helpers.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

test('every network message type round-trips through the codec with plain Uint8Array fields', () => {
  for (const original of sampleMessages('a', 'b')) {
    if (original.type === MessageType.Snapshot) continue;
    const decoded = codec.decodeMessage(codec.encodeMessage(original));
    assert.deepStrictEqual(decoded, original);
    for (const entry of decoded.entries) assert.equal(Object.getPrototypeOf(entry.data), Uint8Array.prototype);
    if (decoded.context) assert.equal(Object.getPrototypeOf(decoded.context), Uint8Array.prototype);
  }
});

test('a large entry decodes as a plain view of its frame, a small one as a copy of exactly its size', () => {
  const large = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
  const small = bytes(1, 2, 3);
  const original = message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, index: 4, logTerm: 2, commit: 3, entries: [{ term: 2, index: 5, type: 0, data: small }, { term: 2, index: 6, type: 0, data: large }] });
  const frame = codec.encodeMessage(original);
  const decoded = codec.decodeMessage(frame);
  assert.deepStrictEqual(decoded, original);
  const [first, second] = decoded.entries;
  assert.equal(first!.data.buffer.byteLength, 3, 'a small field holds no more than itself');
  assert.equal(Object.getPrototypeOf(second!.data), Uint8Array.prototype);
  assert.equal(second!.data.buffer, frame.buffer, 'a large field is not copied');
});

test('entries from SHARED_BYTES_MIN on are views of their frame (a fill B txn of 13 KB is), shorter ones copies', () => {
  const at = new Uint8Array(codec.SHARED_BYTES_MIN).fill(1);
  const below = new Uint8Array(codec.SHARED_BYTES_MIN - 1).fill(2);
  const txn = new Uint8Array(13_000).fill(3);
  const entries = [at, below, txn].map((data, i) => ({ term: 2, index: 5 + i, type: 0 as const, data }));
  const frame = codec.encodeMessage(message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, index: 4, logTerm: 2, commit: 3, entries }));
  const decoded = codec.decodeMessage(frame).entries.map((entry) => entry.data);
  assert.deepStrictEqual(decoded, [at, below, txn]);
  assert.equal(decoded[0]!.buffer, frame.buffer);
  assert.equal(decoded[1]!.buffer.byteLength, below.length, 'copied, exactly its size');
  assert.equal(decoded[2]!.buffer, frame.buffer);
});

test('a snapshot begin frame carries the message, the metadata and the data length', () => {
  const snapshot = { metadata: { index: 10, term: 3, confState: { voters: ['a', 'b'], learners: ['c'] } }, data: bytes(1, 2, 3) };
  const original = message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 3, snapshot });
  const begin = codec.decodeSnapshotBegin(codec.encodeSnapshotBegin(original));
  assert.deepStrictEqual(begin.metadata, snapshot.metadata);
  assert.equal(begin.dataBytes, 3);
  assert.deepStrictEqual(begin.message, message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 3 }));
});

test('malformed bodies are FrameMalformedError, never another exception', () => {
  const bad: Buffer[] = [
    Buffer.from([0xc1]), // never-used msgpack byte
    Buffer.from([]),
    codec.encodeHelloAnswer({ accepted: true, reason: '' }), // right msgpack, wrong shape
    Buffer.from([0x9c, 0x01]), // truncated array
    Buffer.from(codec.encodeMessage(message({ type: MessageType.Heartbeat, from: 'a', to: 'b' }))).fill(0xff, 1, 2), // type 0xff
  ];
  const local = { ...message({ type: MessageType.Heartbeat, from: 'a', to: 'b' }), type: MessageType.Hup };
  bad.push(codec.encodeMessage(local as Message));
  for (const body of bad) {
    assert.throws(() => codec.decodeMessage(body), (error: unknown) => errors.TransportError.is(error) && error.code === 'KEEL_TRANSPORT_FRAME_MALFORMED');
  }
  for (let seed = 0; seed < 2000; seed++) {
    const body = Buffer.from(Array.from({ length: 1 + (seed % 40) }, (_, i) => (seed * 31 + i * 17) & 0xff));
    for (const decode of [codec.decodeMessage, codec.decodeHello, codec.decodeSnapshotBegin, codec.decodePing, codec.decodeHelloAnswer]) {
      try {
        decode(body);
      } catch (error) {
        assert.ok(errors.TransportError.is(error), `seed ${seed}: ${String(error)}`);
      }
    }
  }
});

class RecordingSink implements FrameSink {
  frames: [number, string][] = [];
  chunks: Buffer[] = [];
  frame(kind: FrameKind, body: Buffer): void {
    this.frames.push([kind, body.toString('hex')]);
  }
  chunkStart(): void {}
  chunkPiece(piece: Buffer): void {
    this.chunks.push(Buffer.from(piece));
  }
}

test('the frame decoder reassembles frames split at every byte and streams chunk bodies', () => {
  const ping = codec.encodePing(12.5);
  const chunk = Buffer.from('snapshot bytes');
  const stream = Buffer.concat([frameHeader(FrameKind.Ping, ping.length), ping, frameHeader(FrameKind.SnapshotChunk, chunk.length), chunk, frameHeader(FrameKind.Pong, 0)]);
  for (let split = 1; split <= stream.length; split++) {
    const sink = new RecordingSink();
    const decoder = new FrameDecoder(sink, 1024);
    for (let offset = 0; offset < stream.length; offset += split) decoder.push(stream.subarray(offset, offset + split));
    assert.deepStrictEqual(sink.frames, [[FrameKind.Ping, ping.toString('hex')], [FrameKind.Pong, '']]);
    assert.equal(Buffer.concat(sink.chunks).toString(), 'snapshot bytes');
  }
});

test('the frame decoder refuses unknown kinds and oversized frames before buffering them', () => {
  const decoder = (): FrameDecoder => new FrameDecoder(new RecordingSink(), 100);
  assert.throws(() => decoder().push(frameHeader(99 as FrameKind, 1)), { code: 'KEEL_TRANSPORT_FRAME_MALFORMED' });
  assert.throws(() => decoder().push(frameHeader(FrameKind.Message, 101)), { code: 'KEEL_TRANSPORT_FRAME_TOO_LARGE' });
});

test('the bounded queue refuses past its item and byte bounds and keeps FIFO order across growth', () => {
  const queue = new BoundedQueue<number>(100, 1000);
  for (let i = 0; i < 100; i++) assert.equal(queue.push(i, 5), true);
  assert.equal(queue.push(100, 1), false);
  for (let i = 0; i < 50; i++) assert.equal(queue.shift(), i);
  for (let i = 100; i < 150; i++) assert.equal(queue.push(i, 5), true);
  assert.equal(queue.bytes, 500);
  assert.deepStrictEqual(queue.drain(), Array.from({ length: 100 }, (_, i) => i + 50));
  const bytesBound = new BoundedQueue<number>(100, 10);
  assert.equal(bytesBound.push(1, 6), true);
  assert.equal(bytesBound.push(2, 5), false);
  assert.equal(bytesBound.push(3, 4), true);
});

test('every transport error has a unique KEEL_TRANSPORT_ code and the cross-install brand', () => {
  const samples: errors.TransportError[] = [
    new errors.TransportConfigError('x'), new errors.FrameTooLargeError(2, 1), new errors.FrameMalformedError('x'),
    new errors.HandshakeRejectedError('x'), new errors.HandshakeTimeoutError(1), new errors.PeerSilentError(1), new errors.TransportClosedError(),
  ];
  const codes = samples.map((error) => error.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const error of samples) {
    assert.match(error.code, /^KEEL_TRANSPORT_[A-Z_]+$/);
    assert.ok(errors.TransportError.is(error));
  }
  assert.equal(errors.TransportError.is(new Error('x')), false);
  assert.equal(errors.TransportError.is({ [Symbol.for('keel.transport.error')]: true }), true);
});
