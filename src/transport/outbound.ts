import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { exponentialBackoff, type Backoff } from '../resilience/backoff.js';
import { MessageType, type Message, type NodeId, type SnapshotData, type SnapshotReader } from '../raft/types.js';
import { decodeHelloAnswer, decodePing, encodeHello, encodePing, encodeSnapshotBegin } from './codec.js';
import type { PeerCounters, TransportContext } from './context.js';
import { FrameMalformedError, HandshakeRejectedError, HandshakeTimeoutError, PeerSilentError, TransportError } from './errors.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameKind, frameHeader } from './frame.js';
import { CONTROL_FRAME_BYTES_MAX, MESSAGES_BETWEEN_CHUNKS_MAX, SNAPSHOTS_PER_PEER_MAX, SOCKET_WRITE_BUFFER_BYTES } from './limits.js';
import { encodeMessageParts } from './message-encoder.js';
import { BoundedQueue } from './queue.js';

/**
 * A queued frame: a message (its body in parts, large entry data
 * referenced, see message-encoder.ts), or a snapshot to stream (its data
 * referenced, never copied, or read from its file a chunk at a time).
 */
type Outbound =
  | { readonly kind: 'message'; readonly parts: readonly Uint8Array[]; readonly bytes: number }
  | { readonly kind: 'snapshot'; readonly begin: Buffer; readonly data: SnapshotData };

interface Delayed {
  readonly dueAtMs: number;
  readonly item: Outbound;
  readonly sizeBytes: number;
}

/** A snapshot being written: reports its status exactly once. */
interface SnapshotSend {
  readonly data: SnapshotData;
  readonly socket: Socket;
  /** Data bytes handed to the socket. */
  offset: number;
  settled: boolean;
  /** Data read from a source: its reader (opened at the first read), the next chunk once read, whether a read is under way. */
  reader?: Promise<SnapshotReader>;
  ready?: Uint8Array;
  reading: boolean;
}

/** host:port or [v6]:port. */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/**
 * Everything this node sends to one peer: a bounded queue, one persistent
 * outbound connection dialled with capped exponential backoff and full
 * jitter, the drain loop that writes frames while the socket accepts them,
 * snapshot streaming interleaved with small messages, and the ping/pong
 * round trip. Inbound traffic from the peer arrives on the peer's own
 * connection (see inbound.ts) and only touches `counters`.
 */
export class PeerLink {
  readonly counters: PeerCounters;
  #address: { host: string; port: number };
  #queue: BoundedQueue<Outbound>;
  #delayLine: BoundedQueue<Delayed>;
  #delayTimer: NodeJS.Timeout | undefined;
  #snapshotsHeld = 0;

  #socket: Socket | undefined;
  #connected = false;
  #waitingDrain = false;
  #drainScheduled = false;
  #active: SnapshotSend | undefined;
  #writing = new Set<SnapshotSend>();

  #backoff: Backoff;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #lastPongAtMs = 0;
  #unreachablePending = false;
  #closed = false;

  constructor(readonly peer: NodeId, address: { host: string; port: number }, private readonly context: TransportContext, counters: PeerCounters) {
    this.#address = address;
    this.counters = counters;
    const { queueMessagesMax, queueBytesMax } = context.options;
    this.#queue = new BoundedQueue(queueMessagesMax, queueBytesMax);
    this.#delayLine = new BoundedQueue(queueMessagesMax, queueBytesMax);
    this.#backoff = this.#freshBackoff();
  }

  get connected(): boolean {
    return this.#connected;
  }

  get queuedMessages(): number {
    return this.#queue.length + this.#delayLine.length;
  }

  get queuedBytes(): number {
    return this.#queue.bytes + this.#delayLine.bytes;
  }

