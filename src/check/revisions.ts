/**
 * etcd's revisioned key-value store, checked over the whole history at once
 * (as etcd's own robustness tests validate their reports), next to the
 * per-key linearizability search:
 *
 * - every write an ok response acknowledged has its own revision, and the
 *   revisions of operations increase with real time: an operation that
 *   starts after another one finished never carries a smaller revision
 *   (a write, a strictly larger one);
 * - a read served at revision R returns, for its key, exactly the last
 *   write at or below R (its value and its mod_revision);
 * - a compare-and-set that succeeded at revision r found the value it
 *   expected: the last write to the key below r wrote it;
 * - a value only appears if a client wrote it, and never if that write
 *   failed;
 * - a watch stream delivers, in revision order and once each, every write
 *   under its prefix from its start revision to the last one it delivered:
 *   no gap, no repeat, no reordering, each matching the write.
 *
 * Values must be unique per key (keel's recorder makes them so); then every
 * observed value names its write, and an unknown (`info`) write whose value
 * a read or a watch saw is placed at the revision they saw it at. Unknown
 * writes nobody observed may sit in any revision gap: no claim is made that
 * depends on them, so a violation here is never a false alarm.
 *
 * Polynomial: O(n log n) in operations plus watch events.
 */
import type { History, Operation, Scalar, WatchDelivery, WatchStart } from './history.js';

export type RevisionViolationKind =
  | 'revision-conflict'
  | 'unknown-value'
  | 'failed-write-applied'
  | 'real-time'
  | 'stale-read'
  | 'read-revision'
  | 'cas-expectation'
  | 'watch-order'
  | 'watch-gap'
  | 'watch-duplicate';

export interface RevisionViolation {
  readonly kind: RevisionViolationKind;
  readonly message: string;
  /** The operations involved (for the timeline). */
  readonly operations: readonly Operation[];
}

export interface RevisionsResult {
  /** skipped: the history carries no revisions to check. */
  readonly verdict: 'ok' | 'violation' | 'skipped';
  readonly reason: string | undefined;
  /** Revisions known to hold a write (from acknowledgements, reads and watches). */
  readonly revisionsKnown: number;
  /** Unknown (info) writes that a read or watch showed applied, and where. */
  readonly unknownWritesPlaced: number;
  readonly reads: number;
  readonly watchers: number;
  readonly watchEvents: number;
  /** The first violations found (at most VIOLATIONS_KEPT), and how many in all. */
  readonly violations: readonly RevisionViolation[];
  readonly violationCount: number;
  readonly elapsedMs: number;
}

export const VIOLATIONS_KEPT = 20;

interface Entry {
  readonly revision: number;
  readonly key: string;
  /** null: a delete. */
  readonly value: Scalar;
  /** What first placed it, for messages. */
  readonly origin: string;
}

const WRITES = new Set(['write', 'put', 'cas']);
const READS = new Set(['read', 'get']);

