/**
 * A history: the operations clients ran against a store, each with the
 * real-time interval it was outstanding. All three file formats describe
 * events (an invocation, then a completion by the same process); `pairEvents`
 * turns them into operations the same way for all of them.
 *
 * Semantics (Jepsen's):
 * - `ok`: the operation took effect, somewhere between its call and its return.
 * - `fail`: it certainly did not take effect. It is dropped before checking
 *   (a failed compare-and-set is not used as a read: dropping it is weaker,
 *   so never a false alarm).
 * - `info`: unknown. It may take effect at any point after its call, or
 *   never; its return time is +Infinity. An unknown read has no effect and
 *   is dropped.
 */
import { CheckUsageError, UnpairedEventError } from './errors.js';

/** A value as histories carry them: Jepsen's integers, keel's and the kv files' strings, nil. */
export type Scalar = string | number | null;

export type OperationType = 'ok' | 'fail' | 'info';

/** Operations of all models: register (read, write, cas), the key-value map (get, put, append), the lock (acquire, release). */
export type OperationName = 'read' | 'write' | 'cas' | 'get' | 'put' | 'append' | 'acquire' | 'release';
export const OPERATION_NAMES: readonly OperationName[] = ['read', 'write', 'cas', 'get', 'put', 'append', 'acquire', 'release'];

export interface Operation {
  /** Index in the history as read (stable across partitioning, used in reports). */
  readonly id: number;
  readonly process: string;
  /** Invocation time (any monotonic unit; line numbers for Jepsen and EDN files). */
  readonly call: number;
  /** Completion time; +Infinity for `info`. */
  readonly ret: number;
  readonly type: OperationType;
  readonly f: OperationName;
  readonly key: string;
  /** write/put/append: the value written; read/get: the value observed (ok only); cas: unused (null). */
  readonly value: Scalar;
  /** cas only: the expected and the new value. */
  readonly from?: Scalar;
  readonly to?: Scalar;
  /** Where the completion (or the invocation, for an unfinished one) was read. */
  readonly line?: number;
  /**
   * etcd's revisions, when the recorder kept them (ok completions only):
   * a write's is the revision it created; a read's is the store revision it
   * was served at (the response header's).
   */
  readonly revision?: number | undefined;
  /** A read only: the mod_revision of the value it returned (0 when the key was absent). */
  readonly modRevision?: number | undefined;
}

/** One event a watch stream delivered, in delivery order (keel JSONL `"type":"watch"`). */
export interface WatchDelivery {
  /** The watcher's name (its `process` field). */
  readonly watcher: string;
  readonly event: 'put' | 'delete';
  readonly key: string;
  /** The value put (null for a delete). */
  readonly value: Scalar;
  /** The event's mod_revision. */
  readonly revision: number;
  readonly time: number;
  readonly line: number;
}

/** A watch stream's start (keel JSONL `"type":"watch-start"`): it covers every key under `prefix` from `revision` on. */
export interface WatchStart {
  readonly watcher: string;
  readonly prefix: string;
  readonly revision: number;
  readonly line: number;
}

/** A fault injected during the run (keel JSONL `"type":"fault"`), drawn on the timeline. */
export interface FaultSpan {
  readonly name: string;
  readonly description: string;
  /** Same clock as the operations' times. */
  readonly start: number;
  readonly end: number;
  readonly line: number;
}

export interface History {
  readonly operations: readonly Operation[];
  /** Where it came from, for reports. */
  readonly source: string;
  /** Faults recorded with the operations (keel JSONL only). */
  readonly faults?: readonly FaultSpan[];
  /** Watch streams recorded with the operations (keel JSONL only). */
  readonly watches?: { readonly starts: readonly WatchStart[]; readonly deliveries: readonly WatchDelivery[] };
}

/** One line of a history file, whatever its syntax. */
export interface HistoryEvent {
  readonly process: string;
  readonly type: 'invoke' | OperationType;
  readonly f: OperationName;
  readonly key: string;
  /** invoke: the argument (write value, [from, to] for cas, null for reads); completion: the result (read value). */
  readonly value: Scalar | readonly [Scalar, Scalar];
  readonly time: number;
  readonly line: number;
  /** Completions: etcd revisions, when recorded (see Operation). */
  readonly revision?: number | undefined;
  readonly modRevision?: number | undefined;
}

/** Largest number of operations in one history; larger ones are refused (bounded memory). */
export const OPERATIONS_MAX = 5_000_000;

interface Open {
  readonly event: HistoryEvent;
}

/**
 * Pairs invocations with completions per process. A process has at most one
 * operation open; an invocation still open at the end of the file becomes
 * `info` (the client never learned the outcome).
 */
