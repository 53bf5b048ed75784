/**
 * The client's errors: one table, stable `KEEL_CLIENT_*` codes (never
 * reused), a `Symbol.for` brand so `KeelClientError.is(e)` survives
 * duplicate installs. Errors from a server carry its HTTP status, gRPC code
 * and message. Every error of a write call says whether the write may have
 * been applied (`mayHaveApplied`): false only when the failure proves it
 * was not (see docs in client.ts).
 */
const BRAND = Symbol.for('keel.client.error');

export abstract class KeelClientError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  /** For a write (put, delete, txn with writes): false only when the failure proves the server did not apply it. Reads: false. */
  mayHaveApplied = false;
  /** The endpoint the failing attempt went to, when there was one. */
  endpoint: string | undefined;
  static is(value: unknown): value is KeelClientError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Invalid options given to the client's constructor. */
export class ConfigError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Invalid arguments to a call (an empty key, a revision that is not a safe integer ...); nothing was sent. */
export class InvalidArgumentError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_INVALID_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** The body of a grpc-gateway error: `{"error": "...", "code": <grpc code>, "message": "..."}` plus keel's additions. */
export interface ServerErrorBody {
  readonly error?: string;
  readonly code?: number;
  readonly message?: string;
  readonly keel_code?: string;
  /** Keel's details beyond etcd's exact message (e.g. the revisions asked and compacted). */
  readonly keel_detail?: string;
  readonly leader?: string;
  readonly leader_url?: string;
}

/** The server answered with an error status; `status`, `grpcCode`, `serverMessage` and `keelCode` are what it said. */
export class ServerError extends KeelClientError {
  readonly code: 'KEEL_CLIENT_SERVER_ERROR' | 'KEEL_CLIENT_UNAVAILABLE' | 'KEEL_CLIENT_NOT_LEADER' = 'KEEL_CLIENT_SERVER_ERROR';
  readonly status: number;
  readonly grpcCode: number | undefined;
  readonly serverMessage: string;
  readonly keelCode: string | undefined;
  /** Response headers (lower-case names), for Retry-After and keel-leader-url. */
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, body: ServerErrorBody, headers: Readonly<Record<string, string>>) {
    const serverMessage = body.message ?? body.error ?? '';
    super(`server answered ${status}${body.code === undefined ? '' : ` (grpc code ${body.code})`}: ${serverMessage}${body.keel_detail ? ` (${body.keel_detail})` : ''}`);
    this.name = 'ServerError';
    this.status = status;
    this.grpcCode = body.code;
    this.serverMessage = serverMessage;
    this.keelCode = body.keel_code;
    this.headers = headers;
  }
}

/** 503 or 429: the member cannot serve now (no leader, leader changed, overloaded); `retryAfterMs` if it said when to come back. */
export class UnavailableError extends ServerError {
  override readonly code = 'KEEL_CLIENT_UNAVAILABLE';
  constructor(status: number, body: ServerErrorBody, headers: Readonly<Record<string, string>>, readonly retryAfterMs: number | undefined) {
    super(status, body, headers);
    this.name = 'UnavailableError';
  }
}

/** Keel's not-leader answer (503, keel_code KEEL_NODE_NOT_LEADER), sent before proposing: the request was not applied. */
export class NotLeaderError extends ServerError {
  override readonly code = 'KEEL_CLIENT_NOT_LEADER';
  /** The leader's member id, '' when none is known. */
  readonly leader: string;
  /** The leader's client URL, when the member knows it. */
  readonly leaderUrl: string | undefined;
  constructor(status: number, body: ServerErrorBody, headers: Readonly<Record<string, string>>) {
    super(status, body, headers);
    this.name = 'NotLeaderError';
    this.leader = body.leader ?? '';
    this.leaderUrl = headers['keel-leader-url'] ?? body.leader_url;
  }
}

/** The connection failed. `sent` is false when the request provably never reached the server (connection refused). */
export class ConnectionError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_CONNECTION_FAILED';
  constructor(readonly sent: boolean, cause: unknown) {
    super(`connection failed${sent ? '' : ' before the request was sent'}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ConnectionError';
  }
}

/** One attempt ran out of its own time (the call may retry elsewhere); surfaces only through `lastError`. */
export class AttemptTimeoutError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_ATTEMPT_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`attempt timed out after ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/** The call's deadline passed; `lastError` is the last attempt's failure, if any. */
export class DeadlineExceededError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_DEADLINE_EXCEEDED';
  constructor(readonly timeoutMs: number, readonly attempts: number, readonly lastError: unknown) {
    super(`call did not finish within its ${timeoutMs} ms deadline after ${attempts} attempt(s)${lastError === undefined ? '' : `; last error: ${(lastError as Error).message}`}`, { cause: lastError });
    this.name = 'DeadlineExceededError';
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_ABORTED';
  constructor(cause: unknown) {
    super('call aborted by the caller', { cause });
    this.name = 'AbortedError';
  }
}

/** The client was closed. */
export class ClosedError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_CLOSED';
  constructor() {
    super('client is closed');
    this.name = 'ClosedError';
  }
}

/** The server's answer was not what the API promises (not JSON, a missing header, an int64 beyond 2^53). */
export class BadResponseError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_BAD_RESPONSE';
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'BadResponseError';
  }
}

export type KeelClientErrorCode = KeelClientError['code'];

/** A watch's start revision was compacted away: the server cancelled it. Restart from a fresh read at or after `compactRevision`. */
export class WatchCompactedError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_WATCH_COMPACTED';
  constructor(readonly compactRevision: number, readonly requestedRevision: number) {
    super(`watch from revision ${requestedRevision} cancelled: history before ${compactRevision} is compacted`);
    this.name = 'WatchCompactedError';
  }
}

/** The server cancelled a watch for another reason (`reason` is its cancel_reason), or refused to create it. */
export class WatchCanceledError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_WATCH_CANCELED';
  constructor(readonly reason: string) {
    super(`watch cancelled by the server${reason === '' ? '' : `: ${reason}`}`);
    this.name = 'WatchCanceledError';
  }
}

/** A stream (watch, observe) could not be re-established within its reconnect attempts; `lastError` is the last failure. */
export class StreamUnavailableError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_STREAM_UNAVAILABLE';
  constructor(readonly attempts: number, readonly lastError: unknown) {
    super(`stream lost and not re-established after ${attempts} attempt(s): ${(lastError as Error)?.message ?? String(lastError)}`, { cause: lastError });
    this.name = 'StreamUnavailableError';
  }
}

/** A lease kept alive by a LeaseKeepAlive is gone: revoked, expired on the server, or not renewed before its TTL ran out. */
export class LeaseLostError extends KeelClientError {
  readonly code = 'KEEL_CLIENT_LEASE_LOST';
  constructor(readonly leaseId: string, readonly reason: 'not-found' | 'expired', cause?: unknown) {
    super(`lease ${leaseId} lost (${reason === 'not-found' ? 'the server no longer has it' : 'not renewed before its TTL ran out'})`, { cause });
    this.name = 'LeaseLostError';
  }
}
