import type {
  Compare,
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
} from '../store/types.js';
import type { WatchEvent } from '../store/events.js';
import { WATCH_FILTERS } from '../store/watch-hub.js';
import type { WatchAction, WatchResponseData } from '../store/watch-hub.js';
import { BadRequestError } from './errors.js';
import type { HeaderContext } from '../node/identity.js';

/**
 * etcd's v3 JSON gateway encoding (grpc-gateway over etcdserverpb): field
 * names in snake_case, bytes as base64, int64 as decimal strings, enums as
 * names (numbers accepted), and zero values omitted from responses as etcd
 * 3.4's gateway does. Requests are checked field by field: a wrong type is
 * a BadRequestError naming the field, never a crash.
 */

export interface ResponseHeaderJson {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

export type { HeaderContext };

type Json = Record<string, unknown>;

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const COMPARE_RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;
const COMPARE_TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const;

// ------------------------------------------------------------------ field readers

function object(value: unknown, field: string): Json {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadRequestError(`${field} must be an object`);
  return value as Json;
}

function bytes(body: Json, field: string): Uint8Array | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${field} must be a base64 string`);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new BadRequestError(`${field} is not valid base64`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function int64(body: Json, field: string): bigint | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
    const parsed = BigInt(value);
    if (parsed >= -(2n ** 63n) && parsed < 2n ** 63n) return parsed;
  }
  throw new BadRequestError(`${field} must be an int64 (a decimal string or an integer)`);
}

function safeNumber(body: Json, field: string): number | undefined {
  const value = int64(body, field);
  if (value === undefined) return undefined;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new BadRequestError(`${field} is out of range`);
  }
  return Number(value);
}

function bool(body: Json, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new BadRequestError(`${field} must be a boolean`);
  return value;
}

function enumValue<T extends string>(body: Json, field: string, names: readonly T[]): T | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < names.length) return names[value];
  if (typeof value === 'string' && (names as readonly string[]).includes(value)) return value as T;
  throw new BadRequestError(`${field} must be one of ${names.join(', ')}`);
}

function array(body: Json, field: string): unknown[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BadRequestError(`${field} must be an array`);
  return value;
}

function requireKey(body: Json): Uint8Array {
  return bytes(body, 'key') ?? new Uint8Array(0);
}

/** Copies only the defined fields, so absent request fields stay absent. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// ------------------------------------------------------------------ requests

export function parseRange(raw: unknown): RangeRequest & { serializable: boolean } {
  const body = object(raw, 'body');
  return {
    ...defined({
      key: requireKey(body),
      rangeEnd: bytes(body, 'range_end'),
      limit: safeNumber(body, 'limit'),
      revision: safeNumber(body, 'revision'),
      sortOrder: enumValue(body, 'sort_order', SORT_ORDERS),
      sortTarget: enumValue(body, 'sort_target', SORT_TARGETS),
      keysOnly: bool(body, 'keys_only'),
      countOnly: bool(body, 'count_only'),
      minModRevision: safeNumber(body, 'min_mod_revision'),
      maxModRevision: safeNumber(body, 'max_mod_revision'),
      minCreateRevision: safeNumber(body, 'min_create_revision'),
      maxCreateRevision: safeNumber(body, 'max_create_revision'),
    }),
    serializable: bool(body, 'serializable') ?? false,
  };
}

export function parsePut(raw: unknown): PutRequest {
  const body = object(raw, 'body');
  return defined({
    key: requireKey(body),
    value: bytes(body, 'value') ?? new Uint8Array(0),
    lease: int64(body, 'lease'),
    prevKv: bool(body, 'prev_kv'),
    ignoreValue: bool(body, 'ignore_value'),
    ignoreLease: bool(body, 'ignore_lease'),
  });
}

export function parseDeleteRange(raw: unknown): DeleteRangeRequest {
  const body = object(raw, 'body');
  return defined({ key: requireKey(body), rangeEnd: bytes(body, 'range_end'), prevKv: bool(body, 'prev_kv') });
}

export function parseCompaction(raw: unknown): CompactionRequest {
  const body = object(raw, 'body');
  return defined({ revision: safeNumber(body, 'revision') ?? 0, physical: bool(body, 'physical') });
}

function parseCompare(raw: unknown, at: string): Compare {
  const body = object(raw, at);
  const target = enumValue(body, 'target', COMPARE_TARGETS) ?? 'VERSION';
  return defined({
    result: enumValue(body, 'result', COMPARE_RESULTS) ?? 'EQUAL',
    target,
    key: requireKey(body),
    rangeEnd: bytes(body, 'range_end'),
    version: safeNumber(body, 'version'),
    createRevision: safeNumber(body, 'create_revision'),
    modRevision: safeNumber(body, 'mod_revision'),
    value: bytes(body, 'value'),
    lease: int64(body, 'lease'),
  });
}

function parseRequestOp(raw: unknown, at: string, depth: number): RequestOp {
  const body = object(raw, at);
  const keys = Object.keys(body).filter((key) => body[key] !== undefined && body[key] !== null);
  if (keys.length !== 1) throw new BadRequestError(`${at} must hold exactly one of request_range, request_put, request_delete_range, request_txn`);
  const [kind] = keys as [string];
  switch (kind) {
    case 'request_range': {
      const { serializable: _ignored, ...request } = parseRange(body[kind]);
      return { type: 'range', request };
    }
    case 'request_put':
      return { type: 'put', request: parsePut(body[kind]) };
    case 'request_delete_range':
      return { type: 'deleteRange', request: parseDeleteRange(body[kind]) };
    case 'request_txn':
      if (depth > 32) throw new BadRequestError('txn nested too deeply');
      return { type: 'txn', request: parseTxnAt(body[kind], depth + 1) };
    default:
      throw new BadRequestError(`${at}: unknown operation ${kind}`);
  }
}

function parseTxnAt(raw: unknown, depth: number): TxnRequest {
  const body = object(raw, 'txn');
  return {
    compare: array(body, 'compare').map((item, i) => parseCompare(item, `compare[${i}]`)),
    success: array(body, 'success').map((item, i) => parseRequestOp(item, `success[${i}]`, depth)),
    failure: array(body, 'failure').map((item, i) => parseRequestOp(item, `failure[${i}]`, depth)),
  };
}

export function parseTxn(raw: unknown): TxnRequest {
  return parseTxnAt(raw, 0);
}

// ------------------------------------------------------------------ responses

function base64(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}

export function header(revision: number, context: HeaderContext): ResponseHeaderJson {
  return {
    cluster_id: context.clusterId.toString(),
    member_id: context.memberId.toString(),
    revision: String(revision),
    raft_term: String(context.raftTerm),
  };
}

/** A KeyValue as the gateway prints it: zero fields omitted. */
export function keyValueJson(kv: KeyValue): Json {
  const out: Json = { key: base64(kv.key) };
  if (kv.createRevision) out.create_revision = String(kv.createRevision);
  if (kv.modRevision) out.mod_revision = String(kv.modRevision);
  if (kv.version) out.version = String(kv.version);
  if (kv.value.length > 0) out.value = base64(kv.value);
  if (kv.lease !== 0n) out.lease = kv.lease.toString();
  return out;
}

export function rangeJson(response: RangeResponse, context: HeaderContext): Json {
  const out: Json = { header: header(response.header.revision, context) };
  if (response.kvs.length > 0) out.kvs = response.kvs.map(keyValueJson);
  if (response.more) out.more = true;
  if (response.count) out.count = String(response.count);
  return out;
}

export function putJson(response: PutResponse, context: HeaderContext): Json {
  const out: Json = { header: header(response.header.revision, context) };
  if (response.prevKv) out.prev_kv = keyValueJson(response.prevKv);
  return out;
}

export function deleteRangeJson(response: DeleteRangeResponse, context: HeaderContext): Json {
  const out: Json = { header: header(response.header.revision, context) };
  if (response.deleted) out.deleted = String(response.deleted);
  if (response.prevKvs.length > 0) out.prev_kvs = response.prevKvs.map(keyValueJson);
  return out;
}

function responseOpJson(op: ResponseOp, context: HeaderContext): Json {
  switch (op.type) {
    case 'range':
      return { response_range: rangeJson(op.response, context) };
    case 'put':
      return { response_put: putJson(op.response, context) };
    case 'deleteRange':
      return { response_delete_range: deleteRangeJson(op.response, context) };
    case 'txn':
      return { response_txn: txnJson(op.response, context) };
  }
}

export function txnJson(response: TxnResponse, context: HeaderContext): Json {
  const out: Json = { header: header(response.header.revision, context) };
  if (response.succeeded) out.succeeded = true;
  if (response.responses.length > 0) out.responses = response.responses.map((op) => responseOpJson(op, context));
  return out;
}

// ------------------------------------------------------------------ watch and lease

/** One WatchRequest of the gateway's request stream. */
export function parseWatchRequest(raw: unknown): WatchAction {
  const body = object(raw, 'body');
  if (body.create_request !== undefined) {
    const create = object(body.create_request, 'create_request');
    const filters = array(create, 'filters').map((value) => enumValue({ filters: value }, 'filters', WATCH_FILTERS)!);
    return {
      type: 'create',
      request: defined({
        key: requireKey(create),
        rangeEnd: bytes(create, 'range_end'),
        startRevision: safeNumber(create, 'start_revision'),
        progressNotify: bool(create, 'progress_notify'),
        filters: filters.length > 0 ? filters : undefined,
        prevKv: bool(create, 'prev_kv'),
        watchId: int64(create, 'watch_id'),
        fragment: bool(create, 'fragment'),
      }),
    };
  }
  if (body.cancel_request !== undefined) return { type: 'cancel', watchId: int64(object(body.cancel_request, 'cancel_request'), 'watch_id') ?? 0n };
  if (body.progress_request !== undefined) return { type: 'progress' };
  throw new BadRequestError('a watch request needs create_request, cancel_request or progress_request');
}

function watchEventJson(event: WatchEvent): Json {
  // PUT is the enum's zero value, which the gateway omits.
  return { ...(event.type === 'DELETE' ? { type: 'DELETE' } : {}), kv: keyValueJson(event.kv), ...(event.prevKv ? { prev_kv: keyValueJson(event.prevKv) } : {}) };
}

export function watchResponseJson(response: WatchResponseData, context: HeaderContext): Json {
  const out: Json = { header: header(response.revision, context) };
  if (response.watchId !== 0n) out.watch_id = response.watchId.toString();
  if (response.created) out.created = true;
  if (response.canceled) out.canceled = true;
  if (response.compactRevision) out.compact_revision = String(response.compactRevision);
  if (response.cancelReason) out.cancel_reason = response.cancelReason;
  if (response.fragment) out.fragment = true;
  if (response.events.length > 0) out.events = response.events.map(watchEventJson);
  return out;
}

/** A lease request's ID (0n when absent) and TTL. */
export function parseLease(raw: unknown): { id: bigint; ttlSeconds: number; keys: boolean } {
  const body = object(raw, 'body');
  const ttl = int64(body, 'TTL') ?? 0n;
  return {
    id: int64(body, 'ID') ?? 0n,
    ttlSeconds: ttl < 0n ? 0 : ttl > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ttl),
    keys: bool(body, 'keys') ?? false,
  };
}

// ------------------------------------------------------------------ lock and election

/** A JSON request body as an object (BadRequestError otherwise). */
export function jsonObject(raw: unknown, field = 'body'): Record<string, unknown> {
  return object(raw, field);
}

/** A base64 bytes field; empty when absent. */
export function jsonBytes(body: Record<string, unknown>, field: string): Uint8Array {
  return bytes(body, field) ?? new Uint8Array(0);
}

/** An int64 field; 0n when absent. */
export function jsonInt64(body: Record<string, unknown>, field: string): bigint {
  return int64(body, field) ?? 0n;
}
