/**
 * The etcd v3 JSON gateway's wire format and the client's typed results.
 * Bytes travel as base64 strings, int64s as decimal strings, and the
 * gateway omits fields holding their zero value (a missing `count` is 0, a
 * missing `succeeded` is false). Revisions, versions and counts become
 * `number` (a revision passes 2^53 only after 285 years at a million writes
 * a second); an int64 beyond Number.MAX_SAFE_INTEGER is a BadResponseError,
 * never a silently rounded number. 64-bit ids (cluster, member, lease) stay
 * decimal strings: etcd draws them at random across the whole range.
 */
import { BadResponseError, InvalidArgumentError } from './errors.js';

/** Keys and values: a string is UTF-8 encoded. */
export type Bytes = string | Uint8Array;

export function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toBase64(bytes: Bytes): string {
  return toBuffer(bytes).toString('base64');
}

/** Every response's header. */
export interface ResponseHeader {
  readonly clusterId: string;
  readonly memberId: string;
  /** The store's revision when the request was served. */
  readonly revision: number;
  readonly raftTerm: number;
}

/** A stored key. `key` and `value` are Buffers (Uint8Array subclasses): `kv.value.toString()` gives UTF-8 text. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Writes since the key was created (1 after the first put). */
  readonly version: number;
  /** The lease id, '0' for none. */
  readonly lease: string;
}

export interface PutResult {
  readonly header: ResponseHeader;
  /** The key's previous state, when `prevKv` was asked for and the key existed. */
  readonly prevKv: KeyValue | undefined;
}

export interface RangeResult {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  /** Keys in the range (all of them, even when `limit` cut `kvs` short). */
  readonly count: number;
  readonly more: boolean;
}

export interface DeleteResult {
  readonly header: ResponseHeader;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

export type TxnOpResult =
  | { readonly type: 'put'; readonly put: PutResult }
  | { readonly type: 'range'; readonly range: RangeResult }
  | { readonly type: 'delete'; readonly delete: DeleteResult }
  | { readonly type: 'txn'; readonly txn: TxnResult };

export interface TxnResult {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly TxnOpResult[];
}

export interface StatusResult {
  readonly header: ResponseHeader;
  readonly version: string;
  readonly dbSizeBytes: number;
  /** The leader's member id as this member sees it, '0' when it knows none. */
  readonly leader: string;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  /** The endpoint that answered. */
  readonly endpoint: string;
}

export interface Member {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface MemberListResult {
  readonly header: ResponseHeader;
  readonly members: readonly Member[];
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadResponseError(`${what} is not an object`);
  return value as Json;
}

function pick(json: Json, snake: string, camel: string): unknown {
  return json[snake] ?? json[camel];
}

/** An int64 field (decimal string or number; absent means 0) as a safe integer. */
export function int(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed)) throw new BadResponseError(`${what} ${String(value)} is not an integer below 2^53`);
  return parsed;
}

function id(value: unknown): string {
  if (value === undefined || value === null) return '0';
  return String(value);
}

function bytes(value: unknown, what: string): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value !== 'string') throw new BadResponseError(`${what} is not a base64 string`);
  return Buffer.from(value, 'base64');
}

function list(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BadResponseError(`${what} is not an array`);
  return value;
}

export function parseHeader(value: unknown): ResponseHeader {
  const json = value === undefined ? {} : object(value, 'header');
  return {
    clusterId: id(pick(json, 'cluster_id', 'clusterId')),
    memberId: id(pick(json, 'member_id', 'memberId')),
    revision: int(json.revision, 'header.revision'),
    raftTerm: int(pick(json, 'raft_term', 'raftTerm'), 'header.raft_term'),
  };
}

export function parseKeyValue(value: unknown): KeyValue {
  const json = object(value, 'kv');
  return {
    key: bytes(json.key, 'kv.key'),
    value: bytes(json.value, 'kv.value'),
    createRevision: int(pick(json, 'create_revision', 'createRevision'), 'kv.create_revision'),
    modRevision: int(pick(json, 'mod_revision', 'modRevision'), 'kv.mod_revision'),
    version: int(json.version, 'kv.version'),
    lease: id(json.lease),
  };
}

