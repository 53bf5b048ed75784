/**
 * keel/client: a client for keel's (and etcd 3.4's) JSON gateway KV API.
 * See client.ts for the retry and idempotency rules.
 *
 * @packageDocumentation
 */
export {
  classifyFailure, type CallOptions, type Compare, type CompareAndSwapResult, type CompareResult, type DeleteOptions, type GetOptions, KeelClient,
  type KeelClientOptions, type PutOptions, type RangeOptions, REJECTED_BEFORE_PROPOSAL_CODES, type RetryOptions, type SortOrder, type SortTarget,
  type TxnOp, type TxnRequest, type WriteOptions,
} from './client.js';
export {
  type Bytes, type DeleteResult, type KeyValue, type Member, type MemberListResult, prefixRangeEnd, type PutResult, type RangeResult,
  type ResponseHeader, type StatusResult, type TxnOpResult, type TxnResult,
} from './codec.js';
export {
  AbortedError, AttemptTimeoutError, BadResponseError, ClosedError, ConfigError, ConnectionError, DeadlineExceededError, InvalidArgumentError,
  KeelClientError, type KeelClientErrorCode, NotLeaderError, ServerError, type ServerErrorBody, UnavailableError,
} from './errors.js';
export { KEEL_NOT_LEADER_CODE } from './http.js';
export * as limits from './limits.js';