  /** Starts dialling if no connection or dial is under way. */
  start(): void {
    if (this.#closed || this.#socket || this.#reconnectTimer) return;
    this.#dial();
  }

  /** Queues a message; false when it was refused for overload (counted). Never blocks, never throws on network trouble. */
  send(message: Message): boolean {
    if (this.context.faults.dropsOutbound(this.peer)) {
      this.counters.faultDroppedMessages++;
      if (message.type === MessageType.Snapshot) this.#reportSnapshot(true);
      return true;
    }
    const item = this.#encode(message);
    if (item === undefined || !this.#enqueue(item)) {
      this.counters.droppedMessages++;
      if (message.type === MessageType.Snapshot) this.#reportSnapshot(true);
      this.#reportUnreachable();
      return false;
    }
    return true;
  }

  /** Points the link at a new address: the current connection is dropped and redialled at once; the queue is kept. */
  setAddress(address: { host: string; port: number }): void {
    this.#address = address;
    this.#backoff = this.#freshBackoff();
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#socket) this.#socket.destroy();
    else this.start();
  }

  /** Redials at once unless connected: after the transport learned its cluster id, a refused handshake would now pass. */
  redialIfDisconnected(): void {
    if (this.#closed || this.#connected) return;
    this.setAddress(this.#address);
  }

  /** Stops for good: drops the queue, fails held snapshots, closes the connection, clears every timer. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#delayTimer);
    clearInterval(this.#pingTimer);
    this.#reconnectTimer = this.#delayTimer = this.#pingTimer = undefined;
    for (const item of this.#queue.drain()) if (item.kind === 'snapshot') this.#reportSnapshot(true);
    for (const delayed of this.#delayLine.drain()) if (delayed.item.kind === 'snapshot') this.#reportSnapshot(true);
    this.#socket?.destroy();
  }

  #encode(message: Message): Outbound | undefined {
    if (message.type !== MessageType.Snapshot || message.snapshot === undefined) {
      try {
        const { parts, bytes } = encodeMessageParts(message);
        return { kind: 'message', parts, bytes };
      } catch (error) {
        // A field no message holds (a bug upstream): dropped as an overload drop is, and said loudly, rather than
        // thrown into the raft loop; the receiver would have refused the frame and dropped the connection.
        this.context.log('error', 'a message could not be encoded: dropped', { peer: this.peer, type: message.type, error: (error as Error).message });
        return undefined;
      }
    }
    if (this.#snapshotsHeld >= SNAPSHOTS_PER_PEER_MAX) return undefined;
    return { kind: 'snapshot', begin: encodeSnapshotBegin(message), data: message.snapshot.data };
  }

  #enqueue(item: Outbound): boolean {
    const sizeBytes = FRAME_HEADER_BYTES + (item.kind === 'message' ? item.bytes : item.begin.length);
    const { queueMessagesMax, queueBytesMax } = this.context.options;
    if (this.queuedMessages >= queueMessagesMax || this.queuedBytes + sizeBytes > queueBytesMax) return false;
    if (item.kind === 'snapshot') this.#snapshotsHeld++;
    const delayMs = this.context.faults.delayMsFor(this.peer);
    if (delayMs > 0 || this.#delayLine.length > 0) {
      // Behind earlier delayed messages even when the delay was lifted: order is kept.
      this.#delayLine.push({ dueAtMs: this.context.now() + delayMs, item, sizeBytes }, sizeBytes);
      this.#armDelayTimer();
      return true;
    }
    this.#queue.push(item, sizeBytes);
    this.#scheduleDrain();
    return true;
  }

  #armDelayTimer(): void {
    if (this.#delayTimer || this.#closed) return;
    const head = this.#delayLine.peek();
    if (!head) return;
    this.#delayTimer = setTimeout(() => this.#releaseDelayed(), Math.max(0, head.dueAtMs - this.context.now()));
  }

  #releaseDelayed(): void {
    this.#delayTimer = undefined;
    const now = this.context.now();
    for (let head = this.#delayLine.peek(); head && head.dueAtMs <= now; head = this.#delayLine.peek()) {
      this.#delayLine.shift();
      this.#queue.push(head.item, head.sizeBytes);
    }
    this.#armDelayTimer();
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || !this.#connected) return;
    this.#drainScheduled = true;
    // Batches every send() of the current tick into one corked write.
    queueMicrotask(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  /**
   * Writes queued frames until the queue is empty or the socket pushes back.
   * Small messages go first; a streaming snapshot writes one chunk per pass
   * (or after MESSAGES_BETWEEN_CHUNKS_MAX small messages), so heartbeats
   * never wait for a whole snapshot and the snapshot is never starved. A
   * snapshot read from its file has its next chunk read off the loop while
   * the socket sends the last one; small messages go on meanwhile.
   */
  #drain(): void {
    const socket = this.#socket;
    if (!socket || !this.#connected || this.#waitingDrain) return;
    socket.cork();
    let messagesSinceChunk = 0;
    let writable = true;
    while (writable) {
      const head = this.#queue.peek();
      const chunkReady = this.#active !== undefined && this.#chunkReady(this.#active);
      if (head?.kind === 'message' && (!chunkReady || messagesSinceChunk < MESSAGES_BETWEEN_CHUNKS_MAX)) {
        this.#queue.shift();
        writable = this.#writeMessage(socket, head.parts, head.bytes);
        this.counters.sentMessages++;
        messagesSinceChunk++;
      } else if (chunkReady) {
        writable = this.#writeChunk(socket, this.#active!);
        messagesSinceChunk = 0;
      } else if (!this.#active && head?.kind === 'snapshot') {
        this.#queue.shift();
        writable = this.#startSnapshot(socket, head);
      } else {
        break;
      }
    }
    if (!writable) this.#waitingDrain = true;
    socket.uncork();
  }

  /** A message frame from its parts: one write each, joined by the cork around #drain into one writev. */
  #writeMessage(socket: Socket, parts: readonly Uint8Array[], bytes: number): boolean {
    this.counters.sentBytes += FRAME_HEADER_BYTES + bytes;
    let writable = socket.write(frameHeader(FrameKind.Message, bytes));
    for (const part of parts) writable = socket.write(part);
    return writable;
  }

  #writeFrame(socket: Socket, kind: FrameKind, body: Uint8Array, done?: (error?: Error | null) => void): boolean {
    this.counters.sentBytes += FRAME_HEADER_BYTES + body.length;
    socket.write(frameHeader(kind, body.length));
    return socket.write(body, done);
  }

  #startSnapshot(socket: Socket, item: Extract<Outbound, { kind: 'snapshot' }>): boolean {
    this.#snapshotsHeld--;
    this.counters.sentMessages++;
    const send: SnapshotSend = { data: item.data, socket, offset: 0, settled: false, reading: false };
    this.#writing.add(send);
    if (item.data.length === 0) return this.#writeFrame(socket, FrameKind.SnapshotBegin, item.begin, (error) => this.#settle(send, !!error));
    this.#active = send;
    return this.#writeFrame(socket, FrameKind.SnapshotBegin, item.begin);
  }

