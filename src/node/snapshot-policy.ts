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
 * restart replays on top of the snapshot, entry by entry, and the WAL
 * behind it stays on disk until the next snapshot; SNAPSHOT_LOG_BYTES_MAX
 * bounds both whatever the ratio.
 *
 * Large values need a bound of their own: 10,000 entries of 1 MiB values
 * are 10 GiB of WAL kept on disk and replayed at a restart. So a snapshot
 * is also due, before `snapshotEntries` entries, once the log holds
 * SNAPSHOT_LOG_BYTES_FLOOR bytes and `logRatio` times the last snapshot;
 * and after one, the log keeps back for slow followers at most
 * SNAPSHOT_CATCH_UP_BYTES_MAX of entries as well as at most
 * `snapshotCatchUpEntries` of them (a follower further behind gets the
 * snapshot). (The log's memory is no longer a reason: applied entries past
 * `logCacheBytes` leave memory and are read back from the WAL, see
 * raft-loop.ts.)
 */

/** The log bytes since the last snapshot past which one is due whatever the ratio says (bounds the WAL a restart replays). */
export const SNAPSHOT_LOG_BYTES_MAX = 1024 * 1024 * 1024;

/**
 * The log bytes past which a snapshot is due before `snapshotEntries`
 * entries (when the ratio agrees): large values bound the log by its bytes.
 * A quarter of the default quota. It was 256 MiB while the log held every
 * entry in memory until a snapshot; with applied entries read back from
 * the WAL instead, 512 MiB took fill A of `npm run bench:scale` (1 MiB
 * puts to 45% of the 2 GiB quota) from 57 to 74 MiB/s, in the keel phase
 * of one run each (one snapshot of the growing state in the fill against
 * three), at the same peak RSS (1.7x the data).
 */
export const SNAPSHOT_LOG_BYTES_FLOOR = 512 * 1024 * 1024;

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
