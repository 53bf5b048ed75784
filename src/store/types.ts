/**
 * The request and response shapes of etcd's v3 KV service
 * (etcdserverpb.RangeRequest, PutRequest, ...), in camelCase, so the API
 * layer maps them field by field. Revisions and indexes are numbers (exact up
 * to 2^53, far beyond any reachable revision); lease ids are bigint because
 * etcd's are arbitrary int64. Absent optional fields mean the proto default
 * (0, false, empty, NONE/KEY). Bytes in responses are fresh copies the caller owns.
 */

/** mvccpb.KeyValue. A deleted key reads as absent; in DELETE events its kv has only key and modRevision. */
export interface KeyValue {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  /** 1 on creation, +1 per put; 0 marks a deletion. */
  version: number;
  value: Uint8Array;
  /** 0n when the key is not attached to a lease. */
  lease: bigint;
}

/** Filled by the store with the revision the response reflects; the API layer adds cluster/member id and term. */
export interface ResponseHeader {
  revision: number;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Uint8Array;
  /** Empty: the single key. [0]: every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd?: Uint8Array;
  /** 0 or absent: no limit. */
  limit?: number;
  /** <= 0 or absent: the current revision. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** More keys matched than `limit` returned. */
  more: boolean;
  /** Keys in the range at the read revision, before limit and min/max filters (as etcd). */
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  /** 0n or absent: no lease (and detach the key from any lease it had). */
  lease?: bigint;
  prevKv?: boolean;
  /** Keep the current value; the key must exist and `value` must be empty. */
  ignoreValue?: boolean;
  /** Keep the current lease; the key must exist and `lease` must be 0n. */
  ignoreLease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

/**
 * etcdserverpb.Compare. The operand is the field named by `target`
 * (version, createRevision, modRevision, value or lease); absent means 0 or
 * empty. With a range_end every key in the range must satisfy it; a missing
 * key compares as a zero KeyValue, except that VALUE on no key is false.
 */
export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: bigint;
}

export type RequestOp =
  | { type: 'range'; request: RangeRequest }
  | { type: 'put'; request: PutRequest }
  | { type: 'deleteRange'; request: DeleteRangeRequest }
  | { type: 'txn'; request: TxnRequest };

export type ResponseOp =
  | { type: 'range'; response: RangeResponse }
  | { type: 'put'; response: PutResponse }
  | { type: 'deleteRange'; response: DeleteRangeResponse }
  | { type: 'txn'; response: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

/**
 * Every response inside one txn shares the txn's header: the revision after
 * the txn (unchanged when it wrote nothing).
 */
export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  /** Accepted for etcd compatibility; compaction here is always complete when apply returns. */
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

/** Records a lease; expiry, keep-alive and TTL bookkeeping belong to the lease module. */
export interface LeaseGrantRequest {
  id: bigint;
  ttlSeconds: number;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  id: bigint;
  ttlSeconds: number;
}

/** Removes a lease and deletes every key attached to it, in one revision. */
export interface LeaseRevokeRequest {
  id: bigint;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
  /** The lease revoked (for the member's own bookkeeping; etcd's response has no such field). */
  id: bigint;
  /** Keys the revoke deleted. */
  deleted: number;
}

export interface Lease {
  id: bigint;
  ttlSeconds: number;
}
