import { assert } from './assert.js';
import type { ByteString } from './bytes.js';
import { compareByteStrings, toByteString, toKeyRange } from './bytes.js';
import { IncrementalMergeSort } from './merge-sort.js';
import { CompactedError, FutureRevisionError, KeyNotFoundError, LeaseNotFoundError } from './errors.js';
import type { KvStore, WriteTxn } from './kv-store.js';
import { executeRange } from './range.js';
import type { KvRecord } from './record.js';
import { toKeyValue } from './record.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from './types.js';

/**
 * Where one command executes: the store, its open write (undefined for a
 * read-only txn served outside the log), the revision every compare of the
 * command reads (the state before the command, as etcd's compareToPath),
 * and the header all its responses share.
 */
export interface Execution {
  readonly store: KvStore;
  readonly write: WriteTxn | undefined;
  readonly compareRevision: number;
  readonly header: ResponseHeader;
}

function readRevision(execution: Execution): number {
  return execution.write?.readRevision ?? execution.store.currentRevision;
}

function requireWrite(execution: Execution): WriteTxn {
  assert(execution.write !== undefined, 'a write op in a read-only execution');
  return execution.write;
}

/** etcd's put: the value and lease may be kept from the live key (ignore_value/ignore_lease). */
export function executePut(execution: Execution, request: PutRequest): PutResponse {
  const write = requireWrite(execution);
  const key = toByteString(request.key);
  const live = execution.store.get(key, write.readRevision);
  if ((request.ignoreValue || request.ignoreLease) && live === undefined) throw new KeyNotFoundError();
  const value = request.ignoreValue ? live!.value : toByteString(request.value);
  const lease = request.ignoreLease ? live!.lease : (request.lease ?? 0n);
  if (lease !== 0n && !execution.store.leases.has(lease)) throw new LeaseNotFoundError(lease);
  write.put(key, value, lease);
  return request.prevKv && live !== undefined ? { header: execution.header, prevKv: toKeyValue(live) } : { header: execution.header };
}

/** Deletes every live key of the range, in key order, one sub-revision each: a {@link RangeDeletion} in one step. */
export function executeDeleteRange(execution: Execution, request: DeleteRangeRequest): DeleteRangeResponse {
  return new RangeDeletion(execution, request).step(Number.POSITIVE_INFINITY)!;
}

/**
 * A DeleteRange, over several calls for a range too large to delete in one
 * turn of a member's loop: each `step(keysMax)` walks at most `keysMax`
 * more keys of the range (live or not) from where the last one stopped,
 * deleting the live ones, and the last step returns the response
 * ({@link executeDeleteRange} is one step of no bound). Each key is deleted
 * as the walk reaches it, through the key history the walk holds (no second
 * lookup by key: over 160,000 keys in scattered memory that lookup cost a
 * quarter of the apply, bench/store.ts's delete range row); a tombstone
 * only adds to a key's history, never to the key order the walk follows.
 * Every step reads at the revision before the command, as the single pass
 * does, and the caller keeps the write open meanwhile: until it commits,
 * the store's current revision is the one before the command, so reads see
 * none of the deletes (a tombstone at the next revision is invisible to a
 * read at the current one, KeyIndex.at), and no other write may apply.
 */
export class RangeDeletion {
  readonly #execution: Execution;
  readonly #write: WriteTxn;
  readonly #request: DeleteRangeRequest;
  readonly #revision: number;
  readonly #end: ByteString | null;
  /** The first key the next step walks from; undefined once the range is walked. */
  #from: ByteString | undefined;
  readonly #prevKvs: KeyValue[] = [];
  #deleted = 0;

  constructor(execution: Execution, request: DeleteRangeRequest) {
    this.#execution = execution;
    this.#write = requireWrite(execution);
    this.#request = request;
    this.#revision = this.#write.readRevision; // fixed now: once the first tombstone is in, readRevision moves to the command's own
    const range = toKeyRange(request.key, request.rangeEnd);
    this.#from = range.start;
    this.#end = range.end;
  }

  /** Walks up to `keysMax` (>= 1) keys of the range; returns the response once it walked the last. */
  step(keysMax: number): DeleteRangeResponse | undefined {
    assert(keysMax >= 1, 'RangeDeletion.step: keysMax must be at least 1');
    const from = this.#from;
    if (from !== undefined) {
      let walked = 0;
      let last: ByteString | undefined;
      this.#execution.store.walk({ start: from, end: this.#end }, this.#revision, (record, keyIndex) => {
        if (walked === keysMax) return false; // `last` is the last key walked; the next step starts after it
        walked++;
        last = keyIndex.key;
        if (record === undefined) return true;
        this.#write.delete(record.key, keyIndex);
        if (this.#request.prevKv) this.#prevKvs.push(toKeyValue(record));
        this.#deleted++;
        return true;
      });
      // Fewer than keysMax walked: the range ended. Else the next step starts at the key just after the last one walked.
      this.#from = walked < keysMax || last === undefined ? undefined : ((last + '\0') as ByteString);
      if (this.#from !== undefined) return undefined;
    }
    return { header: this.#execution.header, deleted: this.#deleted, prevKvs: this.#prevKvs };
  }
}

/**
 * Units of sorting work (IncrementalMergeSort's: an item compared and
 * moved) a KeysDeletion step may do per key it may delete: sorting is
 * cheaper per item than a delete, and a million keys take about ten merge
 * passes.
 */
const SORT_WORK_PER_KEY = 8;

/**
 * A lease revoke's deletes of the given keys, over several calls, as
 * {@link RangeDeletion} for a range: each `step(keysMax)` looks at up to `keysMax` more of the keys, in
 * the order given, deleting the live ones, and the last returns how many
 * it deleted. Every step reads at the revision before the command. With
 * `sort`, the keys are first put in byte order, in steps too (a lease of a
 * million keys took 1.4 s to sort in one call here), so a revoke deletes
 * them in the same order on every member whatever order they were attached
 * in.
 */
export class KeysDeletion {
  readonly #execution: Execution;
  readonly #write: WriteTxn;
  #keys: readonly ByteString[];
  readonly #sorting: IncrementalMergeSort<ByteString> | undefined;
  readonly #revision: number;
  #next = 0;
  #deleted = 0;

