/**
 * Errors of the peer transport. Each has a stable `code`; callers and tests
 * match on the code, never the message. The brand survives duplicate installs
 * of the package, where `instanceof` would not.
 *
 * The transport never throws on network trouble: `send()` returns false and
 * counts. These errors surface at construction (bad options), from
 * `listen()`, and as the `error` field of log lines and connection closes.
 */
const BRAND = Symbol.for('keel.transport.error');

export abstract class TransportError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is TransportError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Invalid options given to the transport (a bound exceeded, a malformed address). */
export class TransportConfigError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'TransportConfigError';
  }
}

/** An inbound frame declared a body larger than the connection accepts. */
export class FrameTooLargeError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_FRAME_TOO_LARGE';
  constructor(readonly sizeBytes: number, readonly sizeBytesMax: number) {
    super(`frame of ${sizeBytes} bytes exceeds the limit of ${sizeBytesMax} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/** Inbound bytes that are not a valid frame here: unknown kind, undecodable body, a field of the wrong type, a frame out of protocol order. */
export class FrameMalformedError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_FRAME_MALFORMED';
  constructor(readonly reason: string) {
    super(`malformed frame: ${reason}`);
    this.name = 'FrameMalformedError';
  }
}

/** A handshake was refused (other cluster, unknown sender, wrong addressee, other protocol version). `reason` is one of {@link HandshakeRejectReason}. */
export class HandshakeRejectedError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_HANDSHAKE_REJECTED';
  constructor(readonly reason: string) {
    super(`handshake rejected: ${reason}`);
    this.name = 'HandshakeRejectedError';
  }
}

/** The handshake did not complete in time. */
export class HandshakeTimeoutError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_HANDSHAKE_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`handshake not completed within ${timeoutMs} ms`);
    this.name = 'HandshakeTimeoutError';
  }
}

/** An outbound connection heard no pong for too long and was dropped (half-open TCP, a hung peer). */
export class PeerSilentError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_PEER_SILENT';
  constructor(readonly silentMs: number) {
    super(`no pong for ${silentMs} ms`);
    this.name = 'PeerSilentError';
  }
}

/** The transport was closed (listen() after close(), or work cut short by close()). */
export class TransportClosedError extends TransportError {
  readonly code = 'KEEL_TRANSPORT_CLOSED';
  constructor() {
    super('transport closed');
    this.name = 'TransportClosedError';
  }
}

/** Why a handshake was refused; sent to the dialer in the handshake answer. */
export const HandshakeRejectReason = {
  Version: 'protocol-version',
  Cluster: 'cluster-id',
  UnknownSender: 'unknown-sender',
  WrongAddressee: 'wrong-addressee',
  /** The sender was removed from the cluster (the receiver's `isRemoved`): it should stop, not retry. */
  Removed: 'removed',
} as const;
export type HandshakeRejectReason = (typeof HandshakeRejectReason)[keyof typeof HandshakeRejectReason];
