/** Every bound of the storage layer, in one place. */

/** Default size of a preallocated WAL segment. */
export const SEGMENT_SIZE_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Smallest segment size accepted (tests use small segments to exercise rotation). */
export const SEGMENT_SIZE_BYTES_MIN = 4 * 1024;
/** Largest single WAL record (one entry, or a hard state). A bigger entry is refused. */
export const RECORD_SIZE_BYTES_MAX = 64 * 1024 * 1024;
/** Largest snapshot file accepted on load (guards against a corrupt length field allocating the heap away). */
export const SNAPSHOT_SIZE_BYTES_MAX = 4 * 1024 * 1024 * 1024 - 1;
/**
 * A snapshot file being written is fdatasynced each time this many more
 * bytes of it were written. With one fsync at the end the whole file was
 * flushed at once, and a WAL fdatasync queued behind it in the
 * filesystem's journal waited for all of it: 91 ms at most beside a 200 MiB
 * file on this machine's fast disk (a cloud disk takes seconds to write
 * 200 MiB), against 5.2-5.6 ms synced every 8 MiB, for a 10-20% longer
 * write (`npx tsx bench/snapshot-sync.ts`).
 */
export const SNAPSHOT_SYNC_EVERY_BYTES = 8 * 1024 * 1024;
/** Snapshots kept on disk by default (the newest plus one to fall back to). */
export const RETAIN_SNAPSHOTS_DEFAULT = 2;
/** Entries applied between snapshots by default. */
export const SNAPSHOT_INTERVAL_ENTRIES_DEFAULT = 10_000;
/** Bytes written per call when zero-filling a new segment. */
export const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;
/** Sector size assumed by the torn-write heuristic: a power loss persists whole sectors or none. */
export const SECTOR_SIZE_BYTES = 512;
/** Shortest all-zero piece of a record that the torn-write heuristic accepts as a lost sector. */
export const TORN_PIECE_BYTES_MIN = 32;
/** Longest node id stored in a hard state or membership (bytes of UTF-8). */
export const NODE_ID_BYTES_MAX = 1024;
/** Most members a stored membership may list. */
export const MEMBERS_MAX = 10_000;
/** Most segments a WAL directory may hold before recovery refuses (a sign that release is not running). */
export const SEGMENTS_MAX = 100_000;
/** Most failpoints a KEEL_FAILPOINTS value may name. */
export const FAILPOINTS_MAX = 64;
/** Most queued appends one async WAL group commit takes (one write, one fdatasync). */
export const WAL_GROUP_APPENDS_MAX = 256;
/** Most record bytes one async WAL group commit takes; an append larger than this goes alone. */
export const WAL_GROUP_BYTES_MAX = 16 * 1024 * 1024;
/** Most appends waiting for the async WAL writer before appendAsync refuses (the raft loop keeps one). */
export const WAL_QUEUE_APPENDS_MAX = 4096;
/** Bytes of a read-back snapshot checksummed per event-loop turn (a few ms of CPU each). */
export const SNAPSHOT_CHECKSUM_SLICE_BYTES = 2 * 1024 * 1024;

/**
 * Bytes of a snapshot file (or WAL segment) read per off-loop read when a
 * member recovers at startup (`FileStorage.loadAsync`, chunked-read.ts); a
 * snapshot's chunk is checksummed on the loop while the next is read: a few
 * milliseconds of CRC per turn.
 */
export const SNAPSHOT_LOAD_CHUNK_BYTES = 2 * 1024 * 1024;

/**
 * Bytes of a leader's snapshot written (and checksummed, on the event loop)
 * per step when a follower saves it with `saveAsync`: a few milliseconds of
 * CRC each, the write itself off the loop.
 */
export const INSTALL_CHUNK_BYTES = 2 * 1024 * 1024;
