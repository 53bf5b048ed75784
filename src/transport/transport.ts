import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { MessageType, type Message, type NodeId } from '../raft/types.js';
import { NETWORK_MESSAGE_TYPES } from './codec.js';
import { newPeerCounters, type PeerCounters, type ResolvedOptions, type TransportContext, type TransportCounters, type TransportLog } from './context.js';
import { TransportClosedError, TransportConfigError } from './errors.js';
import { FaultHook, systemTransportRandom, type TransportRandom } from './faults.js';
import { InboundConnection, type InboundHost } from './inbound.js';
import * as limits from './limits.js';
import { PeerLink, parseAddress } from './outbound.js';

/** Options of a {@link PeerTransport}. Only `id`, `listenHost`, `listenPort`, `peers` and `deliver` are required. */
export interface TransportOptions {
  /** This node's id; sent in the handshake, and every outbound message must carry it as `from`. */
  id: NodeId;
  /** Address the listener binds (e.g. '127.0.0.1', '0.0.0.0', '::'). */
  listenHost: string;
  /** Port the listener binds; 0 picks an ephemeral port (tests), reported by listen(). */
  listenPort: number;
  /** Peers: id -> "host:port" (or "[v6]:port") of that peer's transport listener. Only these may connect to us. */
  peers: Record<NodeId, string>;
  /**
   * Called for every inbound raft message, synchronously from the socket's
   * data event, in order per connection. Messages from one peer arrive in
   * the order it sent them, except that a Snapshot is delivered when its last
   * chunk arrives, possibly after smaller messages sent later. Binary fields
   * are plain Uint8Arrays owned by the message. Exceptions thrown here are
   * not caught (an invariant failure in the core should crash the node).
   */
  deliver: (message: Message) => void;
  /** A connection to `peer` failed or was lost, or a message to it was dropped for overload: raft's reportUnreachable. Coalesced, never called from inside send(). */
  onUnreachable?: (peer: NodeId) => void;
  /** A Snapshot message to `peer` was fully handed to the kernel (failed = false), or was dropped or cut off (failed = true): raft's reportSnapshot. Exactly once per Snapshot message sent, never from inside send(). */
  onSnapshotStatus?: (peer: NodeId, failed: boolean) => void;
  /** A round trip to `peer` measured by ping/pong (once per `pingIntervalMs`), in seconds: feed keel_peer_round_trip_seconds{peer}. */
  onRoundTrip?: (peer: NodeId, seconds: number) => void;
  /** Jitter and fault-drop source (default Math.random); inject a seeded one in tests. */
  random?: TransportRandom;
  /** Per-peer outbound bound in messages (default 4096), delayed messages included. */
  queueMessagesMax?: number;
  /** Per-peer outbound bound in encoded bytes (default 64 MiB); snapshot data is referenced and not counted. */
  queueBytesMax?: number;
  /** Largest inbound frame body accepted once a peer is authenticated (default 16 MiB); a larger one closes the connection. */
  frameBytesMax?: number;
  /** Snapshot data is streamed in chunks of this size (default 1 MiB, at most frameBytesMax). */
  snapshotChunkBytes?: number;
  /** Largest snapshot this node accepts (default 2 GiB - 1); the receiver allocates the declared size once. */
  snapshotBytesMax?: number;
  /** Reconnect backoff base in ms (default 50): the n-th retry waits uniform(0, min(max, min × 2^(n-1))). Reset on a successful handshake. */
  reconnectDelayMsMin?: number;
  /** Reconnect backoff cap in ms (default 5000). */
  reconnectDelayMsMax?: number;
  /** Handshake: peers with another cluster id are refused (default ''). */
  clusterId?: string;
  /**
   * Set (with clusterId '') by a node joining a running cluster that does
   * not know the cluster id yet: the first handshake from a known peer sets
   * it, this is called once with it, and links refused meanwhile redial.
   */
  onClusterIdLearned?: (clusterId: string) => void;
  /** Peers the node knows were removed from the cluster: their handshakes are refused with reason 'removed', so they stop. */
  isRemoved?: (peer: NodeId) => boolean;
  /** A peer refused this node's handshake; `reason` is a HandshakeRejectReason ('removed': this node was removed). */
  onHandshakeRejected?: (peer: NodeId, reason: string) => void;
  /** Connect plus handshake must finish within this, either side (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Ping period per outbound connection (default 1000 ms). */
  pingIntervalMs?: number;
  /** An outbound connection without a pong for this long is redialled (default 10000 ms). */
  pongTimeoutMs?: number;
  /** Monotonic clock in ms (default performance.now); used for RTT and fault delays. */
  now?: () => number;
  /** Mutual TLS between peers; without it raft traffic is cleartext TCP. */
  tls?: PeerTlsOptions;
  /** Structured log sink; the transport logs connection churn at debug, refused and malformed peers at warn. Default: silent. */
  log?: TransportLog;
}

