/**
 * When a member saves a snapshot of its store. A snapshot writes the whole
 * state, so saving one every `snapshotEntries` entries alone costs work in
 * proportion to the state on every interval: with 1 KiB values at 160,000
 * keys (etcdctl check perf --load=l), every 10,000 entries meant a 150-200
 * MiB snapshot every 4 s on each member, streaming 60% of the time, while
 * the log those 10,000 entries held was 13 MiB. So a snapshot is also
 * held back until the log written since the last one is at least
 * `logRatio` times that snapshot's size (LogCabin's snapshot ratio): the
 * bytes written per byte of log stay bounded whatever the state's size.
 * The default (0.25, the member's config) is low because the log is what a
 * restart replays on top of the snapshot, entry by entry, and the log is
 * held in memory until the next snapshot; SNAPSHOT_LOG_BYTES_MAX bounds
 * the latter whatever the ratio.
 *
 * Large values need a bound of their own: the log lives in memory until a
 * snapshot covers it, and 10,000 entries of 1 MiB values are 10 GiB (at
 * the bench's 1 GiB quota, fill A's 470 MiB of 1 MiB puts were all still in
 * each member's log beside the store's own copy: twice the data in RSS).
 * So a snapshot is also due, before `snapshotEntries` entries, once the
 * log holds SNAPSHOT_LOG_BYTES_FLOOR bytes and `logRatio` times the last
 * snapshot; and after one, the log keeps back for slow followers at most
 * SNAPSHOT_CATCH_UP_BYTES_MAX of entries as well as at most
 * `snapshotCatchUpEntries` of them (a follower further behind gets the
 * snapshot).
 */

/** The log bytes since the last snapshot past which one is due whatever the ratio says (bounds the in-memory log). */
export const SNAPSHOT_LOG_BYTES_MAX = 512 * 1024 * 1024;

/**
 * The log bytes past which a snapshot is due before `snapshotEntries`
 * entries (when the ratio agrees): large values bound the log by its bytes.
 * An eighth of the default quota: in `npm run bench:scale` at a 1 GiB
 * quota, 128 MiB cut fill A's 1 MiB puts to 31 MiB/s (three snapshots of
 * the growing state during the fill, against one at 256 MiB: 40 MiB/s) for
 * a peak RSS of 2.4x the data against 2.6x.
 */
export const SNAPSHOT_LOG_BYTES_FLOOR = 256 * 1024 * 1024;

/** At most this many bytes of entries stay in the log behind a new snapshot for slow followers (beside the entry count). */
export const SNAPSHOT_CATCH_UP_BYTES_MAX = 64 * 1024 * 1024;

export interface SnapshotProgress {
  /** Entries applied since the newest snapshot. */
  readonly entriesSince: number;
  /** Bytes of those entries (the raft log's own size measure). */
  readonly logBytesSince: number;
  /** Size of the newest snapshot's data (0 when there is none yet). */
  readonly lastSnapshotBytes: number;
}

export interface SnapshotPolicy {
  readonly snapshotEntries: number;
  /** 0: every `snapshotEntries` entries, as etcd's --snapshot-count. */
  readonly logRatio: number;
}

export function snapshotWanted(progress: SnapshotProgress, policy: SnapshotPolicy): boolean {
  const ratioBytes = policy.logRatio * progress.lastSnapshotBytes;
  if (progress.logBytesSince >= Math.min(SNAPSHOT_LOG_BYTES_MAX, Math.max(SNAPSHOT_LOG_BYTES_FLOOR, ratioBytes))) return true;
  if (progress.entriesSince < policy.snapshotEntries) return false;
  return progress.logBytesSince >= Math.min(SNAPSHOT_LOG_BYTES_MAX, ratioBytes);
}
