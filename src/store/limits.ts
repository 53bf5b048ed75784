/**
 * Every bound of the store in one place (CONVENTIONS rule 5). The etcd-given
 * ones keep etcd's values so that etcd clients see the limits they expect.
 */

/** Operations per compare/success/failure list of one txn (etcd's --max-txn-ops default). */
export const TXN_OPS_MAX = 128;

/**
 * Nesting depth of txn-in-txn. etcd has no explicit bound (its request size
 * bounds it); keel names one so that decoding and executing cannot recurse
 * without limit.
 */
export const TXN_DEPTH_MAX = 32;

/** Bytes of one encoded command (etcd's --max-request-bytes default, 1.5 MiB). */
export const REQUEST_BYTES_MAX = 1.5 * 1024 * 1024;

/**
 * Events one history query returns before it stops at a revision boundary
 * (etcd's watch catch-up batch, watchBatchMaxRevs, is 1000 revisions). A
 * revision is never split, so a query may exceed this by one revision's events.
 */
export const HISTORY_EVENTS_PER_QUERY_MAX = 1000;

/** Leases the state machine holds at once (etcd bounds them only by memory). */
export const LEASES_MAX = 1_000_000;

/** Entries per chunk of the sorted key index; a chunk splits in two beyond it. */
export const INDEX_CHUNK_ENTRIES_MAX = 512;

/** Largest revision or applied index the store accepts: integers stay exact in a double. */
export const REVISION_MAX = Number.MAX_SAFE_INTEGER;

/** Log records one history query examines before it returns (at a revision boundary) so the caller can continue. */
export const HISTORY_RECORDS_SCANNED_MAX = 100_000;

/**
 * The space quota (etcd's --quota-backend-bytes, default 2 GiB). Writes that
 * put keys are refused with NoSpaceError while the retained history exceeds
 * it; deletes and compaction still run, so an operator can free space. Every
 * member must use the same quota (it decides whether a command applies).
 */
export const QUOTA_BYTES_DEFAULT = 2 * 1024 * 1024 * 1024;

/**
 * What one retained record counts against the quota beyond its key and value
 * bytes: an estimate of its heap cost (record object, index and log slots),
 * from bench/store.ts (about 300 bytes of heap per key besides a 100-byte value).
 */
export const RECORD_OVERHEAD_BYTES = 256;

/**
 * Bytes of watch responses a stream may have queued (waiting in its send
 * queue, or written but not yet flushed to its client) before its watchers stop getting live events and
 * fall back to reading history once it drains. It bounds what a client that
 * does not read can pin in memory to about this plus one catch-up pass.
 */
export const WATCH_STREAM_PENDING_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Bytes one watcher's waiting watch responses may be merged into while its
 * stream's sink is busy (watch-send-queue.ts): enough for hundreds of small
 * events in one message, far below REQUEST_BYTES_MAX (a fragmenting
 * watcher's pieces stay under it) and grpc-js's default 4 MiB receive limit.
 */
export const WATCH_RESPONSE_MERGED_BYTES_MAX = 64 * 1024;

/** Watchers on one stream (etcd clients multiplex every watch of a process onto one stream). */
export const WATCHERS_PER_STREAM_MAX = 100_000;

/** History events one catch-up pass reads across every unsynced watcher, so a pass never holds the event loop long. */
export const WATCH_CATCH_UP_EVENTS_PER_PASS = 2_000;

/**
 * Alarms active at once. etcd has one per (member, type) and bounds them
 * only by memory; a client can ACTIVATE alarms for arbitrary member ids, so
 * keel names a bound.
 */
export const ALARMS_MAX = 1024;

/** Users the auth state holds (etcd bounds them only by its database size; keel names a bound so one client cannot grow the state without end). */
export const AUTH_USERS_MAX = 10_000;
/** Roles the auth state holds. */
export const AUTH_ROLES_MAX = 10_000;
/** Permissions one role holds. */
export const AUTH_PERMISSIONS_PER_ROLE_MAX = 10_000;
/** Roles one user holds. */
export const AUTH_ROLES_PER_USER_MAX = 1_000;
/** Bytes of a user or role name. */
export const AUTH_NAME_BYTES_MAX = 1_024;
/** Bytes of a stored password hash (bcrypt's are 60). */
export const AUTH_HASH_BYTES_MAX = 256;