/**
 * Peer TLS. The listener asks for a client certificate when
 * `verifyClients`, and refuses (before reading a frame) a peer whose
 * certificate is missing or not signed by a trusted CA, or whose CommonName
 * is not `allowedCommonName`: logged at warn with the name it presented,
 * counted in `rejectedCertificates`. Both option functions are called again
 * by reloadTls() / at each dial, so rotated files apply without a restart.
 */
export interface PeerTlsOptions {
  /** Listener options (cert, key, ca, ciphers, minVersion). rejectUnauthorized is ignored: the check is by hand, to log the refused name. */
  server: () => TlsOptions;
  /** Dialling options (client certificate, ca). */
  client: () => ConnectionOptions;
  verifyClients: boolean;
  allowedCommonName?: string | undefined;
}

/** One peer's figures, from {@link PeerTransport.stats}. Counters are totals since the peer was added. */
export interface PeerStats extends PeerCounters {
  /** An outbound connection to the peer is established and its handshake accepted. */
  connected: boolean;
  /** Messages waiting in the peer's queue (delayed ones included). */
  queuedMessages: number;
  /** Encoded bytes waiting in the peer's queue. */
  queuedBytes: number;
}

function bounded(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min || resolved > max) throw new TransportConfigError(`${name} must be an integer in ${min}..${max}`);
  return resolved;
}

function resolveOptions(options: TransportOptions): ResolvedOptions {
  if (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > limits.ID_LENGTH_MAX) throw new TransportConfigError('id must be a non-empty string');
  const clusterId = options.clusterId ?? '';
  if (clusterId.length > limits.ID_LENGTH_MAX) throw new TransportConfigError('clusterId is too long');
  const frameBytesMax = bounded('frameBytesMax', options.frameBytesMax, limits.FRAME_BYTES_DEFAULT, limits.HANDSHAKE_FRAME_BYTES_MAX, limits.FRAME_BYTES_MAX);
  const reconnectDelayMsMin = bounded('reconnectDelayMsMin', options.reconnectDelayMsMin, limits.RECONNECT_DELAY_MS_MIN_DEFAULT, 1, limits.RECONNECT_DELAY_MS_LIMIT);
  return {
    id: options.id,
    clusterId,
    queueMessagesMax: bounded('queueMessagesMax', options.queueMessagesMax, limits.QUEUE_MESSAGES_DEFAULT, 1, limits.QUEUE_MESSAGES_MAX),
    queueBytesMax: bounded('queueBytesMax', options.queueBytesMax, limits.QUEUE_BYTES_DEFAULT, 1024, limits.QUEUE_BYTES_MAX),
    frameBytesMax,
    snapshotChunkBytes: bounded('snapshotChunkBytes', options.snapshotChunkBytes, Math.min(limits.SNAPSHOT_CHUNK_BYTES_DEFAULT, frameBytesMax), limits.SNAPSHOT_CHUNK_BYTES_MIN, frameBytesMax),
    snapshotBytesMax: bounded('snapshotBytesMax', options.snapshotBytesMax, limits.SNAPSHOT_BYTES_DEFAULT, 0, limits.SNAPSHOT_BYTES_MAX),
    reconnectDelayMsMin,
    reconnectDelayMsMax: bounded('reconnectDelayMsMax', options.reconnectDelayMsMax, Math.max(reconnectDelayMsMin, limits.RECONNECT_DELAY_MS_MAX_DEFAULT), reconnectDelayMsMin, limits.RECONNECT_DELAY_MS_LIMIT),
    handshakeTimeoutMs: bounded('handshakeTimeoutMs', options.handshakeTimeoutMs, limits.HANDSHAKE_TIMEOUT_MS_DEFAULT, 1, limits.TIMING_MS_MAX),
    pingIntervalMs: bounded('pingIntervalMs', options.pingIntervalMs, limits.PING_INTERVAL_MS_DEFAULT, 1, limits.TIMING_MS_MAX),
    pongTimeoutMs: bounded('pongTimeoutMs', options.pongTimeoutMs, limits.PONG_TIMEOUT_MS_DEFAULT, 1, limits.TIMING_MS_MAX),
  };
}

