import type {
  Compare,
  CompareResult,
  CompareTarget,
  CompactionRequest,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from '../../store/types.js';
import type { WatchEvent } from '../../store/events.js';
import { WATCH_FILTERS } from '../../store/watch-hub.js';
import type { WatchAction, WatchResponseData } from '../../store/watch-hub.js';
import { BadRequestError } from '../errors.js';
import type { HeaderContext } from '../json-codec.js';

/**
 * etcdserverpb messages as @grpc/proto-loader hands them over (keepCase,
 * int64 as decimal strings, bytes as Buffers, enums as names, defaults
 * filled) to and from the store's camelCase shapes. Strings keep int64
 * exact; revisions become numbers only after a range check, lease ids
 * become bigint. Zero and empty request fields become absent, so the store
 * sees the same request the JSON gateway would give it.
 */

/** A decoded message: proto-loader objects are plain records. */
export type Message = Record<string, unknown>;

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const COMPARE_RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];
/** Nested txns deeper than this are refused before the store sees them (the store's own limit is lower). */
const TXN_DECODE_DEPTH_MAX = 64;

// ------------------------------------------------------------------ field readers

export function bytesOf(message: Message, field: string): Uint8Array {
  const value = message[field];
  if (value === undefined || value === null) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw new BadRequestError(`${field} must be bytes`);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function optionalBytes(message: Message, field: string): Uint8Array | undefined {
  const value = bytesOf(message, field);
  return value.length > 0 ? value : undefined;
}

export function int64Of(message: Message, field: string): bigint {
  const value = message[field];
  if (value === undefined || value === null || value === '') return 0n;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new BadRequestError(`${field} must be an int64`);
}

/** An int64 the store keeps as a number (revisions, limits); 0 reads as absent. */
function safeNumberOf(message: Message, field: string): number | undefined {
  const value = int64Of(message, field);
  if (value === 0n) return undefined;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new BadRequestError(`${field} is out of range`);
  return Number(value);
}

function flag(message: Message, field: string): boolean | undefined {
  return message[field] === true ? true : undefined;
}

/** Enum names as proto-loader decodes them; an unknown number (a newer client) is refused, not guessed. */
function enumOf<T extends string>(message: Message, field: string, names: readonly T[]): T | undefined {
  const value = message[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (names as readonly string[]).includes(value)) return value as T;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < names.length) return names[value];
  throw new BadRequestError(`${field} must be one of ${names.join(', ')}`);
}

function messageOf(message: Message, field: string): Message {
  const value = message[field];
  return typeof value === 'object' && value !== null ? (value as Message) : {};
}

function listOf(message: Message, field: string): Message[] {
  const value = message[field];
  return Array.isArray(value) ? (value as Message[]) : [];
}