export function checkRevisions(history: History): RevisionsResult {
  const started = performance.now();
  const operations = history.operations;
  const deliveries = history.watches?.deliveries ?? [];
  const starts = history.watches?.starts ?? [];
  const hasRevisions = deliveries.length > 0 || operations.some((operation) => operation.revision !== undefined);
  const violations: RevisionViolation[] = [];
  let violationCount = 0;
  const report = (kind: RevisionViolationKind, message: string, involved: readonly Operation[] = []): void => {
    violationCount += 1;
    if (violations.length < VIOLATIONS_KEPT) violations.push({ kind, message, operations: involved });
  };
  const summary = (verdict: RevisionsResult['verdict'], reason: string | undefined, extra: Partial<RevisionsResult> = {}): RevisionsResult => ({
    verdict, reason, revisionsKnown: 0, unknownWritesPlaced: 0, reads: 0, watchers: 0, watchEvents: deliveries.length,
    violations, violationCount, elapsedMs: performance.now() - started, ...extra,
  });
  if (!hasRevisions) return summary('skipped', 'the history carries no revisions (record with keel\'s HistoryRecorder to get them)');

  // Which write wrote each value (values are unique per key; a repeated one cannot name its write).
  const writers = new Map<string, Operation | 'ambiguous'>();
  for (const operation of operations) {
    if (!WRITES.has(operation.f)) continue;
    const written = operation.f === 'cas' ? operation.to ?? null : operation.value;
    const id = valueId(operation.key, written);
    writers.set(id, writers.has(id) ? 'ambiguous' : operation);
  }

  // The revision log: what is known to have been written at each revision.
  const log = new Map<number, Entry>();
  const placedAt = new Map<Operation, number>();
  const describe = (operation: Operation): string => `${operation.f} by process ${operation.process}${operation.line === undefined ? '' : ` (line ${operation.line})`}`;
  const place = (revision: number, key: string, value: Scalar, origin: string, involved: readonly Operation[]): void => {
    const known = log.get(revision);
    if (known === undefined) {
      log.set(revision, { revision, key, value, origin });
      return;
    }
    if (known.key !== key || known.value !== value) {
      report('revision-conflict', `revision ${revision} holds ${show(known.key, known.value)} per ${known.origin} but ${show(key, value)} per ${origin}`, involved);
    }
  };
  for (const operation of operations) {
    if (operation.type !== 'ok' || !WRITES.has(operation.f) || operation.revision === undefined) continue;
    place(operation.revision, operation.key, operation.f === 'cas' ? operation.to ?? null : operation.value, `the acknowledged ${describe(operation)}`, [operation]);
  }
  let reads = 0;
  for (const operation of operations) {
    if (operation.type !== 'ok' || !READS.has(operation.f) || operation.revision === undefined) continue;
    reads += 1;
    const modRevision = operation.modRevision ?? 0;
    if (operation.value === null ? modRevision !== 0 : modRevision === 0 || modRevision > operation.revision) {
      report('read-revision', `the ${describe(operation)} returned ${show(operation.key, operation.value)} with mod_revision ${modRevision} at revision ${operation.revision}`, [operation]);
      continue;
    }
    if (operation.value !== null) place(modRevision, operation.key, operation.value, `the ${describe(operation)}`, [operation]);
  }
  for (const delivery of deliveries) {
    place(delivery.revision, delivery.key, delivery.event === 'delete' ? null : delivery.value, `watch ${delivery.watcher} (line ${delivery.line})`, []);
  }

  // Every logged put names a write; an unknown one is placed where it was seen.
  for (const entry of log.values()) {
    if (entry.value === null) continue;
    const writer = writers.get(valueId(entry.key, entry.value));
    if (writer === undefined) {
      report('unknown-value', `revision ${entry.revision} holds ${show(entry.key, entry.value)} (per ${entry.origin}), which no client wrote`);
    } else if (writer === 'ambiguous') {
      continue;
    } else if (writer.type === 'fail') {
      report('failed-write-applied', `the ${describe(writer)} failed, yet ${entry.origin} shows it applied at revision ${entry.revision}`, [writer]);
    } else if (writer.type === 'info') {
      const earlier = placedAt.get(writer);
      if (earlier !== undefined && earlier !== entry.revision) report('revision-conflict', `the unknown ${describe(writer)} is seen at revisions ${earlier} and ${entry.revision}`, [writer]);
      placedAt.set(writer, entry.revision);
    }
  }
  checkRealTime(operations, placedAt, report, describe);
  const byKey = keyLogs(log);
  checkReads(operations, byKey, report, describe);
  checkCompareAndSets(operations, byKey, writers, report, describe);
  const watchers = checkWatches(starts, deliveries, log, report);
  return summary(violationCount === 0 ? 'ok' : 'violation', violationCount === 0 ? undefined : violations[0]!.message, {
    revisionsKnown: log.size, unknownWritesPlaced: placedAt.size, reads, watchers,
  });
}

