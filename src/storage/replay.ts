import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { EMPTY_HARD_STATE, NONE } from '../raft/types.js';
import { StorageUsageError } from './errors.js';

/**
 * The logical content of a write-ahead log, in write order. Both storage
 * implementations keep their log as these records and rebuild state with
 * {@link replay}, so they cannot disagree on what a log means.
 */
export type LogRecord =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  /** A snapshot received from the leader: the log before it is discarded. */
  | { readonly kind: 'snapshotInstalled'; readonly index: number; readonly term: number };

export interface ReplayResult {
  readonly hardState: HardState;
  readonly entries: Entry[];
  /** Last index of the log: the last entry, or the base when there is none. */
  readonly lastIndex: number;
}

export type ReplayOutcome = { readonly ok: true; readonly result: ReplayResult } | { readonly ok: false; readonly reason: string };

/**
 * Replays `records` on top of a snapshot at `base` (index and term).
 * `coverageStart` is the lowest index the log is known to hold every entry
 * from (entries below it were released). Fails, with a reason, when the log
 * does not continue the snapshot: a gap, or a snapshot installed later than
 * `base` (whose entries the log never held).
 */
export function replay(records: readonly LogRecord[], coverageStart: number, base: { index: number; term: number }): ReplayOutcome {
  if (base.index < coverageStart - 1) {
    return { ok: false, reason: `the log starts at index ${coverageStart}, after the snapshot at ${base.index}` };
  }
  let hardState = EMPTY_HARD_STATE;
  const entries: Entry[] = [];
  for (const record of records) {
    if (record.kind === 'hardState') {
      hardState = record.hardState;
    } else if (record.kind === 'snapshotInstalled') {
      if (record.index > base.index) return { ok: false, reason: `a snapshot at ${record.index} was installed after the one at ${base.index}` };
      entries.length = 0;
    } else {
      const index = record.entry.index;
      if (index <= base.index) continue;
      const position = index - base.index - 1;
      if (position > entries.length) {
        return { ok: false, reason: `entry ${index} follows index ${base.index + entries.length}: a gap in the log` };
      }
      entries.length = position;
      entries.push(record.entry);
    }
  }
  return { ok: true, result: { hardState, entries, lastIndex: base.index + entries.length } };
}

/** The hard state raised to agree with the snapshot (see `RecoveredState.hardState`). */
export function reconcileHardState(hardState: HardState, snapshot: Snapshot): HardState {
  const { index, term } = snapshot.metadata;
  if (hardState.term >= term && hardState.commit >= index) return hardState;
  const raised = term > hardState.term;
  return { term: raised ? term : hardState.term, vote: raised ? NONE : hardState.vote, commit: Math.max(hardState.commit, index) };
}

/** The records a batch becomes, in Ready order. */
export function batchRecords(batch: { hardState?: HardState; entries: readonly Entry[]; snapshot?: Snapshot }): LogRecord[] {
  const records: LogRecord[] = [];
  if (batch.snapshot) records.push({ kind: 'snapshotInstalled', index: batch.snapshot.metadata.index, term: batch.snapshot.metadata.term });
  for (const entry of batch.entries) records.push({ kind: 'entry', entry });
  if (batch.hardState) records.push({ kind: 'hardState', hardState: batch.hardState });
  return records;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
  data: new Uint8Array(0),
});

/**
 * Checks a batch against the log it extends and returns the log's last
 * index after it. Entries must be contiguous and start at most one past the
 * last index (after the batch's snapshot, if any).
 */
export function checkBatch(batch: { entries: readonly Entry[]; snapshot?: Snapshot }, lastIndex: number): number {
  const last = batch.snapshot ? batch.snapshot.metadata.index : lastIndex;
  const first = batch.entries[0];
  if (first === undefined) return last;
  if (first.index > last + 1) throw new StorageUsageError(`entry ${first.index} would leave a gap after index ${last}`);
  batch.entries.forEach((entry, position) => {
    if (entry.index !== first.index + position) throw new StorageUsageError(`entries not contiguous at index ${entry.index}`);
  });
  return first.index + batch.entries.length - 1;
}

/** Shared by the implementations: is a snapshot due at `appliedIndex`? */
export function snapshotDue(appliedIndex: number, newestSnapshotIndex: number, intervalEntries: number): boolean {
  return appliedIndex - newestSnapshotIndex >= intervalEntries;
}
