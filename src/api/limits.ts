/** Bounds of the client API that are not etcd's request limits (CONVENTIONS rule 5). */

/**
 * Bytes of one Maintenance.Snapshot message's blob. etcd sends 32 KiB; 64 KiB
 * halves the per-message overhead and stays far below gRPC's default 4 MiB
 * receive limit of any client.
 */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

/**
 * Snapshot streams served at once by one member. Each holds a full copy of
 * the state's bytes until it finishes, so they are bounded; beyond this a
 * call is refused as overloaded (RESOURCE_EXHAUSTED, retry later).
 */
export const SNAPSHOT_STREAMS_MAX = 2;

/**
 * Users and client addresses whose failed Authenticate attempts one member
 * remembers (each an entry of a few dozen bytes). Past this, idle entries go
 * first, then the least recently used (resilience's KeyedRateLimiter): a
 * flood of distinct names or addresses can reset another key's count, never
 * grow memory. The per-address limit bounds how fast one address can flood.
 */
export const AUTH_LIMITED_USERS_MAX = 10_000;
export const AUTH_LIMITED_ADDRESSES_MAX = 10_000;

/**
 * How long a gRPC connection's loopback hop (grpc-hop.ts) keeps one
 * direction open after the other ended. A peer that half-closes (sends its
 * FIN) is shutting down: the frames still in flight the other way (GOAWAY,
 * a last response) drain within milliseconds, so this only bounds a peer
 * that never finishes its side, which would otherwise hold two sockets and
 * a hop identity forever.
 */
export const GRPC_HOP_LINGER_MS = 5_000;

/**
 * How long the client port waits for a gRPC connection's first request
 * (h2/authority-probe.ts) before it pipes the connection through the hop
 * anyway, which serves any client. Below the 10 s an nghttp2-based client
 * waits for its SETTINGS to be acknowledged, which the probe holds back
 * with the rest of the client's frames until it decides.
 */
export const GRPC_PROBE_TIMEOUT_MS = 5_000;

/**
 * Client bytes the probe holds before that first request; beyond this the
 * connection is cut. A conforming client sends a SETTINGS frame, a
 * WINDOW_UPDATE or two and a request (one header block, bounded like the
 * rewriter's).
 */
export const GRPC_PROBE_BYTES_MAX = 256 * 1024;
