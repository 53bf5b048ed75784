/**
 * keel/client: a client for keel's (and etcd 3.4's) JSON gateway: KV and
 * txns, watches resumed across members, leases kept alive, locks and
 * elections. See client.ts for the retry and idempotency rules and
 * docs/client.md for examples.
 *
 * @packageDocumentation
 */
export { classifyFailure, KeelClient, type KeelClientOptions, REJECTED_BEFORE_PROPOSAL_CODES, type RetryOptions } from './client.js';
export {
  type CallOptions, type Compare, type CompareAndSwapResult, type CompareResult, type DeleteOptions, type GetOptions, type PutOptions, type RangeOptions,
  type SortOrder, type SortTarget, type TxnOp, type TxnRequest, type WriteOptions,
} from './kv-requests.js';
export {
  type Bytes, type DeleteResult, type KeyValue, type Member, type MemberListResult, prefixRangeEnd, type PutResult, type RangeResult,
  type ResponseHeader, type StatusResult, type TxnOpResult, type TxnResult,
} from './codec.js';
export {
  AbortedError, AttemptTimeoutError, BadResponseError, ClosedError, ConfigError, ConnectionError, DeadlineExceededError, InvalidArgumentError,
  KeelClientError, type KeelClientErrorCode, LeaseLostError, NotLeaderError, ServerError, type ServerErrorBody, StreamUnavailableError,
  UnavailableError, WatchCanceledError, WatchCompactedError,
} from './errors.js';
export { Watch, type WatchBatch, type WatchEvent, type WatchFilter, type WatchOptions } from './watch.js';
export { type ResumingStream, type StreamOptions } from './resuming-stream.js';
export { LeaseKeepAlive } from './lease-keepalive.js';
export { type LeaseGrantResult, type LeaseListResult, type LeaseTimeToLiveResult } from './lease.js';
export { Election, type LeaderKey, LockHandle, type SessionOptions } from './coordination.js';
export { normalizeEndpoint } from './endpoints.js';
export { KEEL_NOT_LEADER_CODE } from './http.js';
export * as limits from './limits.js';