/** Copies only the defined fields, so absent request fields stay absent. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// ------------------------------------------------------------------ requests

export function rangeRequest(message: Message): RangeRequest {
  const sortOrder = enumOf(message, 'sort_order', SORT_ORDERS);
  const sortTarget = enumOf(message, 'sort_target', SORT_TARGETS);
  return defined({
    key: bytesOf(message, 'key'),
    rangeEnd: optionalBytes(message, 'range_end'),
    limit: safeNumberOf(message, 'limit'),
    revision: safeNumberOf(message, 'revision'),
    sortOrder: sortOrder === 'NONE' ? undefined : sortOrder,
    sortTarget: sortTarget === 'KEY' ? undefined : sortTarget,
    keysOnly: flag(message, 'keys_only'),
    countOnly: flag(message, 'count_only'),
    minModRevision: safeNumberOf(message, 'min_mod_revision'),
    maxModRevision: safeNumberOf(message, 'max_mod_revision'),
    minCreateRevision: safeNumberOf(message, 'min_create_revision'),
    maxCreateRevision: safeNumberOf(message, 'max_create_revision'),
  });
}

export function putRequest(message: Message): PutRequest {
  const lease = int64Of(message, 'lease');
  return defined({
    key: bytesOf(message, 'key'),
    value: bytesOf(message, 'value'),
    lease: lease === 0n ? undefined : lease,
    prevKv: flag(message, 'prev_kv'),
    ignoreValue: flag(message, 'ignore_value'),
    ignoreLease: flag(message, 'ignore_lease'),
  });
}

export function deleteRangeRequest(message: Message): DeleteRangeRequest {
  return defined({ key: bytesOf(message, 'key'), rangeEnd: optionalBytes(message, 'range_end'), prevKv: flag(message, 'prev_kv') });
}

export function compactionRequest(message: Message): CompactionRequest {
  return defined({ revision: safeNumberOf(message, 'revision') ?? 0, physical: flag(message, 'physical') });
}

/** Only the operand the oneof carries is read, as etcd does; an unset operand compares as zero. */
function compare(message: Message): Compare {
  const target = enumOf(message, 'target', COMPARE_TARGETS) ?? 'VERSION';
  const operand = message.target_union;
  const lease = operand === 'lease' ? int64Of(message, 'lease') : undefined;
  return defined({
    result: enumOf(message, 'result', COMPARE_RESULTS) ?? 'EQUAL',
    target,
    key: bytesOf(message, 'key'),
    rangeEnd: optionalBytes(message, 'range_end'),
    version: operand === 'version' ? safeNumberOf(message, 'version') : undefined,
    createRevision: operand === 'create_revision' ? safeNumberOf(message, 'create_revision') : undefined,
    modRevision: operand === 'mod_revision' ? safeNumberOf(message, 'mod_revision') : undefined,
    value: operand === 'value' ? bytesOf(message, 'value') : undefined,
    lease,
  });
}

function requestOp(message: Message, depth: number): RequestOp {
  switch (message.request) {
    case 'request_range':
      return { type: 'range', request: rangeRequest(messageOf(message, 'request_range')) };
    case 'request_put':
      return { type: 'put', request: putRequest(messageOf(message, 'request_put')) };
    case 'request_delete_range':
      return { type: 'deleteRange', request: deleteRangeRequest(messageOf(message, 'request_delete_range')) };
    case 'request_txn':
      return { type: 'txn', request: txnRequestAt(messageOf(message, 'request_txn'), depth + 1) };
    default:
      // etcd rejects an empty RequestOp the same way (its request union is required).
      throw new BadRequestError('a txn operation must hold one of request_range, request_put, request_delete_range, request_txn');
  }
}

function txnRequestAt(message: Message, depth: number): TxnRequest {
  if (depth > TXN_DECODE_DEPTH_MAX) throw new BadRequestError('txn nested too deeply');
  return {
    compare: listOf(message, 'compare').map(compare),
    success: listOf(message, 'success').map((op) => requestOp(op, depth)),
    failure: listOf(message, 'failure').map((op) => requestOp(op, depth)),
  };
}

export function txnRequest(message: Message): TxnRequest {
  return txnRequestAt(message, 0);
}

/**
 * etcd serves a txn locally when every range in it (both branches, nested
 * txns included) asked for a serializable read and it writes nothing.
 */
export function isSerializableTxn(message: Message, depth = 0): boolean {
  if (depth > TXN_DECODE_DEPTH_MAX) return false;
  const ops = [...listOf(message, 'success'), ...listOf(message, 'failure')];
  return ops.every((op) => {
    if (op.request === 'request_range') return messageOf(op, 'request_range').serializable === true;
    if (op.request === 'request_txn') return isSerializableTxn(messageOf(op, 'request_txn'), depth + 1);
    return false;
  });
}

// ------------------------------------------------------------------ responses

/*
 * The response builders below give the hot int64 fields (every header, every
 * KeyValue) to protobufjs as numbers and bigints, not decimal strings: its
 * encoder turns each into a Long, from a string by parsing digit by digit
 * (~3% of a member's CPU under a read load), from a number or a bigint
 * directly. Revisions, versions and counts are safe integers (the store
 * keeps them as numbers); ids and leases are bigints, exact either way.
 */

