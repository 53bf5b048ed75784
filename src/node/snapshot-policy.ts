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
 */

/** The log bytes since the last snapshot past which one is due whatever the ratio says (bounds the in-memory log). */
export const SNAPSHOT_LOG_BYTES_MAX = 512 * 1024 * 1024;

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
  if (progress.entriesSince < policy.snapshotEntries) return false;
  return progress.logBytesSince >= Math.min(SNAPSHOT_LOG_BYTES_MAX, policy.logRatio * progress.lastSnapshotBytes);
}