export function parsePut(value: unknown): PutResult {
  const json = object(value, 'put response');
  const prev = pick(json, 'prev_kv', 'prevKv');
  return { header: parseHeader(json.header), prevKv: prev === undefined ? undefined : parseKeyValue(prev) };
}

export function parseRange(value: unknown): RangeResult {
  const json = object(value, 'range response');
  return {
    header: parseHeader(json.header),
    kvs: list(json.kvs, 'kvs').map(parseKeyValue),
    count: int(json.count, 'count'),
    more: json.more === true,
  };
}

export function parseDelete(value: unknown): DeleteResult {
  const json = object(value, 'deleterange response');
  return {
    header: parseHeader(json.header),
    deleted: int(json.deleted, 'deleted'),
    prevKvs: list(pick(json, 'prev_kvs', 'prevKvs'), 'prev_kvs').map(parseKeyValue),
  };
}

function parseTxnOp(value: unknown): TxnOpResult {
  const json = object(value, 'txn response op');
  const put = pick(json, 'response_put', 'responsePut');
  if (put !== undefined) return { type: 'put', put: parsePut(put) };
  const range = pick(json, 'response_range', 'responseRange');
  if (range !== undefined) return { type: 'range', range: parseRange(range) };
  const deleted = pick(json, 'response_delete_range', 'responseDeleteRange');
  if (deleted !== undefined) return { type: 'delete', delete: parseDelete(deleted) };
  const txn = pick(json, 'response_txn', 'responseTxn');
  if (txn !== undefined) return { type: 'txn', txn: parseTxn(txn) };
  throw new BadResponseError(`unknown txn response op ${Object.keys(json).join(',')}`);
}

export function parseTxn(value: unknown): TxnResult {
  const json = object(value, 'txn response');
  return { header: parseHeader(json.header), succeeded: json.succeeded === true, responses: list(json.responses, 'responses').map(parseTxnOp) };
}

export function parseStatus(value: unknown, endpoint: string): StatusResult {
  const json = object(value, 'status response');
  return {
    header: parseHeader(json.header),
    version: String(json.version ?? ''),
    dbSizeBytes: int(pick(json, 'db_size', 'dbSize'), 'dbSize'),
    leader: id(json.leader),
    raftIndex: int(pick(json, 'raft_index', 'raftIndex'), 'raftIndex'),
    raftTerm: int(pick(json, 'raft_term', 'raftTerm'), 'raftTerm'),
    raftAppliedIndex: int(pick(json, 'raft_applied_index', 'raftAppliedIndex'), 'raftAppliedIndex'),
    endpoint,
  };
}

export function parseMemberList(value: unknown): MemberListResult {
  const json = object(value, 'member list response');
  const members = list(json.members, 'members').map((entry): Member => {
    const member = object(entry, 'member');
    const strings = (field: unknown): string[] => list(field, 'urls').map(String);
    return {
      id: id(member.ID ?? member.id),
      name: String(member.name ?? ''),
      peerUrls: strings(member.peerURLs ?? member.peer_urls ?? member.peerUrls),
      clientUrls: strings(member.clientURLs ?? member.client_urls ?? member.clientUrls),
      isLearner: (member.isLearner ?? member.is_learner) === true,
    };
  });
  return { header: parseHeader(json.header), members };
}

/** A revision or count argument: a non-negative safe integer, sent as a decimal string. */
export function int64Argument(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${what} must be a non-negative safe integer, got ${value}`);
  return String(value);
}

/** The range end that covers every key starting with `prefix` (etcd's `clientv3.GetPrefixRangeEnd`). */
export function prefixRangeEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix));
  for (let index = end.length - 1; index >= 0; index--) {
    if (end[index]! < 0xff) {
      end[index]! += 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]); // every key: etcd's "\0" range end
}