export function header(revision: number, context: HeaderContext): Message {
  return {
    cluster_id: context.clusterId,
    member_id: context.memberId,
    revision,
    raft_term: context.raftTerm,
  };
}

const asBuffer = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.byteLength);

export function keyValue(kv: KeyValue): Message {
  return {
    key: asBuffer(kv.key),
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: asBuffer(kv.value),
    lease: kv.lease,
  };
}

export function rangeResponse(response: RangeResponse, context: HeaderContext): Message {
  return { header: header(response.header.revision, context), kvs: response.kvs.map(keyValue), more: response.more, count: response.count };
}

export function putResponse(response: PutResponse, context: HeaderContext): Message {
  return { header: header(response.header.revision, context), ...(response.prevKv ? { prev_kv: keyValue(response.prevKv) } : {}) };
}

export function deleteRangeResponse(response: DeleteRangeResponse, context: HeaderContext): Message {
  return { header: header(response.header.revision, context), deleted: String(response.deleted), prev_kvs: response.prevKvs.map(keyValue) };
}

function responseOp(op: ResponseOp, context: HeaderContext): Message {
  switch (op.type) {
    case 'range':
      return { response_range: rangeResponse(op.response, context) };
    case 'put':
      return { response_put: putResponse(op.response, context) };
    case 'deleteRange':
      return { response_delete_range: deleteRangeResponse(op.response, context) };
    case 'txn':
      return { response_txn: txnResponse(op.response, context) };
  }
}

/** etcd fills only the revision in the headers of a txn's inner responses; clients see zero ids and term there. */
const INNER_CONTEXT: HeaderContext = { clusterId: 0n, memberId: 0n, raftTerm: 0 };

export function txnResponse(response: TxnResponse, context: HeaderContext): Message {
  return {
    header: header(response.header.revision, context),
    succeeded: response.succeeded,
    responses: response.responses.map((op) => responseOp(op, INNER_CONTEXT)),
  };
}

// ------------------------------------------------------------------ watch and lease


export function watchAction(message: Message): WatchAction {
  switch (message.request_union) {
    case 'create_request': {
      const create = messageOf(message, 'create_request');
      const filters = (Array.isArray(create.filters) ? (create.filters as unknown[]) : []).map((value) => enumOf({ filters: value }, 'filters', WATCH_FILTERS)!);
      return {
        type: 'create',
        request: defined({
          key: bytesOf(create, 'key'),
          rangeEnd: optionalBytes(create, 'range_end'),
          startRevision: safeNumberOf(create, 'start_revision'),
          progressNotify: flag(create, 'progress_notify'),
          filters: filters.length > 0 ? filters : undefined,
          prevKv: flag(create, 'prev_kv'),
          watchId: int64Of(create, 'watch_id'),
          fragment: flag(create, 'fragment'),
        }),
      };
    }
    case 'cancel_request':
      return { type: 'cancel', watchId: int64Of(messageOf(message, 'cancel_request'), 'watch_id') };
    case 'progress_request':
      return { type: 'progress' };
    default:
      throw new BadRequestError('a watch request needs create_request, cancel_request or progress_request');
  }
}

function watchEvent(event: WatchEvent): Message {
  return { type: event.type, kv: keyValue(event.kv), ...(event.prevKv ? { prev_kv: keyValue(event.prevKv) } : {}) };
}

export function watchResponse(response: WatchResponseData, context: HeaderContext): Message {
  return {
    header: header(response.revision, context),
    watch_id: response.watchId.toString(),
    created: response.created === true,
    canceled: response.canceled === true,
    compact_revision: String(response.compactRevision ?? 0),
    cancel_reason: response.cancelReason ?? '',
    fragment: response.fragment === true,
    events: response.events.map(watchEvent),
  };
}

export function leaseIdField(message: Message): bigint {
  return int64Of(message, 'ID');
}

/** A TTL in seconds: int64 on the wire, bounded to what a double holds exactly. */
export function leaseTtlField(message: Message): number {
  const value = int64Of(message, 'TTL');
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return value < 0n ? 0 : Number(value);
}