type Report = (kind: RevisionViolationKind, message: string, involved?: readonly Operation[]) => void;

/**
 * Revisions increase with real time. Sweeping operations by call time while
 * folding in every operation that completed before: a write must carry a
 * revision above all of those, a read one at least as high.
 */
function checkRealTime(operations: readonly Operation[], placedAt: ReadonlyMap<Operation, number>, report: Report, describe: (operation: Operation) => string): void {
  const timed: { operation: Operation; revision: number; write: boolean }[] = [];
  for (const operation of operations) {
    const write = WRITES.has(operation.f);
    if (operation.type === 'ok' && operation.revision !== undefined && (write || READS.has(operation.f))) timed.push({ operation, revision: operation.revision, write });
    else if (operation.type === 'info' && write && placedAt.has(operation)) timed.push({ operation, revision: placedAt.get(operation)!, write });
  }
  const byCall = [...timed].sort((a, b) => a.operation.call - b.operation.call);
  const byReturn = timed.filter((item) => Number.isFinite(item.operation.ret)).sort((a, b) => a.operation.ret - b.operation.ret);
  let finished = 0;
  let highest: (typeof timed)[number] | undefined;
  for (const item of byCall) {
    while (finished < byReturn.length && byReturn[finished]!.operation.ret < item.operation.call) {
      const done = byReturn[finished]!;
      if (highest === undefined || done.revision > highest.revision) highest = done;
      finished += 1;
    }
    if (highest === undefined) continue;
    const broken = item.write ? item.revision <= highest.revision : item.revision < highest.revision;
    if (broken) {
      report('real-time', `the ${describe(item.operation)} has revision ${item.revision}, but it started after the ${describe(highest.operation)} had finished with revision ${highest.revision}`, [highest.operation, item.operation]);
    }
  }
}

/** Each key's logged writes in revision order. */
function keyLogs(log: ReadonlyMap<number, Entry>): Map<string, Entry[]> {
  const byKey = new Map<string, Entry[]>();
  for (const entry of log.values()) {
    const list = byKey.get(entry.key) ?? [];
    list.push(entry);
    byKey.set(entry.key, list);
  }
  for (const list of byKey.values()) list.sort((a, b) => a.revision - b.revision);
  return byKey;
}

