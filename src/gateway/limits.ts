/** Named bounds on every queue, map, buffer and loop of the gateway. Config values beyond these are refused. */

/** Listeners per gateway. */
export const LISTENERS_MAX = 16;
/** Routes per gateway (matched in order: a linear scan is bounded by this). */
export const ROUTES_MAX = 1_000;
/** Clusters per gateway. */
export const CLUSTERS_MAX = 256;
/** Endpoints per cluster. */
export const ENDPOINTS_PER_CLUSTER_MAX = 1_024;
/** Priority levels per cluster (Envoy allows 128; fewer keeps the failover math readable). */
export const PRIORITY_LEVELS_MAX = 8;
/** Rate-limit rules per gateway. */
export const RATE_LIMIT_RULES_MAX = 64;
/** Keys remembered per keyed rate limiter. */
export const RATE_LIMIT_KEYS_MAX = 100_000;
/** Virtual nodes per endpoint on the hash ring (times its weight, capped by the ring size). */
export const RING_ENTRIES_PER_ENDPOINT = 100;
/** Entries on a hash ring at most. */
export const RING_SIZE_MAX = 65_536;
/** Connections per client IP tracked at most (the map of counters). */
export const CLIENT_IPS_TRACKED_MAX = 100_000;
/** Request header bytes at most (Node's maxHeaderSize). */
export const HEADER_BYTES_MAX = 64 * 1024;
/** Retries per request at most, whatever the config says. */
export const RETRIES_MAX = 5;
/** Attempts of one hedged request at most, the first included (each holds an upstream connection while it races). */
export const HEDGE_ATTEMPTS_MAX = 4;
/** Bytes of a request body buffered so that it can be hedged, at most (a larger one is forwarded without hedging). */
export const HEDGE_BODY_BYTES_MAX = 1024 * 1024;
/** Latency samples a route's hedge policy keeps at most (a ring of numbers). */
export const HEDGE_SAMPLES_MAX = 10_000;
/** The longest hedge delay or floor the config accepts. */
export const HEDGE_DELAY_MS_MAX = 600_000;
/** Requests waiting in one cluster's admission queue at most. */
export const ADMISSION_QUEUE_MAX = 10_000;
/** The shortest outlier-detection interval (outlier state per endpoint is a few counters, bounded by construction). */
export const OUTLIER_INTERVAL_MS_MIN = 100;
/** The longest any drain waits for in-flight requests. */
export const DRAIN_TIMEOUT_MS_MAX = 300_000;
/** Bytes of a health-check response read at most. */
export const HEALTH_CHECK_BODY_BYTES_MAX = 64 * 1024;
/** Characters of a gRPC health check's service name at most. */
export const GRPC_HEALTH_SERVICE_CHARS_MAX = 256;

/** Concurrent streams one HTTP/2 client may open on a session (Envoy's default is 100 for upstreams; clients get a little more). */
export const H2_STREAMS_PER_SESSION_MAX = 256;
/** Memory one HTTP/2 session may buffer before nghttp2 refuses new streams (node's default is 10 MB). */
export const H2_SESSION_MEMORY_MB = 16;

/** Fast path (src/gateway/http1): header fields per head at most (node:http allows 2,000; real clients send under 50). */
export const HEAD_HEADERS_MAX = 128;
/** Fast path: bytes of any one head line at most (request line or field). */
export const HEAD_LINE_BYTES_MAX = 16 * 1024;
/** Fast path: bytes of a chunk-size line (size and extensions) at most. */
export const CHUNK_LINE_BYTES_MAX = 1024;
/** Fast path: bytes of a chunked body's trailer section at most. */
export const CHUNK_TRAILER_BYTES_MAX = 16 * 1024;
/** Fast path: idle pooled connections kept per upstream address at most. */
export const FAST_IDLE_CONNECTIONS_MAX = 256;
/** Fast path: bytes buffered from a client beyond the request in progress (a pipelining client) before reading pauses. */
export const FAST_CLIENT_BUFFER_BYTES_MAX = 64 * 1024;

/** Admin bearer token length: at least 16 characters (a short one is guessable), at most 4,096 (a header line). */
export const ADMIN_TOKEN_CHARS_MIN = 16;
export const ADMIN_TOKEN_CHARS_MAX = 4_096;
/** Certificates on one TLS listener at most (one per SNI host group). */
export const TLS_CERTIFICATES_PER_LISTENER_MAX = 256;
/** Bytes of a certificate or key file at most (a chain of a few certificates is under 20 KiB). */
export const TLS_FILE_BYTES_MAX = 1024 * 1024;

/** `keel gateway --workers N`: worker processes at most. */
export const WORKERS_MAX = 64;
/**
 * Rate-limit leases (src/gateway/workers/lease-client.ts): permits a worker
 * was granted and has not spent within this long go back to the primary. With
 * the lease size cap (limit × LEASE_TTL_MS / windowMs) it bounds the
 * over-admission: at most N × that per key beyond what one process admits.
 */
export const LEASE_TTL_MS = 50;
/** Permits one lease carries at most (also capped at limit × LEASE_TTL_MS / windowMs). */
export const LEASE_PERMITS_MAX = 1_000;
/** Keys a worker holds a lease for at most (the oldest lease is dropped beyond; its permits are lost, never duplicated). */
export const LEASES_HELD_MAX = 100_000;
/** Lease requests one worker has in flight to the primary at most (beyond, it answers from its share). */
export const LEASE_REQUESTS_PENDING_MAX = 10_000;
/** Rounds a request waits on leases other requests of its worker asked for before asking for its own. */
export const LEASE_ROUNDS_MAX = 3;
/** How long a worker waits for the primary's grant before answering from its own share of the limit (limit / N). */
export const LEASE_TIMEOUT_MS = 250;
/** After a lease timed out, the worker answers from its share this long before asking the primary again. */
export const LEASE_FALLBACK_MS = 1_000;
/** Rule limiters the primary keeps (the rules of the current config and of the one before it). */
export const LEASE_RULES_MAX = 2 * RATE_LIMIT_RULES_MAX;
/** Restart backoff of a worker that died: from this delay, doubling, up to the max; reset once it has run WORKER_STABLE_AFTER_MS. */
export const WORKER_RESTART_DELAY_MS_MIN = 200;
export const WORKER_RESTART_DELAY_MS_MAX = 5_000;
export const WORKER_STABLE_AFTER_MS = 10_000;
/** How long the primary waits for a worker's status or metrics (the admin view), and for its reload. */
export const WORKER_STATUS_TIMEOUT_MS = 2_000;
export const WORKER_RELOAD_TIMEOUT_MS = 30_000;
/** Beyond drainTimeoutMs, how long the primary waits for a SIGTERMed worker before SIGKILL. */
export const WORKER_STOP_GRACE_MS = 5_000;
/** Requests the primary has in flight to its workers (status, metrics, reload) at most. */
export const WORKER_CALLS_PENDING_MAX = 1_024;
