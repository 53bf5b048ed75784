import { StoreError } from '../store/errors.js';
import * as member from '../node/errors.js';

// The member's request errors live with the member (src/node/errors.ts), so
// nothing in src/node imports from this layer above it; re-exported here
// because the table below maps them and API code names them from here.
export {
  BadLeaderTransfereeError,
  InterruptedError,
  LeaderChangedError,
  LeaderTransferTimeoutError,
  LeaseTtlTooLargeError,
  MembershipError,
  NoLeaderError,
  NotLeaderError,
  OverloadedError,
  RequestTimeoutError,
  StoppingError,
  TransferNotLeaderError,
} from '../node/errors.js';
export type { MembershipErrorCode } from '../node/errors.js';

/**
 * Errors of the client-facing API and the one table that maps every error
 * code to what the client sees: an HTTP status, a gRPC code (grpc-gateway's
 * body carries it) and etcd's message where etcd has one, so etcd clients
 * recognise the error.
 */
const BRAND = Symbol.for('keel.api.error');

export abstract class ApiError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is ApiError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Malformed JSON, a field of the wrong type, an unknown operation. */
export class BadRequestError extends ApiError {
  readonly code = 'KEEL_API_BAD_REQUEST';
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

export class BodyTooLargeError extends ApiError {
  readonly code = 'KEEL_API_BODY_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export class NotFoundError extends ApiError {
  readonly code = 'KEEL_API_NOT_FOUND';
  constructor(readonly path: string) {
    super(`no such endpoint: ${path}`);
    this.name = 'NotFoundError';
  }
}

export class MethodNotAllowedError extends ApiError {
  readonly code = 'KEEL_API_METHOD_NOT_ALLOWED';
  constructor(readonly method: string) {
    super(`method ${method} not allowed`);
    this.name = 'MethodNotAllowedError';
  }
}

/**
 * Authenticate refused before checking the password: too many failed
 * attempts for this user, or from this client address, in the last minute
 * (`--auth-failed-attempts-per-user`, `--auth-failed-attempts-per-address`).
 * Answered as etcd's "too many requests" (RESOURCE_EXHAUSTED, HTTP 429)
 * with Retry-After; the message names neither the user nor the password.
 */
export class AuthRateLimitedError extends ApiError {
  readonly code = 'KEEL_AUTH_RATE_LIMITED';
  constructor(
    readonly scope: 'user' | 'address',
    readonly retryAfterSeconds: number,
  ) {
    super(`too many failed authentication attempts ${scope === 'user' ? 'for this user' : 'from this address'}; retry in ${retryAfterSeconds} s`);
    this.name = 'AuthRateLimitedError';
  }
}

// ------------------------------------------------------------------ maintenance (MoveLeader)

// ------------------------------------------------------------------ cluster membership

/** A Cluster request a follower forwarded to the leader failed there: the leader's answer, passed through. */
export class ForwardedError extends ApiError {
  readonly code = 'KEEL_MEMBER_FORWARD_FAILED';
  constructor(
    readonly grpcCode: number,
    readonly etcdMessage: string,
    readonly leaderCode: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'ForwardedError';
  }
}

/** v3election: Leader on an election nobody leads (etcd's concurrency.ErrElectionNoLeader). */
export class ElectionNoLeaderError extends ApiError {
  readonly code = 'KEEL_ELECTION_NO_LEADER';
  constructor() {
    super('election: no leader');
    this.name = 'ElectionNoLeaderError';
  }
}

/** v3election: Proclaim by a caller that no longer leads (etcd's concurrency.ErrElectionNotLeader). */
export class ElectionNotLeaderError extends ApiError {
  readonly code = 'KEEL_ELECTION_NOT_LEADER';
  constructor() {
    super('election: not leader');
    this.name = 'ElectionNotLeaderError';
  }
}

export const GrpcCode = {
  /** etcd's election service returns its recipe errors as plain errors, which gRPC sends as Unknown. */
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** HTTP statuses grpc-gateway uses for each gRPC code. */
const HTTP_OF_GRPC: Record<number, number> = { 2: 500, 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 11: 400, 12: 501, 13: 500, 14: 503, 16: 401 };

export interface ErrorReply {
  readonly status: number;
  readonly grpcCode: number;
  /** What `error`/`message` say: etcd's text where etcd has one. */
  readonly message: string;
  /** Keel's stable code. */
  readonly keelCode: string;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;
}

const STORE_GRPC: Record<string, number> = {
  KEEL_STORE_COMPACTED: GrpcCode.OutOfRange,
  KEEL_STORE_FUTURE_REVISION: GrpcCode.OutOfRange,
  KEEL_STORE_LEASE_NOT_FOUND: GrpcCode.NotFound,
  KEEL_STORE_LEASE_EXISTS: GrpcCode.FailedPrecondition,
  KEEL_STORE_NO_SPACE: GrpcCode.ResourceExhausted,
  KEEL_STORE_NO_SPACE_ALARM: GrpcCode.ResourceExhausted,
  KEEL_STORE_TOO_MANY_ALARMS: GrpcCode.ResourceExhausted,
  // etcd's rpctypes codes for its auth errors (the rest are InvalidArgument, the default below).
  KEEL_AUTH_ROOT_USER_NOT_EXIST: GrpcCode.FailedPrecondition,
  KEEL_AUTH_ROOT_ROLE_NOT_EXIST: GrpcCode.FailedPrecondition,
  KEEL_AUTH_USER_ALREADY_EXIST: GrpcCode.FailedPrecondition,
  KEEL_AUTH_USER_NOT_FOUND: GrpcCode.FailedPrecondition,
  KEEL_AUTH_ROLE_ALREADY_EXIST: GrpcCode.FailedPrecondition,
  KEEL_AUTH_ROLE_NOT_FOUND: GrpcCode.FailedPrecondition,
  KEEL_AUTH_ROLE_NOT_GRANTED: GrpcCode.FailedPrecondition,
  KEEL_AUTH_PERMISSION_NOT_GRANTED: GrpcCode.FailedPrecondition,
  KEEL_AUTH_NOT_ENABLED: GrpcCode.FailedPrecondition,
  KEEL_AUTH_PERMISSION_DENIED: GrpcCode.PermissionDenied,
  KEEL_AUTH_INVALID_TOKEN: GrpcCode.Unauthenticated,
  KEEL_AUTH_TOO_MANY: GrpcCode.ResourceExhausted,
};

/** etcd's gRPC code and message for each refused membership change (etcd's rpctypes; ErrIDRemoved answers as not found, as etcd's does). */
const MEMBERSHIP_REPLIES: Record<member.MembershipErrorCode, readonly [number, string]> = {
  KEEL_MEMBER_NOT_FOUND: [GrpcCode.NotFound, 'etcdserver: member not found'],
  KEEL_MEMBER_ID_REMOVED: [GrpcCode.NotFound, 'etcdserver: member not found'],
  KEEL_MEMBER_EXISTS: [GrpcCode.FailedPrecondition, 'etcdserver: member ID already exist'],
  KEEL_MEMBER_PEER_URL_EXISTS: [GrpcCode.FailedPrecondition, 'etcdserver: Peer URLs already exists'],
  KEEL_MEMBER_BAD_URLS: [GrpcCode.InvalidArgument, 'etcdserver: given member URLs are invalid'],
  KEEL_MEMBER_NOT_LEARNER: [GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member'],
  KEEL_MEMBER_LEARNER_NOT_READY: [GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member which is in sync with leader'],
  KEEL_MEMBER_TOO_MANY_LEARNERS: [GrpcCode.FailedPrecondition, 'etcdserver: too many learner members in cluster'],
  KEEL_MEMBER_NOT_ENOUGH_STARTED: [GrpcCode.FailedPrecondition, 'etcdserver: re-configuration failed due to not enough started members'],
  KEEL_MEMBER_UNHEALTHY: [GrpcCode.Unavailable, 'etcdserver: unhealthy cluster'],
  // etcd would remove its last member and lose the cluster; keel's core refuses.
  KEEL_MEMBER_LAST_VOTER: [GrpcCode.FailedPrecondition, 'etcdserver: re-configuration failed due to not enough started members'],
};

/** The single mapping from an error to the client's reply. */
export function errorReply(error: unknown): ErrorReply {
  const reply = (grpcCode: number, message: string, keelCode: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): ErrorReply => ({
    status: HTTP_OF_GRPC[grpcCode] ?? 500,
    grpcCode,
    message,
    keelCode,
    headers,
    extra,
  });
  if (StoreError.is(error)) {
    return reply(STORE_GRPC[error.code] ?? GrpcCode.InvalidArgument, error.etcdMessage || error.message, error.code);
  }
  if (!ApiError.is(error) && !member.NodeRequestError.is(error)) {
    return reply(GrpcCode.Internal, 'keel: internal error', 'KEEL_API_INTERNAL');
  }
  if (error instanceof BadRequestError) return reply(GrpcCode.InvalidArgument, error.message, error.code);
  if (error instanceof member.MembershipError) return reply(MEMBERSHIP_REPLIES[error.code][0], MEMBERSHIP_REPLIES[error.code][1], error.code);
  if (error instanceof ForwardedError) return reply(error.grpcCode, error.etcdMessage, error.leaderCode);
  if (error instanceof BodyTooLargeError) return { ...reply(GrpcCode.InvalidArgument, 'etcdserver: request is too large', error.code), status: 413 };
  if (error instanceof NotFoundError) return reply(GrpcCode.NotFound, 'Not Found', error.code);
  if (error instanceof MethodNotAllowedError) return { ...reply(GrpcCode.Unimplemented, 'Method Not Allowed', error.code), status: 405 };
  if (error instanceof member.NoLeaderError) return reply(GrpcCode.Unavailable, 'etcdserver: no leader', error.code, { 'retry-after': '1' });
  if (error instanceof member.NotLeaderError) {
    const headers: Record<string, string> = error.leaderUrl ? { 'keel-leader-url': error.leaderUrl } : {};
    return reply(GrpcCode.Unavailable, 'keel: not leader', error.code, headers, { leader: error.leader, ...(error.leaderUrl ? { leader_url: error.leaderUrl } : {}) });
  }
  if (error instanceof member.LeaderChangedError) return reply(GrpcCode.Unavailable, 'etcdserver: leader changed', error.code);
  if (error instanceof member.RequestTimeoutError) return reply(GrpcCode.Unavailable, 'etcdserver: request timed out', error.code);
  if (error instanceof member.OverloadedError) {
    return reply(GrpcCode.ResourceExhausted, 'etcdserver: too many requests', error.code, { 'retry-after': String(error.retryAfterSeconds) }, { reason: error.reason });
  }
  if (error instanceof AuthRateLimitedError) {
    return reply(GrpcCode.ResourceExhausted, 'etcdserver: too many requests', error.code, { 'retry-after': String(error.retryAfterSeconds) }, { reason: error.message });
  }
  if (error instanceof ElectionNoLeaderError || error instanceof ElectionNotLeaderError) return reply(GrpcCode.Unknown, error.message, error.code);
  if (error instanceof member.LeaseTtlTooLargeError) return reply(GrpcCode.OutOfRange, error.message, error.code);
  if (error instanceof member.StoppingError) return reply(GrpcCode.Unavailable, 'etcdserver: server stopped', error.code, { 'retry-after': '1' });
  if (error instanceof member.InterruptedError) return reply(GrpcCode.Unavailable, 'etcdserver: server stopped', error.code);
  if (error instanceof member.TransferNotLeaderError) return reply(GrpcCode.FailedPrecondition, 'etcdserver: not leader', error.code);
  if (error instanceof member.BadLeaderTransfereeError) return reply(GrpcCode.FailedPrecondition, 'etcdserver: bad leader transferee', error.code);
  if (error instanceof member.LeaderTransferTimeoutError) return reply(GrpcCode.Unavailable, 'etcdserver: request timed out, leader transfer took too long', error.code);
  return reply(GrpcCode.Internal, error.message, error.code);
}

/**
 * grpc-gateway's error body, plus keel's stable code and any hints.
 * `error` and `message` are exactly etcd's text, because clients match
 * them (etcd's Go client keeps a table of these strings); keel's own
 * details (the revisions asked and compacted, the field that is wrong) go
 * in `keel_detail`, only when they say more than the message.
 */
export function errorBody(reply: ErrorReply, detail: string): Record<string, unknown> {
  return {
    error: reply.message,
    code: reply.grpcCode,
    message: reply.message,
    keel_code: reply.keelCode,
    ...(detail !== '' && detail !== reply.message ? { keel_detail: detail } : {}),
    ...reply.extra,
  };
}
