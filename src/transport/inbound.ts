import type { Socket } from 'node:net';
import type { Message, NodeId, SnapshotMetadata } from '../raft/types.js';
import { decodeHello, decodeMessage, decodeSnapshotBegin, encodeHelloAnswer } from './codec.js';
import type { PeerCounters, TransportContext } from './context.js';
import { FrameMalformedError, FrameTooLargeError, HandshakeRejectReason, HandshakeTimeoutError, TransportError } from './errors.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameKind, frameHeader } from './frame.js';
import { HANDSHAKE_FRAME_BYTES_MAX, PROTOCOL_VERSION } from './limits.js';

/** What an inbound connection needs from its transport to authenticate a peer. */
export interface InboundHost {
  /** The counters of a known peer, undefined for an unknown one. */
  peerCounters(peer: NodeId): PeerCounters | undefined;
  /** The handshake succeeded: the transport keeps one inbound connection per peer and drops an older one. */
  attach(peer: NodeId, connection: InboundConnection): void;
  detach(peer: NodeId, connection: InboundConnection): void;
}

/** A snapshot being received: its buffer is allocated once at the declared size and filled in place. */
interface SnapshotReceive {
  readonly message: Message;
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
  offset: number;
}

/**
 * One connection a peer dialled to us. It only receives raft traffic: the
 * first frame must be a valid Hello from a known peer of this cluster
 * addressed to this node; after that it carries messages, snapshots and
 * pings (answered with pongs). Anything malformed closes the connection.
 */
export class InboundConnection {
  #peer: NodeId | undefined;
  #counters: PeerCounters | undefined;
  /** Bytes read before the peer was known, credited to it on handshake. */
  #bytesBeforeHandshake = 0;
  #receive: SnapshotReceive | undefined;
  #refused = false;
  readonly #decoder: FrameDecoder;

