import { toKeyRange } from './bytes.js';
import { CompactedError } from './errors.js';
import type { Change, KvStore } from './kv-store.js';
import { HISTORY_EVENTS_PER_QUERY_MAX, HISTORY_RECORDS_SCANNED_MAX } from './limits.js';
import type { KvRecord } from './record.js';
import { toKeyValue } from './record.js';
import type { KeyValue } from './types.js';

/** mvccpb.Event. A DELETE's kv holds only the key and modRevision (as etcd's tombstone). */
export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
  /** The key's value before this event, when it was live and is still retained. */
  prevKv?: KeyValue;
}

/**
 * The events of one applied command, in sub-revision order, all at
 * `revision`. Listeners get one batch per command that wrote, in apply order.
 */
export interface EventBatch {
  revision: number;
  events: WatchEvent[];
}

/**
 * Called synchronously at the end of apply(), once the data and the applied
 * index have both moved. It must not throw and must not call apply(); the
 * batch is shared by every listener, so it must not modify it.
 */
export type EventListener = (batch: EventBatch) => void;

export function toEvent(record: KvRecord, previous: KvRecord | undefined): WatchEvent {
  const event: WatchEvent = record.tombstone
    ? { type: 'DELETE', kv: { ...toKeyValue(record), createRevision: 0, version: 0, lease: 0n } }
    : { type: 'PUT', kv: toKeyValue(record) };
  if (previous !== undefined && !previous.tombstone) event.prevKv = toKeyValue(previous);
  return event;
}

/**
 * A batch whose events are built on first read, then kept: building one
 * copies its key and value out of the store into fresh byte arrays, and
 * with no watcher on a member (the common case) the watch hub never reads
 * them. Built eagerly, they were a tenth of a member's CPU at scale and a
 * stream of short-lived arrays for the young generation (issue 14). The
 * records are immutable and `changes` is the committed write's own list,
 * which nothing changes after the commit, so a late read builds the events
 * an eager one would have.
 */
export function lazyEventBatch(revision: number, changes: readonly Change[]): EventBatch {
  let events: WatchEvent[] | undefined;
  return {
    revision,
    get events(): WatchEvent[] {
      events ??= changes.map((change) => toEvent(change.record, change.previous));
      return events;
    },
  };
}

/** "Every event on [key, rangeEnd) from startRevision on", for watches that start in the past. */
export interface HistoryQuery {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  startRevision: number;
  prevKv?: boolean;
  /** At most this many events (then up to the end of that revision); default HISTORY_EVENTS_PER_QUERY_MAX. */
  eventsMax?: number;
}

export interface HistoryResult {
  events: WatchEvent[];
  /** Where the next query should start: the first revision not examined, or (caught up) currentRevision + 1 or startRevision, whichever is later. */
  nextRevision: number;
}

/**
 * Reads the revision-ordered log from startRevision. A start older than the
 * compacted revision fails with CompactedError (etcd lets a watch start at
 * the compacted revision itself). Stops at a revision boundary once
 * eventsMax events are found or HISTORY_RECORDS_SCANNED_MAX records were read.
 */
export function queryHistory(store: KvStore, query: HistoryQuery): HistoryResult {
  if (query.startRevision < store.compactRevision) throw new CompactedError(query.startRevision, store.compactRevision);
  const range = toKeyRange(query.key, query.rangeEnd);
  const eventsMax = query.eventsMax ?? HISTORY_EVENTS_PER_QUERY_MAX;
  const log = store.log;
  const events: WatchEvent[] = [];
  const first = store.logPositionFrom(query.startRevision);
  for (let position = first; position < log.length; position++) {
    const record = log[position]!;
    // A command applied in steps (StoreStateMachine.applyInSteps) has its records in the log before its revision is current: not events yet.
    if (record.main > store.currentRevision) break;
    const atBoundary = position === first || log[position - 1]!.main !== record.main;
    if (atBoundary && (events.length >= eventsMax || position - first >= HISTORY_RECORDS_SCANNED_MAX)) {
      return { events, nextRevision: record.main };
    }
    if (record.key < range.start || (range.end !== null && record.key >= range.end)) continue;
    const event = toEvent(record, query.prevKv ? store.previousOf(record) : undefined);
    events.push(event);
  }
  return { events, nextRevision: Math.max(query.startRevision, store.currentRevision + 1) };
}
