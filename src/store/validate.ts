import type { ByteString, KeyRange } from './bytes.js';
import { inKeyRange, toByteString, toKeyRange } from './bytes.js';
import {
  DuplicateKeyError,
  EmptyKeyError,
  InvalidRequestError,
  LeaseProvidedError,
  TooManyOpsError,
  TxnTooDeepError,
  ValueProvidedError,
} from './errors.js';
import { TXN_DEPTH_MAX, TXN_OPS_MAX } from './limits.js';
import type { Command } from './command.js';
import { checkAlarmRequest } from './alarms.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './types.js';

/**
 * The request checks etcd makes before proposing (api/v3rpc/key.go), as
 * plain functions the API layer calls first. apply() runs validateCommand
 * too, so a command that slipped past is rejected the same way on every
 * member. The duplicate-key check (checkTxnIntervals) is the API layer's
 * alone, as in etcd: the state machine itself gives a put and a delete of
 * one key in one txn their own sub-revisions.
 */
export function validateCommand(command: Command): void {
  switch (command.type) {
    case 'put':
      return validatePut(command.request);
    case 'deleteRange':
      return validateDeleteRange(command.request);
    case 'txn':
      return validateTxn(command.request);
    case 'compact':
      return requireInteger(command.request.revision, 'compaction revision', Number.MIN_SAFE_INTEGER);
    case 'leaseGrant':
      if (command.request.id === 0n) throw new InvalidRequestError('lease id 0 is reserved for "no lease"');
      return requireInteger(command.request.ttlSeconds, 'lease ttl', 0);
    case 'leaseRevoke':
      if (command.request.id === 0n) throw new InvalidRequestError('lease id 0 is reserved for "no lease"');
      return;
    case 'alarm':
      return checkAlarmRequest(command.request);
  }
}

export function validateRange(request: RangeRequest): void {
  requireKey(request.key);
}

export function validatePut(request: PutRequest): void {
  requireKey(request.key);
  if (request.ignoreValue && request.value.length > 0) throw new ValueProvidedError();
  if (request.ignoreLease && (request.lease ?? 0n) !== 0n) throw new LeaseProvidedError();
}

export function validateDeleteRange(request: DeleteRangeRequest): void {
  requireKey(request.key);
}

export function validateTxn(request: TxnRequest, depth = 1): void {
  if (depth > TXN_DEPTH_MAX) throw new TxnTooDeepError(TXN_DEPTH_MAX);
  for (const list of [request.compare, request.success, request.failure]) {
    if (list.length > TXN_OPS_MAX) throw new TooManyOpsError(list.length, TXN_OPS_MAX);
  }
  for (const compare of request.compare) requireKey(compare.key);
  for (const op of request.success) validateOp(op, depth);
  for (const op of request.failure) validateOp(op, depth);
}

function validateOp(op: RequestOp, depth: number): void {
  switch (op.type) {
    case 'range':
      return validateRange(op.request);
    case 'put':
      return validatePut(op.request);
    case 'deleteRange':
      return validateDeleteRange(op.request);
    case 'txn':
      return validateTxn(op.request, depth + 1);
  }
}

/** True when no branch of the txn, at any depth, writes. */
export function isReadOnlyTxn(request: TxnRequest): boolean {
  return [...request.success, ...request.failure].every(
    (op) => op.type === 'range' || (op.type === 'txn' && isReadOnlyTxn(op.request)),
  );
}

/**
 * etcd's checkIntervals: within what one execution of the txn can run, no
 * key may be put twice or both put and deleted. The success and failure
 * branches of a nested txn exclude each other, so they may write the same key.
 * Throws DuplicateKeyError.
 */
export function checkTxnIntervals(request: TxnRequest): void {
  checkIntervals(request.success);
  checkIntervals(request.failure);
}

interface Writes {
  puts: Set<ByteString>;
  deletes: KeyRange[];
}

function checkIntervals(ops: readonly RequestOp[]): Writes {
  const deletes: KeyRange[] = [];
  for (const op of ops) if (op.type === 'deleteRange') deletes.push(toKeyRange(op.request.key, op.request.rangeEnd));
  const puts = new Set<ByteString>();
  const conflicts = (key: ByteString): boolean => deletes.some((range) => inKeyRange(range, key));
  for (const op of ops) {
    if (op.type !== 'txn') continue;
    const then = checkIntervals(op.request.success);
    const otherwise = checkIntervals(op.request.failure);
    for (const key of then.puts) {
      if (puts.has(key) || conflicts(key)) throw new DuplicateKeyError();
      puts.add(key);
    }
    for (const key of otherwise.puts) {
      if ((puts.has(key) && !then.puts.has(key)) || conflicts(key)) throw new DuplicateKeyError();
      puts.add(key);
    }
    deletes.push(...then.deletes, ...otherwise.deletes);
  }
  for (const op of ops) {
    if (op.type !== 'put') continue;
    const key = toByteString(op.request.key);
    if (puts.has(key) || conflicts(key)) throw new DuplicateKeyError();
    puts.add(key);
  }
  return { puts, deletes };
}

function requireKey(key: Uint8Array): void {
  if (key.length === 0) throw new EmptyKeyError();
}

function requireInteger(value: number, what: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidRequestError(`${what} must be an integer >= ${min}`);
}