function checkedAddress(peer: NodeId, address: string): { host: string; port: number } {
  const parsed = parseAddress(address);
  if (!parsed) throw new TransportConfigError(`peer ${peer}: address '${address}' is not host:port`);
  return parsed;
}

/**
 * The peer transport (issue 3): persistent TCP connections between nodes
 * carrying length-prefixed msgpack frames.
 *
 * - Each node dials every peer it knows once `listen()` has been called (or
 *   at the first send) and sends on that connection only; connections it
 *   accepts only receive. A handshake (protocol version, cluster id, sender,
 *   addressee) comes first; unknown senders and other clusters are refused.
 * - One bounded queue per peer; `send()` encodes, enqueues and returns at
 *   once. A full queue drops the message and counts it. Draining pauses
 *   while the socket pushes back and resumes on 'drain'.
 * - Lost connections are redialled with capped exponential backoff and full
 *   jitter; queued messages wait (up to the bound) and go out on reconnect.
 * - Snapshots are streamed in chunks straight from the caller's buffer,
 *   interleaved with small messages so heartbeats keep flowing; the receiver
 *   copies each chunk once into a buffer of the declared size.
 * - Ping/pong once per `pingIntervalMs` measures the round trip; `stats()`
 *   reports byte and message counters per peer for the node's metrics.
 * - `faults` drops, delays or partitions raft traffic for tests.
 */
export class PeerTransport {
  /** Fault injection for tests and the bench; see {@link FaultHook}. */
  readonly faults: FaultHook;
  readonly #options: ResolvedOptions;
  readonly #callbacks: TransportOptions;
  readonly #links = new Map<NodeId, PeerLink>();
  readonly #inbound = new Map<NodeId, InboundConnection>();
  readonly #sockets = new Set<Socket>();
  readonly #counters: TransportCounters = { malformedFrames: 0, rejectedHandshakes: 0, unknownPeerDrops: 0, acceptedConnections: 0, rejectedCertificates: 0 };
  readonly #context: TransportContext;
  #server: Server | undefined;
  #started = false;
  #closed = false;