  constructor(readonly socket: Socket, private readonly context: TransportContext, private readonly host: InboundHost) {
    this.#decoder = new FrameDecoder(
      { frame: (kind, body) => this.#onFrame(kind, body), chunkStart: (bytes) => this.#onChunkStart(bytes), chunkPiece: (piece) => this.#onChunkPiece(piece) },
      HANDSHAKE_FRAME_BYTES_MAX,
    );
    const timeoutMs = context.options.handshakeTimeoutMs;
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.setTimeout(timeoutMs, () => socket.destroy(new HandshakeTimeoutError(timeoutMs)));
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error) => context.log('debug', 'inbound connection failed', { peer: this.#peer, error: error.message }));
    socket.on('close', () => {
      if (this.#peer !== undefined) host.detach(this.#peer, this);
    });
  }

  get peer(): NodeId | undefined {
    return this.#peer;
  }

  #onData(data: Buffer): void {
    if (this.#refused) return;
    if (this.#counters) this.#counters.receivedBytes += data.length;
    else this.#bytesBeforeHandshake += data.length;
    try {
      this.#decoder.push(data);
    } catch (error) {
      // Only protocol errors end here; an exception thrown by `deliver` is the caller's and propagates.
      if (!TransportError.is(error)) throw error;
      this.context.counters.malformedFrames++;
      this.context.log('warn', 'closing a peer connection after a malformed frame', { peer: this.#peer, code: error.code, error: error.message });
      this.socket.destroy();
    }
  }

  #onFrame(kind: FrameKind, body: Buffer): void {
    if (this.#refused) return;
    if (this.#peer === undefined) {
      if (kind !== FrameKind.Hello) throw new FrameMalformedError(`frame kind ${kind} before the handshake`);
      return this.#onHello(body);
    }
    switch (kind) {
      case FrameKind.Message:
        return this.#accept(this.#checked(decodeMessage(body)));
      case FrameKind.SnapshotBegin:
        return this.#onSnapshotBegin(body);
      case FrameKind.Ping:
        return this.#write(FrameKind.Pong, body);
      default:
        throw new FrameMalformedError(`frame kind ${kind} unexpected on an inbound connection`);
    }
  }

  #onHello(body: Buffer): void {
    const hello = decodeHello(body);
    const { id, clusterId } = this.context.options;
    const counters = this.host.peerCounters(hello.from);
    // A joining node learns its cluster id from the first known peer that dials it (the leader, once it has added this node).
    const learning = clusterId === '' && hello.clusterId !== '' && this.context.learnsClusterId();
    const reason =
      hello.version !== PROTOCOL_VERSION ? HandshakeRejectReason.Version
      : hello.clusterId !== clusterId && !learning ? HandshakeRejectReason.Cluster
      : hello.to !== id ? HandshakeRejectReason.WrongAddressee
      : hello.from !== id && this.context.isRemoved(hello.from) ? HandshakeRejectReason.Removed
      : counters === undefined || hello.from === id ? HandshakeRejectReason.UnknownSender
      : undefined;
    if (reason !== undefined || counters === undefined) {
      this.context.counters.rejectedHandshakes++;
      this.context.log('warn', 'refused a peer handshake', { from: hello.from, reason, remote: this.socket.remoteAddress });
      this.#write(FrameKind.HelloAnswer, encodeHelloAnswer({ accepted: false, reason: reason ?? HandshakeRejectReason.UnknownSender }));
      this.#refused = true;
      this.socket.end(); // the handshake timeout still destroys it if the dialer never closes
      return;
    }
    if (learning) this.context.learnClusterId(hello.clusterId);
    this.#peer = hello.from;
    this.#counters = counters;
    counters.receivedBytes += this.#bytesBeforeHandshake;
    this.socket.setTimeout(0);
    this.#decoder.setBodyBytesMax(this.context.options.frameBytesMax);
    this.context.counters.acceptedConnections++;
    this.host.attach(hello.from, this);
    this.#write(FrameKind.HelloAnswer, encodeHelloAnswer({ accepted: true, reason: '' }));
  }

  /** A message must come from the authenticated peer and be addressed to this node. */
  #checked(message: Message): Message {
    if (message.from !== this.#peer || message.to !== this.context.options.id) {
      throw new FrameMalformedError(`message from ${message.from} to ${message.to} on the connection of ${this.#peer}`);
    }
    return message;
  }

  #accept(message: Message): void {
    const counters = this.#counters!;
    if (this.context.faults.dropsInbound(this.#peer!)) {
      counters.faultDroppedMessages++;
      return;
    }
    counters.receivedMessages++;
    this.context.deliver(this.#peer!, message);
  }

  #onSnapshotBegin(body: Buffer): void {
    if (this.#receive) throw new FrameMalformedError('a snapshot began before the previous one ended');
    const begin = decodeSnapshotBegin(body);
    const message = this.#checked(begin.message);
    const { snapshotBytesMax } = this.context.options;
    if (begin.dataBytes > snapshotBytesMax) throw new FrameTooLargeError(begin.dataBytes, snapshotBytesMax);
    this.#receive = { message, metadata: begin.metadata, data: new Uint8Array(begin.dataBytes), offset: 0 };
    if (begin.dataBytes === 0) this.#finishSnapshot();
  }

  #onChunkStart(bodyBytes: number): void {
    const receive = this.#receive;
    if (!receive) throw new FrameMalformedError('a snapshot chunk outside a snapshot');
    if (receive.offset + bodyBytes > receive.data.length) throw new FrameMalformedError('snapshot chunks exceed the declared size');
  }

  #onChunkPiece(piece: Buffer): void {
    const receive = this.#receive!;
    receive.data.set(piece, receive.offset);
    receive.offset += piece.length;
    if (receive.offset === receive.data.length) this.#finishSnapshot();
  }

  #finishSnapshot(): void {
    const { message, metadata, data } = this.#receive!;
    this.#receive = undefined;
    this.#accept({ ...message, snapshot: { metadata, data } });
  }

  #write(kind: FrameKind, body: Buffer): void {
    if (this.#counters) this.#counters.sentBytes += FRAME_HEADER_BYTES + body.length;
    this.socket.write(frameHeader(kind, body.length));
    this.socket.write(body);
  }
}
