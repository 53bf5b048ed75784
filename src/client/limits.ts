/** Named bounds and defaults of the client; each is checked or applied in one place. */

/** A call's deadline when the caller gives none: the whole call, every attempt and backoff included. */
export const CALL_TIMEOUT_MS_DEFAULT = 5_000;
/** The longest deadline a call may ask for. */
export const CALL_TIMEOUT_MS_MAX = 3_600_000;
/** One attempt of an idempotent call, before it retries on another member (bounded by the call's deadline too). */
export const ATTEMPT_TIMEOUT_MS_DEFAULT = 2_000;
/** Attempts per call, the first included. Enough to ride out a leader election (about 1 s on etcd's defaults) within 5 s. */
export const ATTEMPTS_DEFAULT = 6;
/** Backoff between attempts: exponential, full jitter, from this base ... */
export const BACKOFF_INITIAL_MS = 50;
/** ... up to this cap. */
export const BACKOFF_MAX_MS = 1_000;
/** Not-leader hints followed within one attempt, without backoff (like HTTP redirects). */
export const REDIRECTS_PER_ATTEMPT_MAX = 2;
/** Endpoints a client may know: the configured ones plus leader URLs learned from hints. */
export const ENDPOINTS_MAX = 64;
/** A member that failed is tried last for this long. */
export const ENDPOINT_SUSPECT_MS = 2_000;
/** Leader discovery (status + member list) runs at most this often. */
export const LEADER_REFRESH_INTERVAL_MS_MIN = 1_000;
/** Each discovery request's timeout. */
export const LEADER_REFRESH_TIMEOUT_MS = 1_000;
/** Keep-alive connections per member, when the client creates its own dispatcher. */
export const CONNECTIONS_PER_ENDPOINT_DEFAULT = 32;
/** A response body larger than this is refused (etcd's default max request is 1.5 MiB; a range may return more). */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
/** One line of a stream (a watch response, an observe update) larger than this is refused. */
export const STREAM_LINE_BYTES_MAX = 16 * 1024 * 1024;
/** Event batches a watch holds for a slow consumer; when full, the client stops reading the socket (TCP backpressure). */
export const WATCH_BUFFER_BATCHES_DEFAULT = 64;
/** The largest buffer a watch may ask for. */
export const WATCH_BUFFER_BATCHES_MAX = 4_096;
/** Consecutive failed (re)connections of a stream before it gives up with KEEL_CLIENT_STREAM_UNAVAILABLE; reset once a stream is established. */
export const STREAM_RECONNECTS_MAX_DEFAULT = 10;
/** Backoff between stream reconnections: exponential, full jitter, from this base ... */
export const STREAM_BACKOFF_INITIAL_MS = 100;
/** ... up to this cap. */
export const STREAM_BACKOFF_MAX_MS = 2_000;
/** TTL of the lease that lock() and campaign() create when the caller gives none (etcd's concurrency.Session default). */
export const SESSION_TTL_SECONDS_DEFAULT = 60;
/** Shortest interval between keep-alives, whatever the TTL (a 1 s TTL still renews at most every 0.5 s). */
export const KEEPALIVE_INTERVAL_MS_MIN = 500;
/** How long lock() and campaign() wait by default: they block until acquired, the signal fires, or this passes. */
export const ACQUIRE_TIMEOUT_MS_DEFAULT = 600_000;
/** A watch stream silent this long (while the client waits for data) is probed with a progress request ... */
export const STREAM_KEEPALIVE_MS_DEFAULT = 5_000;
/** ... and moved to another member when the probe goes unanswered this long (a hung or cut-off member keeps its socket open). */
export const STREAM_KEEPALIVE_TIMEOUT_MS_DEFAULT = 5_000;
/** A bidirectional stream whose member has not answered within this long gets its request body ended (etcd's gateway answers only then); it goes on one way, without keep-alive probes. */
export const STREAM_DUPLEX_WAIT_MS = 2_000;