  constructor(execution: Execution, keys: ByteString[], options: { sort?: boolean } = {}) {
    this.#execution = execution;
    this.#write = requireWrite(execution);
    this.#keys = keys;
    this.#sorting = options.sort ? new IncrementalMergeSort(keys, compareByteStrings) : undefined;
    this.#revision = this.#write.readRevision;
  }

  /** Looks at up to `keysMax` (>= 1) more keys (sorting them first, with `sort`); returns the count deleted once it looked at the last. */
  step(keysMax: number): number | undefined {
    assert(keysMax >= 1, 'KeysDeletion.step: keysMax must be at least 1');
    if (this.#sorting !== undefined && !this.#sorting.done) {
      if (!this.#sorting.step(keysMax * SORT_WORK_PER_KEY)) return undefined;
      this.#keys = this.#sorting.sorted;
    }
    const end = Math.min(this.#keys.length, this.#next + keysMax);
    for (; this.#next < end; this.#next++) {
      const key = this.#keys[this.#next]!;
      if (this.#execution.store.get(key, this.#revision) === undefined) continue;
      this.#write.delete(key);
      this.#deleted++;
    }
    return this.#next < this.#keys.length ? undefined : this.#deleted;
  }
}

/**
 * etcd's txn: all compares (this txn's and those of txns nested in the
 * branch taken) read the state before the command; the ops of the chosen
 * branch then run in order, each seeing the writes of the ones before.
 */
export function executeTxn(execution: Execution, request: TxnRequest): TxnResponse {
  const succeeded = request.compare.every((compare) => evaluateCompare(execution, compare));
  const ops = succeeded ? request.success : request.failure;
  checkRangeRevisions(execution, ops);
  const responses = ops.map((op) => executeOp(execution, op));
  return { header: execution.header, succeeded, responses };
}

/**
 * etcd's checkRequests(..., checkRange), run before any op of the branch
 * taken: a range's revision is checked against the state before the
 * command, not against the revision this txn's own writes are making. So a
 * branch that writes and then ranges at the new revision is refused as a
 * future revision, and the whole txn fails with nothing applied, as etcd
 * 3.4 answers it (found by the etcd differential, seeds 2 and 3). Nested
 * txns are followed down the branch their compares pick, which also read
 * the state before the command.
 */
function checkRangeRevisions(execution: Execution, ops: readonly RequestOp[]): void {
  for (const op of ops) {
    if (op.type === 'txn') {
      const nested = op.request;
      checkRangeRevisions(execution, nested.compare.every((compare) => evaluateCompare(execution, compare)) ? nested.success : nested.failure);
      continue;
    }
    if (op.type !== 'range') continue;
    const requested = op.request.revision ?? 0;
    if (requested <= 0) continue;
    if (requested > execution.compareRevision) throw new FutureRevisionError(requested, execution.compareRevision);
    if (requested < execution.store.compactRevision) throw new CompactedError(requested, execution.store.compactRevision);
  }
}

function executeOp(execution: Execution, op: RequestOp): ResponseOp {
  switch (op.type) {
    case 'range':
      return { type: 'range', response: executeRange(execution.store, op.request, readRevision(execution), execution.header) };
    case 'put':
      return { type: 'put', response: executePut(execution, op.request) };
    case 'deleteRange':
      return { type: 'deleteRange', response: executeDeleteRange(execution, op.request) };
    case 'txn':
      return { type: 'txn', response: executeTxn(execution, op.request) };
  }
}

/**
 * etcd's applyCompare: every key of the range must satisfy the compare; no
 * key compares as a zero KeyValue, except that VALUE on no key is false
 * (gRPC cannot tell a missing value from an empty one).
 */
function evaluateCompare(execution: Execution, compare: Compare): boolean {
  let seen = false;
  let holds = true;
  execution.store.scan(toKeyRange(compare.key, compare.rangeEnd), execution.compareRevision, (record) => {
    seen = true;
    holds = compareRecord(compare, record);
    return holds;
  });
  if (seen) return holds;
  return compare.target === 'VALUE' ? false : compareRecord(compare, undefined);
}

function compareRecord(compare: Compare, record: KvRecord | undefined): boolean {
  const order = compareTarget(compare, record);
  switch (compare.result) {
    case 'EQUAL':
      return order === 0;
    case 'NOT_EQUAL':
      return order !== 0;
    case 'GREATER':
      return order > 0;
    case 'LESS':
      return order < 0;
  }
}

function compareTarget(compare: Compare, record: KvRecord | undefined): number {
  switch (compare.target) {
    case 'VALUE':
      return order(record?.value ?? '', toByteString(compare.value ?? new Uint8Array(0)));
    case 'LEASE':
      return order(record?.lease ?? 0n, compare.lease ?? 0n);
    case 'VERSION':
      return order(record?.version ?? 0, compare.version ?? 0);
    case 'CREATE':
      return order(record?.createRevision ?? 0, compare.createRevision ?? 0);
    case 'MOD':
      return order(record?.main ?? 0, compare.modRevision ?? 0);
  }
}

function order<T extends string | number | bigint>(left: T, right: T): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