export function pairEvents(file: string, events: Iterable<HistoryEvent>): History {
  const open = new Map<string, Open>();
  const operations: Operation[] = [];
  const push = (invoke: HistoryEvent, type: OperationType, completion: HistoryEvent | undefined): void => {
    operations.push(uniformOperation(buildOperation(file, operations.length, invoke, type, completion)));
  };
  for (const event of events) {
    if (event.type === 'invoke') {
      if (open.has(event.process)) throw new UnpairedEventError(file, event.line, `process ${event.process} invokes ${event.f} while its operation from line ${open.get(event.process)?.event.line} is still open`);
      open.set(event.process, { event });
      continue;
    }
    const pending = open.get(event.process);
    if (pending === undefined) throw new UnpairedEventError(file, event.line, `process ${event.process} completes ${event.f} (${event.type}) with no open invocation`);
    if (pending.event.f !== event.f) throw new UnpairedEventError(file, event.line, `process ${event.process} completes ${event.f} but invoked ${pending.event.f} on line ${pending.event.line}`);
    if (event.time < pending.event.time) throw new UnpairedEventError(file, event.line, `process ${event.process} completes at ${event.time}, before its invocation at ${pending.event.time}`);
    open.delete(event.process);
    push(pending.event, event.type, event);
  }
  // What is still open when the file ends never completed: unknown outcome.
  for (const { event } of [...open.values()].sort((a, b) => a.event.line - b.event.line)) push(event, 'info', undefined);
  return { operations: operations.sort((a, b) => a.call - b.call || a.id - b.id), source: file };
}

function buildOperation(file: string, id: number, invoke: HistoryEvent, type: OperationType, completion: HistoryEvent | undefined): Operation {
  if (id >= OPERATIONS_MAX) throw new UnpairedEventError(file, invoke.line, `more than ${OPERATIONS_MAX} operations`);
  const revisions = type === 'ok' ? { revision: completion?.revision, modRevision: completion?.modRevision } : {};
  const base = { id, process: invoke.process, call: invoke.time, ret: type === 'info' || completion === undefined ? Number.POSITIVE_INFINITY : completion.time, type, f: invoke.f, key: invoke.key, line: completion?.line ?? invoke.line, ...revisions };
  if (invoke.f === 'cas') {
    const pair = Array.isArray(invoke.value) ? invoke.value : undefined;
    if (pair === undefined || pair.length !== 2) throw new UnpairedEventError(file, invoke.line, 'cas takes [from, to]');
    return { ...base, value: null, from: pair[0] as Scalar, to: pair[1] as Scalar };
  }
  if (Array.isArray(invoke.value)) throw new UnpairedEventError(file, invoke.line, `${invoke.f} takes one value, not a pair`);
  const reads = invoke.f === 'read' || invoke.f === 'get';
  // A read's value is what the completion says; a write's is its argument (an :info completion often says :timed-out instead).
  const value = reads ? (type === 'ok' ? completion?.value ?? null : null) : invoke.value;
  if (Array.isArray(value)) throw new UnpairedEventError(file, completion?.line ?? invoke.line, `${invoke.f} returned a pair`);
  return { ...base, value: value as Scalar };
}

/** True for operations that observe state (and may change it: a cas). */
export function isRead(operation: Operation): boolean {
  return operation.f === 'read' || operation.f === 'get';
}

/**
 * What the checker actually sees: failed operations and unknown reads
 * removed (neither had an effect), unknown operations returning at +Infinity.
 */
export function effective(operations: readonly Operation[]): Operation[] {
  return operations.filter((operation) => operation.type === 'ok' || (operation.type === 'info' && !isRead(operation))).map(uniformOperation);
}

/**
 * A copy built by one object literal, every field present in one order.
 * Operations built by spreading (the readers, the simulator) come in several
 * hidden classes, some with an integer and some with an Infinity `ret`; the
 * checker's loops read them millions of times and ran about 25 times slower
 * on them (measured on a 5,000-operation register).
 */
export function uniformOperation(operation: Operation): Operation {
  return {
    id: operation.id, process: operation.process, call: operation.call, ret: operation.ret, type: operation.type, f: operation.f, key: operation.key,
    value: operation.value, from: operation.from, to: operation.to, line: operation.line, revision: operation.revision, modRevision: operation.modRevision,
  };
}

/** Splits by key (P-compositionality: each key is its own object), in first-call order. */
export function partitionByKey(operations: readonly Operation[]): Map<string, Operation[]> {
  const partitions = new Map<string, Operation[]>();
  for (const operation of operations) {
    let list = partitions.get(operation.key);
    if (list === undefined) {
      list = [];
      partitions.set(operation.key, list);
    }
    list.push(operation);
  }
  return partitions;
}

export function formatScalar(value: Scalar | undefined): string {
  if (value === null || value === undefined) return 'nil';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A one-line description of an operation for reports: `p3 write 4 ok [12, 15]`. */
export function describeOperation(operation: Operation): string {
  const argument = operation.f === 'cas' ? ` ${formatScalar(operation.from)}->${formatScalar(operation.to)}` : ` ${formatScalar(operation.value)}`;
  const end = operation.ret === Number.POSITIVE_INFINITY ? '∞' : String(operation.ret);
  return `#${operation.id} p${operation.process} ${operation.f}${argument} ${operation.type} [${operation.call}, ${end}]${operation.line === undefined ? '' : ` line ${operation.line}`}`;
}

/** Guards the checker's numeric options. */
export function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new CheckUsageError(`${name} must be a positive number, got ${value}`);
  return value;
}