/** The last entry in `list` (sorted) with a revision at or below `revision`. */
function lastAtOrBelow(list: readonly Entry[] | undefined, revision: number): Entry | undefined {
  if (list === undefined) return undefined;
  let low = 0;
  let high = list.length - 1;
  let found: Entry | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (list[middle]!.revision <= revision) {
      found = list[middle];
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

/** A read at R sees the last known write to its key at or below R. */
function checkReads(operations: readonly Operation[], byKey: ReadonlyMap<string, Entry[]>, report: Report, describe: (operation: Operation) => string): void {
  for (const operation of operations) {
    if (operation.type !== 'ok' || !READS.has(operation.f) || operation.revision === undefined) continue;
    const latest = lastAtOrBelow(byKey.get(operation.key), operation.revision);
    if (latest === undefined) continue;
    const seen = operation.value === null ? 0 : operation.modRevision ?? 0;
    if (latest.revision > seen && !(latest.value === null && operation.value === null)) {
      report('stale-read', `the ${describe(operation)} at revision ${operation.revision} returned ${show(operation.key, operation.value)}${seen ? ` (mod_revision ${seen})` : ''}, but ${show(latest.key, latest.value)} was written at revision ${latest.revision} (per ${latest.origin})`, [operation]);
    }
  }
}

/** A successful compare-and-set found its expected value: the key's last known write below its revision wrote it. */
function checkCompareAndSets(
  operations: readonly Operation[], byKey: ReadonlyMap<string, Entry[]>, writers: ReadonlyMap<string, Operation | 'ambiguous'>,
  report: Report, describe: (operation: Operation) => string,
): void {
  for (const operation of operations) {
    if (operation.type !== 'ok' || operation.f !== 'cas' || operation.revision === undefined) continue;
    const before = lastAtOrBelow(byKey.get(operation.key), operation.revision - 1);
    const expected = operation.from ?? null;
    if (expected === null) {
      if (before !== undefined && before.value !== null) {
        report('cas-expectation', `the ${describe(operation)} expected ${operation.key} absent at revision ${operation.revision}, but ${show(before.key, before.value)} was written at revision ${before.revision} (per ${before.origin})`, [operation]);
      }
      continue;
    }
    // Only a known write of the expected value, overwritten by a known later one, is a definite violation.
    const writer = writers.get(valueId(operation.key, expected));
    if (before === undefined || writer === undefined || writer === 'ambiguous' || before.value === expected) continue;
    const expectedEntry = (byKey.get(operation.key) ?? []).find((entry) => entry.value === expected);
    if (expectedEntry !== undefined && expectedEntry.revision < before.revision) {
      report('cas-expectation', `the ${describe(operation)} expected ${show(operation.key, expected)} (written at revision ${expectedEntry.revision}) at revision ${operation.revision}, but ${show(before.key, before.value)} had replaced it at revision ${before.revision}`, [operation]);
    }
  }
}

/** Each watch stream: in revision order, no repeats, and no logged write under its prefix skipped. */
function checkWatches(starts: readonly WatchStart[], deliveries: readonly WatchDelivery[], log: ReadonlyMap<number, Entry>, report: Report): number {
  const streams = new Map<string, { start: WatchStart | undefined; events: WatchDelivery[] }>();
  for (const start of starts) streams.set(start.watcher, { start, events: [] });
  for (const delivery of deliveries) {
    const stream = streams.get(delivery.watcher) ?? { start: undefined, events: [] };
    stream.events.push(delivery);
    streams.set(delivery.watcher, stream);
  }
  const sortedLog = [...log.values()].sort((a, b) => a.revision - b.revision);
  for (const [watcher, { start, events }] of streams) {
    const seen = new Set<string>();
    let previous: WatchDelivery | undefined;
    for (const event of events) {
      const id = `${event.revision}\u0000${event.key}`;
      if (seen.has(id)) report('watch-duplicate', `watch ${watcher} delivered ${event.key}@${event.revision} twice (line ${event.line})`);
      seen.add(id);
      if (start !== undefined && (event.revision < start.revision || !event.key.startsWith(start.prefix))) {
        report('watch-order', `watch ${watcher} (from revision ${start.revision}, prefix ${JSON.stringify(start.prefix)}) delivered ${event.key}@${event.revision} (line ${event.line}), outside what it watches`);
      }
      if (previous !== undefined && event.revision < previous.revision) {
        report('watch-order', `watch ${watcher} delivered revision ${event.revision} (line ${event.line}) after revision ${previous.revision} (line ${previous.line})`);
      }
      previous = event;
    }
    if (events.length === 0) continue;
    const from = start?.revision ?? events[0]!.revision;
    const to = Math.max(...events.map((event) => event.revision));
    const prefix = start?.prefix;
    for (const entry of sortedLog) {
      if (entry.revision < from) continue;
      if (entry.revision > to) break;
      if (prefix !== undefined && !entry.key.startsWith(prefix)) continue;
      if (prefix === undefined && !events.some((event) => event.key === entry.key)) continue;
      if (!seen.has(`${entry.revision}\u0000${entry.key}`)) {
        report('watch-gap', `watch ${watcher} skipped ${show(entry.key, entry.value)} at revision ${entry.revision} (per ${entry.origin}), between revisions ${from} and ${to} it delivered`);
      }
    }
  }
  return streams.size;
}

function valueId(key: string, value: Scalar): string {
  return `${key}\u0000${typeof value}\u0000${String(value)}`;
}

function show(key: string, value: Scalar): string {
  return value === null ? `${key} deleted/absent` : `${key}=${JSON.stringify(value)}`;
}