  constructor(options: TransportOptions) {
    this.#options = resolveOptions(options);
    this.#callbacks = options;
    const random = options.random ?? systemTransportRandom;
    this.faults = new FaultHook(random);
    this.#context = this.#makeContext(options, random);
    const peers = Object.entries(options.peers);
    if (peers.length > limits.PEERS_MAX) throw new TransportConfigError(`at most ${limits.PEERS_MAX} peers`);
    for (const [peer, address] of peers) {
      if (peer !== this.#options.id) this.#addLink(peer, checkedAddress(peer, address));
    }
  }

  /** Binds the listener and starts dialling every peer. Resolves with the bound port. */
  async listen(): Promise<{ port: number }> {
    if (this.#closed) throw new TransportClosedError();
    assert(!this.#server, 'listen() called twice');
    const tls = this.#callbacks.tls;
    const server = tls
      ? // A TLS handshake must finish within the raft handshake timeout (Node's default is 120 s): half-open handshakes
        // would otherwise hold INBOUND_CONNECTIONS_MAX slots and lock real peers out.
        createTlsServer({ ...tls.server(), requestCert: tls.verifyClients, rejectUnauthorized: false, handshakeTimeout: this.#options.handshakeTimeoutMs }, (socket) => this.#acceptSecure(socket, tls))
      : createServer((socket) => this.#accept(socket));
    if (tls) server.on('tlsClientError', (error: Error, socket: TLSSocket) => this.#context.log('debug', 'peer TLS handshake failed', { remote: socket.remoteAddress, error: error.message }));
    server.maxConnections = limits.INBOUND_CONNECTIONS_MAX;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#callbacks.listenPort, this.#callbacks.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.#context.log('error', 'peer listener failed', { error: error.message }));
    this.#started = true;
    for (const link of this.#links.values()) link.start();
    const address = server.address();
    assert(address !== null && typeof address === 'object');
    return { port: address.port };
  }

  /**
   * Queues `message` for `message.to`. Never blocks and never throws on
   * network trouble. Returns false when the message was dropped here: the
   * peer is unknown, or its queue is full (both counted). A message dropped
   * by the fault hook returns true, as a message lost on the wire would.
   * A Snapshot message always gets exactly one `onSnapshotStatus`, dropped
   * or not. Sending a local message type, or one whose `from` is not this
   * node, is a caller bug (assertion): the receiver would refuse it and drop
   * the connection.
   */
  send(message: Message): boolean {
    assert(NETWORK_MESSAGE_TYPES.has(message.type), `message type ${message.type} is local and never sent`);
    assert(message.from === this.#options.id, `message from ${message.from} sent by node ${this.#options.id}`);
    const link = this.#closed ? undefined : this.#links.get(message.to);
    if (!link) {
      this.#counters.unknownPeerDrops++;
      if (message.type === MessageType.Snapshot && !this.#closed) {
        queueMicrotask(() => this.#context.onSnapshotStatus(message.to, true));
      }
      return false;
    }
    if (!this.#started) link.start();
    return link.send(message);
  }

  /** Adds a peer, or changes its address (its connection is redialled; queued messages are kept). */
  setPeer(id: NodeId, address: string): void {
    if (this.#closed || id === this.#options.id) return;
    const parsed = checkedAddress(id, address);
    const link = this.#links.get(id);
    if (!link) {
      if (this.#links.size >= limits.PEERS_MAX) throw new TransportConfigError(`at most ${limits.PEERS_MAX} peers`);
      const added = this.#addLink(id, parsed);
      if (this.#started) added.start();
      return;
    }
    link.setAddress(parsed);
  }

  /** Forgets a peer: its queue is dropped (held snapshots reported failed), its connections in both directions closed. */
  removePeer(id: NodeId): void {
    this.#links.get(id)?.close();
    this.#links.delete(id);
    this.#inbound.get(id)?.socket.destroy();
    this.#inbound.delete(id);
  }

  /** Re-reads the listener's TLS options (certificate rotation); connections already open keep theirs. No-op without TLS. */
  reloadTls(): void {
    const tls = this.#callbacks.tls;
    const server = this.#server;
    if (!tls || !server || !('setSecureContext' in server)) return;
    (server as unknown as { setSecureContext(options: TlsOptions): void }).setSecureContext(tls.server());
  }

  /** A snapshot of every known peer's figures (a new Map each call); poll it from the metrics collector. */
  stats(): Map<NodeId, PeerStats> {
    const result = new Map<NodeId, PeerStats>();
    for (const [peer, link] of this.#links) {
      result.set(peer, { ...link.counters, connected: link.connected, queuedMessages: link.queuedMessages, queuedBytes: link.queuedBytes });
    }
    return result;
  }

  /** Transport-wide counters (malformed frames, refused handshakes, sends to unknown peers, accepted connections). */
  counters(): Readonly<TransportCounters> {
    return { ...this.#counters };
  }

  /** Closes the listener and every connection, clears every timer; resolves when every socket has closed. No callbacks fire after close() begins. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Promise<unknown>[] = [...this.#sockets].map((socket) => once(socket, 'close'));
    const server = this.#server;
    if (server) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    for (const link of this.#links.values()) link.close();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(closing);
  }

  #addLink(peer: NodeId, address: { host: string; port: number }): PeerLink {
    const link = new PeerLink(peer, address, this.#context, newPeerCounters());
    this.#links.set(peer, link);
    return link;
  }

  /** A TLS peer connection: its certificate is checked before any frame is read. */
  #acceptSecure(socket: TLSSocket, tls: PeerTlsOptions): void {
    const refusal = certificateRefusal(socket, tls);
    if (refusal !== undefined) {
      this.#counters.rejectedCertificates++;
      this.#context.log('warn', 'refused a peer certificate', { ...refusal, remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    this.#accept(socket);
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#context.track(socket);
    const host: InboundHost = {
      peerCounters: (peer) => this.#links.get(peer)?.counters,
      attach: (peer, connection) => {
        const previous = this.#inbound.get(peer);
        this.#inbound.set(peer, connection);
        // The peer redialled: its old connection is dead or dying.
        if (previous && previous !== connection) previous.socket.destroy();
      },
      detach: (peer, connection) => {
        if (this.#inbound.get(peer) === connection) this.#inbound.delete(peer);
      },
    };
    new InboundConnection(socket, this.#context, host);
  }

  #makeContext(options: TransportOptions, random: TransportRandom): TransportContext {
    const live = (): boolean => !this.#closed;
    return {
      options: this.#options,
      faults: this.faults,
      random,
      counters: this.#counters,
      tlsClient: options.tls?.client,
      now: options.now ?? (() => performance.now()),
      closed: () => this.#closed,
      log: (level, message, fields) => options.log?.(level, message, { ...fields, node: this.#options.id }),
      track: (socket) => {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
      },
      deliver: (_peer, message) => {
        if (live()) options.deliver(message);
      },
      onUnreachable: (peer) => {
        if (live()) options.onUnreachable?.(peer);
      },
      onSnapshotStatus: (peer, failed) => {
        if (live()) options.onSnapshotStatus?.(peer, failed);
      },
      onRoundTrip: (peer, seconds) => {
        if (live()) options.onRoundTrip?.(peer, seconds);
      },
      isRemoved: (peer) => options.isRemoved?.(peer) === true,
      onHandshakeRejected: (peer, reason) => {
        if (live()) options.onHandshakeRejected?.(peer, reason);
      },
      learnsClusterId: () => this.#options.clusterId === '' && options.onClusterIdLearned !== undefined,
      learnClusterId: (clusterId) => {
        if (this.#options.clusterId !== '' || !live()) return;
        this.#options.clusterId = clusterId;
        options.onClusterIdLearned?.(clusterId);
        for (const link of this.#links.values()) link.redialIfDisconnected();
      },
    };
  }
}

/** Why a TLS peer is refused (its certificate's name and the reason), or undefined when it may go on to the handshake. */
function certificateRefusal(socket: TLSSocket, tls: PeerTlsOptions): { commonName: string; reason: string } | undefined {
  const certificate = socket.getPeerCertificate();
  const subject = certificate && 'subject' in certificate ? certificate.subject : undefined;
  const commonName = typeof subject?.CN === 'string' ? subject.CN : Array.isArray(subject?.CN) ? subject.CN.join(',') : '';
  if (tls.verifyClients && !socket.authorized) {
    const reason = String(socket.authorizationError ?? 'no certificate');
    return { commonName, reason };
  }
  if (tls.allowedCommonName !== undefined && commonName !== tls.allowedCommonName) {
    return { commonName, reason: `CommonName is not ${tls.allowedCommonName}` };
  }
  return undefined;
}
