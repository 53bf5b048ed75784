/**
 * The KV calls' options and their request bodies on the JSON gateway: keys
 * and values in base64, int64s as decimal strings, etcd's field names.
 * Pure functions; the client sends what they build.
 */
import { type Bytes, int64Argument, type KeyValue, prefixRangeEnd, toBase64, toBuffer } from './codec.js';
import { InvalidArgumentError } from './errors.js';

/** Options every call takes. */
export interface CallOptions {
  /** This call's deadline, all attempts included (default the client's `timeoutMs`). */
  readonly timeoutMs?: number;
  /** Aborts the call. */
  readonly signal?: AbortSignal;
}

/** Options of the write calls. */
export interface WriteOptions extends CallOptions {
  /** The caller vouches that applying this write twice is harmless: retry it like a read. Default false. */
  readonly idempotent?: boolean;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeOptions extends CallOptions {
  /** End of the range, exclusive. */
  readonly rangeEnd?: Bytes;
  /** Every key starting with `key` (sets rangeEnd). */
  readonly prefix?: boolean;
  readonly limit?: number;
  /** Read at this revision (default: the latest). */
  readonly revision?: number;
  /** Serve from the member's local state without a quorum round (may be stale). Default false: linearizable. */
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
}

export interface GetOptions extends CallOptions {
  readonly serializable?: boolean;
  readonly revision?: number;
}

export interface PutOptions extends WriteOptions {
  /** Lease id (decimal string). */
  readonly lease?: string;
  /** Return the previous key-value. */
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  readonly rangeEnd?: Bytes;
  readonly prefix?: boolean;
  readonly prevKv?: boolean;
}

export type CompareResult = 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';

/** One txn comparison. On a missing key VERSION/CREATE/MOD compare against 0 and VALUE always fails (etcd's rules). */
export type Compare = { readonly key: Bytes; readonly rangeEnd?: Bytes; readonly result: CompareResult } & (
  | { readonly target: 'VALUE'; readonly value: Bytes }
  | { readonly target: 'VERSION' | 'CREATE' | 'MOD'; readonly value: number }
  | { readonly target: 'LEASE'; readonly value: string }
);

export type TxnOp =
  | { readonly put: { readonly key: Bytes; readonly value: Bytes; readonly lease?: string; readonly prevKv?: boolean } }
  | { readonly range: Omit<RangeOptions, keyof CallOptions> & { readonly key: Bytes } }
  | { readonly delete: { readonly key: Bytes; readonly rangeEnd?: Bytes; readonly prefix?: boolean; readonly prevKv?: boolean } };

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

export interface CompareAndSwapResult {
  readonly succeeded: boolean;
  /** The store's revision after the txn (the new mod_revision of the key when it succeeded). */
  readonly revision: number;
  /** When the compare failed: the key as it was (undefined if absent). */
  readonly current: KeyValue | undefined;
}

export function keyArgument(key: Bytes, what = 'key'): string {
  const bytes = toBuffer(key);
  if (bytes.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  return bytes.toString('base64');
}

function rangeEndOf(key: Bytes, rangeEnd: Bytes | undefined, prefix: boolean | undefined): string | undefined {
  if (prefix === true) return prefixRangeEnd(key).toString('base64');
  return rangeEnd === undefined ? undefined : toBase64(rangeEnd);
}

export function rangeBody(key: Bytes, options: Omit<RangeOptions, keyof CallOptions>): Record<string, unknown> {
  const body: Record<string, unknown> = { key: keyArgument(key) };
  const end = rangeEndOf(key, options.rangeEnd, options.prefix);
  if (end !== undefined) body.range_end = end;
  if (options.limit !== undefined) body.limit = int64Argument(options.limit, 'limit');
  if (options.revision !== undefined) body.revision = int64Argument(options.revision, 'revision');
  if (options.serializable === true) body.serializable = true;
  if (options.keysOnly === true) body.keys_only = true;
  if (options.countOnly === true) body.count_only = true;
  if (options.sortOrder !== undefined) body.sort_order = options.sortOrder;
  if (options.sortTarget !== undefined) body.sort_target = options.sortTarget;
  return body;
}

export function putBody(key: Bytes, value: Bytes, options: Omit<PutOptions, keyof WriteOptions>): Record<string, unknown> {
  const body: Record<string, unknown> = { key: keyArgument(key), value: toBase64(value) };
  if (options.lease !== undefined) body.lease = options.lease;
  if (options.prevKv === true) body.prev_kv = true;
  if (options.ignoreValue === true) body.ignore_value = true;
  if (options.ignoreLease === true) body.ignore_lease = true;
  return body;
}

export function deleteBody(key: Bytes, options: { readonly rangeEnd?: Bytes; readonly prefix?: boolean; readonly prevKv?: boolean }): Record<string, unknown> {
  const body: Record<string, unknown> = { key: keyArgument(key) };
  const end = rangeEndOf(key, options.rangeEnd, options.prefix);
  if (end !== undefined) body.range_end = end;
  if (options.prevKv === true) body.prev_kv = true;
  return body;
}

const COMPARE_FIELD = { VERSION: 'version', CREATE: 'create_revision', MOD: 'mod_revision', VALUE: 'value', LEASE: 'lease' } as const;

function compareBody(compare: Compare): Record<string, unknown> {
  const body: Record<string, unknown> = { key: keyArgument(compare.key), target: compare.target, result: compare.result };
  if (compare.rangeEnd !== undefined) body.range_end = toBase64(compare.rangeEnd);
  const field = COMPARE_FIELD[compare.target];
  if (compare.target === 'VALUE') body[field] = toBase64(compare.value);
  else if (compare.target === 'LEASE') body[field] = compare.value;
  else body[field] = int64Argument(compare.value, `compare ${compare.target}`);
  return body;
}

function opBody(op: TxnOp): Record<string, unknown> {
  if ('put' in op) return { request_put: putBody(op.put.key, op.put.value, op.put) };
  if ('delete' in op) return { request_delete_range: deleteBody(op.delete.key, op.delete) };
  return { request_range: rangeBody(op.range.key, op.range) };
}

export function txnIsReadOnly(request: TxnRequest): boolean {
  return [...(request.success ?? []), ...(request.failure ?? [])].every((op) => 'range' in op);
}

/** A txn's body: compares, then the success and failure branches. */
export function txnBody(request: TxnRequest): Record<string, unknown> {
  return { compare: (request.compare ?? []).map(compareBody), success: (request.success ?? []).map(opBody), failure: (request.failure ?? []).map(opBody) };
}
