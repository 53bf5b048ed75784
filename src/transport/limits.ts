/**
 * Named bounds and defaults of the peer transport. Every queue, buffer, frame
 * and timer the transport keeps is bounded by one of these; an option beyond
 * its bound is a `TransportConfigError` at construction.
 */

/** Wire protocol version carried in the handshake; a peer speaking another one is refused. */
export const PROTOCOL_VERSION = 1;

/** Default per-peer outbound queue bound, in messages (etcd's stream buffer holds 4096). */
export const QUEUE_MESSAGES_DEFAULT = 4_096;
/** Upper bound for `queueMessagesMax`. */
export const QUEUE_MESSAGES_MAX = 1_000_000;
/** Default per-peer outbound queue bound, in encoded bytes (snapshot data is not counted: it is referenced, not copied). */
export const QUEUE_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Upper bound for `queueBytesMax`. */
export const QUEUE_BYTES_MAX = 1024 * 1024 * 1024;

/** Default largest inbound frame body accepted after the handshake. */
export const FRAME_BYTES_DEFAULT = 16 * 1024 * 1024;
/** Upper bound for `frameBytesMax` (the length prefix is 32 bits). */
export const FRAME_BYTES_MAX = 0xffff_ffff;
/** Largest frame accepted before a connection has completed its handshake (an unauthenticated peer buffers no more than this). */
export const HANDSHAKE_FRAME_BYTES_MAX = 4 * 1024;
/** Largest control frame (handshake answer, pong) accepted on an outbound connection. */
export const CONTROL_FRAME_BYTES_MAX = 4 * 1024;

/** Default snapshot chunk size. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Smallest allowed snapshot chunk. */
export const SNAPSHOT_CHUNK_BYTES_MIN = 1024;
/** Default largest snapshot a receiver allocates for (it allocates the declared size up front, once). */
export const SNAPSHOT_BYTES_DEFAULT = 2 * 1024 * 1024 * 1024 - 1;
/** Upper bound for `snapshotBytesMax` (V8's typed array length limit on 64-bit platforms is 2^32 - 1 or more). */
export const SNAPSHOT_BYTES_MAX = 0xffff_ffff;

/** Reconnect backoff base (the first ceiling before full jitter). */
export const RECONNECT_DELAY_MS_MIN_DEFAULT = 50;
/** Reconnect backoff cap. */
export const RECONNECT_DELAY_MS_MAX_DEFAULT = 5_000;
/** Upper bound for either reconnect delay option (one hour). */
export const RECONNECT_DELAY_MS_LIMIT = 3_600_000;

/** Time allowed for a TCP connect plus handshake, either side, before the connection is dropped. */
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000;
/** Interval between ping frames on each outbound connection (the RTT sample rate). */
export const PING_INTERVAL_MS_DEFAULT = 1_000;
/** An outbound connection with no pong for this long is considered dead and redialled (catches half-open TCP). */
export const PONG_TIMEOUT_MS_DEFAULT = 10_000;
/** Upper bound for any of the timing options above. */
export const TIMING_MS_MAX = 3_600_000;

/** Inbound connections the listener holds at once (authenticated or not). */
export const INBOUND_CONNECTIONS_MAX = 1_024;
/** Peers one transport knows. */
export const PEERS_MAX = 1_024;
/** Length of a node id or cluster id on the wire. */
export const ID_LENGTH_MAX = 256;
/** Entries in one inbound Append message. */
export const ENTRIES_PER_MESSAGE_MAX = 1_000_000;
/** Voters or learners in one snapshot's membership. */
export const MEMBERS_MAX = 10_000;
/** Small messages written between two snapshot chunks at most, so a snapshot makes progress under a steady stream of small messages. */
export const MESSAGES_BETWEEN_CHUNKS_MAX = 4_096;
/** Snapshots one peer's link holds at once (one streaming plus one queued); raft sends one at a time per follower. */
export const SNAPSHOTS_PER_PEER_MAX = 2;
/** Socket write buffer before `write()` reports backpressure and draining pauses until 'drain'. */
export const SOCKET_WRITE_BUFFER_BYTES = 256 * 1024;
