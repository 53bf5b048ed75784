import type { Socket } from 'node:net';
import type { NodeId } from '../raft/types.js';
import type { FaultHook, TransportRandom } from './faults.js';

/** Log levels the transport uses: `debug` for routine connection churn, `warn` for refused or malformed peers. */
export type TransportLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A structured log sink (pino's `logger[level](fields, message)` adapts in one line). */
export type TransportLog = (level: TransportLogLevel, message: string, fields: Record<string, unknown>) => void;

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly id: NodeId;
  /** '' while a joining node does not know it yet (see TransportOptions.onClusterIdLearned); set once. */
  clusterId: string;
  readonly queueMessagesMax: number;
  readonly queueBytesMax: number;
  readonly frameBytesMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotBytesMax: number;
  readonly reconnectDelayMsMin: number;
  readonly reconnectDelayMsMax: number;
  readonly handshakeTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
}

/** Transport-wide counters, for events that belong to no known peer. */
export interface TransportCounters {
  /** Connections closed because of a malformed or oversized frame (either direction). */
  malformedFrames: number;
  /** Inbound handshakes refused (other cluster, unknown sender, version), plus outbound ones a peer refused. */
  rejectedHandshakes: number;
  /** send() calls for a peer this transport does not know. */
  unknownPeerDrops: number;
  /** Inbound connections that completed a handshake. */
  acceptedConnections: number;
  /** Inbound TLS connections refused because the peer's certificate is missing, untrusted, or has a CommonName not allowed. */
  rejectedCertificates: number;
}

/** Per-peer counters; `stats()` reports a copy. Byte counts include frame headers, handshakes and pings. */
export interface PeerCounters {
  sentBytes: number;
  receivedBytes: number;
  sentMessages: number;
  receivedMessages: number;
  /** Messages refused because the peer's queue was full (overload), snapshots beyond the per-peer bound included. */
  droppedMessages: number;
  /** Messages dropped by the fault hook (drop or partition), either direction. */
  faultDroppedMessages: number;
  /** Outbound connections established (handshake accepted). */
  connects: number;
  /** The last round trip measured by ping/pong, in seconds; NaN before the first. */
  roundTripSeconds: number;
}

/** What links and inbound connections share with their transport. */
export interface TransportContext {
  readonly options: ResolvedOptions;
  readonly faults: FaultHook;
  readonly random: TransportRandom;
  readonly counters: TransportCounters;
  /** Options for dialling a peer over TLS (read at each dial, so a reload applies to the next connection); undefined: cleartext TCP. */
  readonly tlsClient: (() => import('node:tls').ConnectionOptions) | undefined;
  /** Monotonic clock in ms. */
  now(): number;
  /** True once close() began: no more callbacks, no more dials. */
  closed(): boolean;
  log(level: TransportLogLevel, message: string, fields: Record<string, unknown>): void;
  /** Registers a socket so close() can wait for it. */
  track(socket: Socket): void;
  deliver(peer: NodeId, message: import('../raft/types.js').Message): void;
  onUnreachable(peer: NodeId): void;
  onSnapshotStatus(peer: NodeId, failed: boolean): void;
  onRoundTrip(peer: NodeId, seconds: number): void;
  /** The node's view: `peer` was removed from the cluster (its handshakes are refused as such). */
  isRemoved(peer: NodeId): boolean;
  /** A peer refused our handshake with `reason` (a HandshakeRejectReason). */
  onHandshakeRejected(peer: NodeId, reason: string): void;
  /** True when this transport does not know its cluster id yet and may adopt a known peer's. */
  learnsClusterId(): boolean;
  /** Adopts the cluster id a known peer presented. */
  learnClusterId(clusterId: string): void;
}

export function newPeerCounters(): PeerCounters {
  return {
    sentBytes: 0, receivedBytes: 0, sentMessages: 0, receivedMessages: 0,
    droppedMessages: 0, faultDroppedMessages: 0, connects: 0, roundTripSeconds: Number.NaN,
  };
}
