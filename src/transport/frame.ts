import { FrameMalformedError, FrameTooLargeError } from './errors.js';

/**
 * Framing. Every frame is a 5-byte header, then the body:
 *
 *     u32 big-endian body length | u8 kind | body
 *
 * Bodies are msgpack, except `SnapshotChunk`, whose body is raw snapshot
 * bytes (so a chunk is never re-encoded, and the receiver copies it once,
 * straight into the snapshot's buffer).
 */
export const FrameKind = {
  /** Dialer -> listener, first frame: [magic, version, clusterId, from, to]. */
  Hello: 1,
  /** Listener -> dialer: [accepted, reason]. */
  HelloAnswer: 2,
  /** One raft message (not a snapshot): see codec.ts. */
  Message: 3,
  /** A Snapshot message without its data, and the data's length; chunk frames follow. */
  SnapshotBegin: 4,
  /** Raw snapshot bytes, in order, until the declared length is reached. */
  SnapshotChunk: 5,
  /** Dialer -> listener: [sentAtMs]. */
  Ping: 6,
  /** Listener -> dialer: the ping's body echoed. */
  Pong: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const FRAME_HEADER_BYTES = 5;

const KIND_MAX = FrameKind.Pong;

/** The header of a frame whose body is `bodyBytes` long. */
export function frameHeader(kind: FrameKind, bodyBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(bodyBytes, 0);
  header.writeUInt8(kind, 4);
  return header;
}

/** Receives decoded frames. Chunk bodies arrive in pieces; other bodies whole. */
export interface FrameSink {
  /** A complete non-chunk frame. `body` may be a view into socket memory: decode or copy it before returning. */
  frame(kind: FrameKind, body: Buffer): void;
  /** A chunk frame of `bodyBytes` starts; its pieces follow. */
  chunkStart(bodyBytes: number): void;
  /** A piece of the current chunk frame, a view into socket memory. */
  chunkPiece(piece: Buffer): void;
}

/**
 * Splits a byte stream into frames. Bodies are sliced out of the incoming
 * buffers without a copy when they lie in one buffer; a body spread over
 * several is joined once. Chunk frames are streamed to the sink as they
 * arrive and never buffered. Throws a TransportError on anything malformed;
 * the caller drops the connection.
 */
export class FrameDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Kind of the frame whose body is being read, or 0 while reading a header. */
  #kind = 0;
  #bodyBytesLeft = 0;

  constructor(private readonly sink: FrameSink, private bodyBytesMax: number) {}

  /** Changes the body limit (raised once a handshake succeeds). */
  setBodyBytesMax(bodyBytesMax: number): void {
    this.bodyBytesMax = bodyBytesMax;
  }

  push(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      offset = this.#kind === 0 ? this.#readHeader(data, offset) : this.#readBody(data, offset);
    }
  }

  #readHeader(data: Buffer, offset: number): number {
    const needed = FRAME_HEADER_BYTES - this.#pendingBytes;
    const take = Math.min(needed, data.length - offset);
    this.#pending.push(data.subarray(offset, offset + take));
    this.#pendingBytes += take;
    if (this.#pendingBytes < FRAME_HEADER_BYTES) return offset + take;
    const header = this.#takePending();
    const bodyBytes = header.readUInt32BE(0);
    const kind = header.readUInt8(4);
    if (kind < 1 || kind > KIND_MAX) throw new FrameMalformedError(`unknown frame kind ${kind}`);
    if (bodyBytes > this.bodyBytesMax) throw new FrameTooLargeError(bodyBytes, this.bodyBytesMax);
    this.#kind = kind;
    this.#bodyBytesLeft = bodyBytes;
    if (kind === FrameKind.SnapshotChunk) this.sink.chunkStart(bodyBytes);
    if (bodyBytes === 0) this.#finishBody();
    return offset + take;
  }

  #readBody(data: Buffer, offset: number): number {
    const take = Math.min(this.#bodyBytesLeft, data.length - offset);
    const piece = data.subarray(offset, offset + take);
    this.#bodyBytesLeft -= take;
    if (this.#kind === FrameKind.SnapshotChunk) {
      this.sink.chunkPiece(piece);
    } else {
      this.#pending.push(piece);
      this.#pendingBytes += take;
    }
    if (this.#bodyBytesLeft === 0) this.#finishBody();
    return offset + take;
  }

  #finishBody(): void {
    const kind = this.#kind as FrameKind;
    this.#kind = 0;
    if (kind === FrameKind.SnapshotChunk) return;
    this.sink.frame(kind, this.#takePending());
  }

  #takePending(): Buffer {
    const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return joined;
  }
}