  /** True when the active snapshot's next chunk can be written now; otherwise its read is under way (started here if not). */
  #chunkReady(send: SnapshotSend): boolean {
    if (send.data instanceof Uint8Array || send.ready !== undefined) return true;
    if (!send.reading) this.#readAhead(send, send.data);
    return false;
  }

  #readAhead(send: SnapshotSend, source: Exclude<SnapshotData, Uint8Array>): void {
    send.reading = true;
    send.reader ??= source.open();
    send.reader
      .then((reader) => reader.next(this.context.options.snapshotChunkBytes))
      .then((chunk) => {
        send.reading = false;
        if (send.settled) return this.#closeReader(send);
        if (chunk.length === 0 || send.offset + chunk.length > source.length) throw new FrameMalformedError(`the snapshot source gave ${send.offset + chunk.length} of ${source.length} bytes`);
        send.ready = chunk;
        this.#scheduleDrain();
      })
      .catch((error: unknown) => {
        send.reading = false;
        if (send.settled) return this.#closeReader(send);
        // Its begin frame is out: only dropping the connection tells the peer to discard what it has.
        this.context.log('warn', 'a snapshot could not be read to send: dropping the connection', { peer: this.peer, error: (error as Error).message });
        send.socket.destroy();
      });
  }

  #writeChunk(socket: Socket, send: SnapshotSend): boolean {
    let chunk: Uint8Array;
    if (send.data instanceof Uint8Array) {
      chunk = send.data.subarray(send.offset, Math.min(send.data.length, send.offset + this.context.options.snapshotChunkBytes));
    } else {
      chunk = send.ready!;
      send.ready = undefined;
    }
    send.offset += chunk.length;
    if (send.offset < send.data.length) return this.#writeFrame(socket, FrameKind.SnapshotChunk, chunk);
    this.#active = undefined;
    return this.#writeFrame(socket, FrameKind.SnapshotChunk, chunk, (error) => this.#settle(send, !!error));
  }

  #closeReader(send: SnapshotSend): void {
    const reader = send.reader;
    send.reader = undefined;
    reader?.then((opened) => opened.close()).catch(() => undefined);
  }

  /** Reports a snapshot's outcome once: success when its last byte was handed to the kernel, failure if the connection went first. */
  #settle(send: SnapshotSend, failed: boolean): void {
    if (send.settled) return;
    send.settled = true;
    this.#writing.delete(send);
    send.ready = undefined;
    if (!send.reading) this.#closeReader(send); // else once the read is over: closing a descriptor under a read could let it read a file opened meanwhile
    this.#reportSnapshot(failed);
  }

  #reportSnapshot(failed: boolean): void {
    queueMicrotask(() => {
      if (!this.context.closed()) this.context.onSnapshotStatus(this.peer, failed);
    });
  }

  /** Coalesced: one callback per burst of trouble. */
  #reportUnreachable(): void {
    if (this.#unreachablePending) return;
    this.#unreachablePending = true;
    queueMicrotask(() => {
      this.#unreachablePending = false;
      if (!this.context.closed() && !this.#closed) this.context.onUnreachable(this.peer);
    });
  }

  #freshBackoff(): Backoff {
    const { reconnectDelayMsMin, reconnectDelayMsMax } = this.context.options;
    const random = { next: () => this.context.random.int(0x1_0000_0000) / 0x1_0000_0000 };
    return exponentialBackoff({ initialDelayMs: reconnectDelayMsMin, maxDelayMs: reconnectDelayMsMax, jitter: 'full' }).start(random);
  }

  #dial(): void {
    const { host, port } = this.#address;
    const tls = this.context.tlsClient?.();
    const connectOptions = { host, port, noDelay: true, keepAlive: true, writableHighWaterMark: SOCKET_WRITE_BUFFER_BYTES };
    // Over TLS the Hello waits for the handshake, so a peer whose certificate fails verification never sees a frame.
    const socket: Socket = tls ? connectTls({ ...connectOptions, ...tls }) : connect(connectOptions as unknown as NetConnectOpts);
    const connected = tls ? 'secureConnect' : 'connect';
    this.#socket = socket;
    this.context.track(socket);
    const timeoutMs = this.context.options.handshakeTimeoutMs;
    socket.setTimeout(timeoutMs, () => socket.destroy(new HandshakeTimeoutError(timeoutMs)));
    const decoder = new FrameDecoder(
      { frame: (kind, body) => this.#onFrame(socket, kind, body), chunkStart: () => this.#unexpected(), chunkPiece: () => this.#unexpected() },
      CONTROL_FRAME_BYTES_MAX,
    );
    socket.on(connected, () => {
      const hello = encodeHello({ clusterId: this.context.options.clusterId, from: this.context.options.id, to: this.peer });
      this.#writeFrame(socket, FrameKind.Hello, hello);
    });
    socket.on('data', (data: Buffer) => {
      this.counters.receivedBytes += data.length;
      try {
        decoder.push(data);
      } catch (error) {
        if (!TransportError.is(error)) throw error;
        if (error.code !== 'KEEL_TRANSPORT_HANDSHAKE_REJECTED') this.context.counters.malformedFrames++;
        socket.destroy(error);
      }
    });
    socket.on('drain', () => {
      this.#waitingDrain = false;
      this.#drain();
    });
    socket.on('error', (error) => this.context.log('debug', 'peer connection failed', { peer: this.peer, code: (error as NodeJS.ErrnoException).code, error: error.message }));
    socket.on('close', () => this.#onClose(socket));
  }

  #unexpected(): never {
    throw new FrameMalformedError('snapshot chunk on an outbound connection');
  }

  #onFrame(socket: Socket, kind: FrameKind, body: Buffer): void {
    if (kind === FrameKind.Pong && this.#connected) return this.#onPong(body);
    if (kind !== FrameKind.HelloAnswer || this.#connected) throw new FrameMalformedError(`frame kind ${kind} unexpected on an outbound connection`);
    const answer = decodeHelloAnswer(body);
    if (!answer.accepted) {
      this.context.counters.rejectedHandshakes++;
      this.context.log('warn', 'peer refused the handshake', { peer: this.peer, reason: answer.reason });
      this.context.onHandshakeRejected(this.peer, answer.reason);
      throw new HandshakeRejectedError(answer.reason);
    }
    socket.setTimeout(0);
    this.#connected = true;
    this.counters.connects++;
    this.#backoff = this.#freshBackoff();
    this.#lastPongAtMs = this.context.now();
    this.#pingTimer = setInterval(() => this.#ping(socket), this.context.options.pingIntervalMs);
    this.#ping(socket);
    this.#scheduleDrain();
  }

  #ping(socket: Socket): void {
    const silentMs = this.context.now() - this.#lastPongAtMs;
    if (silentMs > this.context.options.pongTimeoutMs) {
      socket.destroy(new PeerSilentError(silentMs));
      return;
    }
    // A ping behind a full socket buffer would measure the queue, not the network.
    if (!this.#waitingDrain) this.#writeFrame(socket, FrameKind.Ping, encodePing(this.context.now()));
  }

  #onPong(body: Buffer): void {
    const now = this.context.now();
    const seconds = Math.max(0, now - decodePing(body)) / 1000;
    this.#lastPongAtMs = now;
    this.counters.roundTripSeconds = seconds;
    if (!this.context.closed()) this.context.onRoundTrip(this.peer, seconds);
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return;
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#socket = undefined;
    this.#connected = false;
    this.#waitingDrain = false;
    this.#active = undefined;
    for (const send of [...this.#writing]) this.#settle(send, true);
    if (this.#closed || this.context.closed()) return;
    this.#reportUnreachable();
    const delayMs = Math.round(this.#backoff.delayMs);
    this.#backoff = this.#backoff.next();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.start();
    }, delayMs);
  }
}
