/**
 * KeelClient: keel's (and etcd 3.4's) JSON gateway API (KV, watch, lease,
 * lock, election; docs/client.md) with leader
 * discovery, not-leader hints, retries on another member with backoff and
 * jitter, and a deadline on every call.
 *
 * Retry rules (the one place they live; `classifyFailure` below):
 * - Every call has a deadline (`timeoutMs`, default 5 s) covering all of its
 *   attempts and backoffs, and at most `retry.maxAttempts` attempts (default 6).
 *   The remaining budget travels to the server as `grpc-timeout` and
 *   `keel-deadline`, so the server can give up too.
 * - Idempotent calls — get, range, status, memberList, and a txn whose
 *   branches hold only ranges — retry on connection errors, on an attempt's
 *   own timeout (`attemptTimeoutMs`, default 2 s) and on 503/429, each time
 *   on another member, after exponential backoff with full jitter (50 ms
 *   base, 1 s cap), waiting at least what `Retry-After` asks.
 * - Writes — put, delete, compareAndSwap, a txn with any put or delete — may
 *   apply twice if retried after the server received them, so they retry
 *   only when the failure proves the server did not apply them: the
 *   connection was refused (ECONNREFUSED and the other never-sent errors:
 *   nothing reached the server), or keel's 503 not-leader answer (keel_code
 *   KEEL_NODE_NOT_LEADER: sent before proposing). A write's connection reset,
 *   timeout, 5xx or etcd 503 ("leader changed", "request timed out": etcd
 *   may already have proposed it) is surfaced at once with
 *   `mayHaveApplied: true`; the caller decides (read back, or use a txn
 *   guarded on mod_revision). Pass `{ idempotent: true }` on a write you
 *   know is safe to repeat to get the read rules instead.
 * - Leases, locks, elections (the per-method doc comments say which rule
 *   each follows): renewals, time-to-live, lease lists and election leader
 *   are reads; a grant without an id is a write; a grant with an id,
 *   revoke, unlock, proclaim and resign cannot do harm when repeated and
 *   retry like reads; lock and campaign retry like reads too (the same lease
 *   finds the same key) but one attempt may wait up to the call's deadline.
 * - Streams (watch, election observe) reconnect instead of retrying: see
 *   resuming-stream.ts.
 * - Not-leader hints (the `keel-leader-url` header or `leader_url`) are
 *   followed at once, within the same attempt, up to 2 times; the leader
 *   is remembered for later calls.
 *
 * Where calls go: writes and linearizable reads to the leader once known
 * (one hop fewer: a follower forwards the write or asks the leader for a
 * read index); serializable reads, status and member list rotate over the
 * members. The leader is learned from hints and from a background discovery
 * (status for the leader id, member list for its URL), run at most once a
 * second and only after a leader-bound call went to a member that was not
 * known to be leader or when the leader failed.
 */
import { Agent, type Dispatcher } from 'undici';
import {
  AbortedError as ResilienceAbortedError, type BackoffFactory, type Clock, DeadlineExceededError as ResilienceDeadlineExceededError,
  deadlineHeaders, exponentialBackoff, type Outcome, type PolicyContext, type Random, retry, type RetryBudget, type RetryPolicy, systemClock,
  systemRandom, timeout, TimeoutError as ResilienceTimeoutError, wrap, type WrappedPolicy,
} from '../resilience/index.js';
import { type CoordinationBackend, Election, lock, type LockHandle, type SessionOptions } from './coordination.js';
import { type LeaseGrantResult, type LeaseListResult, type LeaseTimeToLiveResult, leaseIdArgument, parseKeepAlive, parseLeaseGrant, parseLeaseList, parseLeaseTimeToLive } from './lease.js';
import { isLeaseNotFound, LeaseKeepAlive } from './lease-keepalive.js';
import { openJsonStream } from './ndjson.js';
import type { StreamTransport } from './resuming-stream.js';
import { Watch, type WatchOptions } from './watch.js';
import {
  type Bytes, type DeleteResult, type KeyValue, type MemberListResult, parseDelete, parseHeader, parseMemberList, parsePut, parseRange, parseStatus,
  parseTxn, type PutResult, type RangeResult, type ResponseHeader, type StatusResult, type TxnResult,
} from './codec.js';
import { EndpointSet, normalizeEndpoint } from './endpoints.js';
import {
  type CallOptions, type Compare, type CompareAndSwapResult, deleteBody, type DeleteOptions, type GetOptions, type PutOptions, putBody,
  rangeBody, type RangeOptions, txnBody, txnIsReadOnly, type TxnRequest, type WriteOptions,
} from './kv-requests.js';
import {
  AbortedError, AttemptTimeoutError, ClosedError, ConfigError, ConnectionError, DeadlineExceededError, InvalidArgumentError, KeelClientError,
  NotLeaderError, ServerError, UnavailableError,
} from './errors.js';
import { postJson } from './http.js';
import {
  ACQUIRE_TIMEOUT_MS_DEFAULT, ATTEMPT_TIMEOUT_MS_DEFAULT, ATTEMPTS_DEFAULT, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, CALL_TIMEOUT_MS_DEFAULT, CALL_TIMEOUT_MS_MAX,
  CONNECTIONS_PER_ENDPOINT_DEFAULT, ENDPOINTS_MAX, LEADER_REFRESH_INTERVAL_MS_MIN, LEADER_REFRESH_TIMEOUT_MS, REDIRECTS_PER_ATTEMPT_MAX,
} from './limits.js';

/** keel codes whose 503 is sent before anything is proposed: a write may be retried after them. Extend only with such codes. */
export const REJECTED_BEFORE_PROPOSAL_CODES: ReadonlySet<string> = new Set([
  'KEEL_NODE_NOT_LEADER',
  // A keel member answers these before proposing anything (src/node/keel-node.ts):
  'KEEL_NODE_NO_LEADER',
  'KEEL_NODE_STOPPING',
  'KEEL_NODE_OVERLOADED',
]);

export interface RetryOptions {
  /** Attempts per call, the first included (default 6; 1 disables retries). */
  readonly maxAttempts?: number;
  /** Delays between attempts (default exponential, 50 ms base, ×2, 1 s cap, full jitter). */
  readonly backoff?: BackoffFactory;
  /** A retry budget shared by every call of this client (default none; see keel/resilience ratioBudget). */
  readonly budget?: RetryBudget;
}

export interface KeelClientOptions {
  /** Client URLs of the members, e.g. ['http://127.0.0.1:2379', ...], or `host:port` as etcd's clients take them ('127.0.0.1:2379' means http). */
  readonly endpoints: readonly string[];
  /** Each call's deadline when the call does not give one (default 5 s). */
  readonly timeoutMs?: number;
  /** One attempt of an idempotent call (default 2 s, and never past the call's deadline). */
  readonly attemptTimeoutMs?: number;
  /** Retry settings; `false` for one attempt per call. */
  readonly retry?: RetryOptions | false;
  /** An undici dispatcher (Agent, Pool, a mock); the client then does not close it. Default: its own keep-alive Agent. */
  readonly dispatcher?: Dispatcher;
  /** Discover the leader in the background and send writes and linearizable reads to it (default true). */
  readonly preferLeader?: boolean;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** How a call is routed and retried. */
interface CallShape {
  readonly path: string;
  readonly body: unknown;
  /** Retry on failures that leave the outcome unknown. */
  readonly idempotent: boolean;
  /** Send to the leader when known. */
  readonly preferLeader: boolean;
  /** Writes report mayHaveApplied on failure. */
  readonly isWrite: boolean;
  /** Send only to this endpoint (status of one member). */
  readonly endpoint?: string;
  /** The call may wait for long on the server (lock, campaign): one attempt runs to the deadline instead of attemptTimeoutMs. */
  readonly waits?: boolean;
}

/** What one call remembers across its attempts. */
interface CallState {
  attempts: number;
  lastError: unknown;
  /** Some attempt failed in a way that does not prove the server left the store alone. */
  mayHaveApplied: boolean;
  readonly failed: Set<string>;
}

/** Why an attempt failed, as far as retrying goes. */
type FailureKind = 'not-applied' | 'unknown-outcome' | 'final';

/** The retry classification; see the module comment. */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof ResilienceTimeoutError || error instanceof AttemptTimeoutError) return 'unknown-outcome';
  if (!KeelClientError.is(error)) return 'final';
  if (error instanceof ConnectionError) return error.sent ? 'unknown-outcome' : 'not-applied';
  if (error instanceof NotLeaderError) return 'not-applied';
  if (error instanceof UnavailableError) return error.keelCode !== undefined && REJECTED_BEFORE_PROPOSAL_CODES.has(error.keelCode) ? 'not-applied' : 'unknown-outcome';
  return 'final';
}

/** True when a write that failed with `error` certainly did not change the store. */
function provesNotApplied(error: unknown): boolean {
  if (classifyFailure(error) === 'not-applied') return true;
  if (error instanceof ServerError && !(error instanceof UnavailableError)) return error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 409;
  return error instanceof InvalidArgumentError || error instanceof ClosedError;
}

function checkTimeout(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > CALL_TIMEOUT_MS_MAX) throw new ConfigError(`${name} must be in (0, ${CALL_TIMEOUT_MS_MAX}] ms, got ${value}`);
  return value;
}

export class KeelClient {
  readonly #endpoints: EndpointSet;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #preferLeader: boolean;
  readonly #idempotentPolicy: WrappedPolicy;
  readonly #writePolicy: WrappedPolicy;
  readonly #waitPolicy: WrappedPolicy;
  readonly #random: Random;
  readonly #calls = new Set<AbortController>();
  /** Background work to end on close: watches, observers, keep-alives. */
  readonly #background = new Set<() => Promise<void> | void>();
  readonly #streamTransport: StreamTransport;
  /** Members that do not answer a stream before its request ends (etcd's gateway): no keep-alive probes there. */
  readonly #halfDuplex = new Set<string>();
  readonly #coordination: CoordinationBackend;
  #refreshing: Promise<void> | undefined;
  #lastRefreshMs = -Infinity;
  #closed = false;

  constructor(options: KeelClientOptions) {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.endpoints)) throw new ConfigError('options.endpoints must be an array of URLs');
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#endpoints = new EndpointSet(options.endpoints, this.#clock);
    this.#timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? CALL_TIMEOUT_MS_DEFAULT);
    const attemptTimeoutMs = checkTimeout('attemptTimeoutMs', options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS_DEFAULT);
    this.#preferLeader = options.preferLeader ?? true;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Agent({ connections: CONNECTIONS_PER_ENDPOINT_DEFAULT, keepAliveTimeout: 10_000 });
    const retryOptions = options.retry === false ? { maxAttempts: 1 } : (options.retry ?? {});
    const makeRetry = (idempotent: boolean): RetryPolicy =>
      retry({
        maxAttempts: retryOptions.maxAttempts ?? ATTEMPTS_DEFAULT,
        backoff: retryOptions.backoff ?? exponentialBackoff({ initialDelayMs: BACKOFF_INITIAL_MS, maxDelayMs: BACKOFF_MAX_MS, jitter: 'full' }),
        ...(retryOptions.budget === undefined ? {} : { budget: retryOptions.budget }),
        shouldRetry: (outcome: Outcome) => !outcome.ok && this.#shouldRetry(outcome.error, idempotent),
        clock: this.#clock,
        ...(options.random === undefined ? {} : { random: options.random }),
      });
    // An idempotent attempt gets its own timeout so a hung member costs one attempt, not the call;
    // a write's attempt runs to the call's deadline, since retrying it after a timeout is not allowed anyway.
    this.#idempotentPolicy = wrap(makeRetry(true), timeout(attemptTimeoutMs, { clock: this.#clock }));
    this.#writePolicy = wrap(makeRetry(false), timeout(Infinity, { clock: this.#clock }));
    // Lock and campaign wait on the server, and acquiring again with the same lease is harmless: retried like reads, attempts unbounded but the call's.
    this.#waitPolicy = wrap(makeRetry(true), timeout(Infinity, { clock: this.#clock }));
    this.#streamTransport = this.#makeStreamTransport();
    this.#coordination = this.#makeCoordination();
  }

  /** The configured endpoints, normalized. */
  get endpoints(): readonly string[] {
    return this.#endpoints.configured;
  }

  /** The leader's URL as far as this client knows, or undefined. */
  get leader(): string | undefined {
    return this.#endpoints.leader;
  }

  /** Stores `value` at `key`. Not retried once it may have reached a server (see the module comment). */
  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const body = putBody(key, value, options);
    return parsePut(await this.#call({ path: '/v3/kv/put', body, idempotent: options.idempotent === true, preferLeader: true, isWrite: true }, options));
  }

  /** The key's current value (linearizable unless `serializable`), or undefined when absent. */
  async get(key: Bytes, options: GetOptions = {}): Promise<KeyValue | undefined> {
    const result = await this.range(key, { ...options, limit: 1, rangeEnd: undefined, prefix: false });
    return result.kvs[0];
  }

  /** The keys in [key, rangeEnd) (or with prefix `key`), linearizable unless `serializable`. */
  async range(key: Bytes, options: RangeOptions = {}): Promise<RangeResult> {
    const body = rangeBody(key, options);
    const serializable = options.serializable === true;
    return parseRange(await this.#call({ path: '/v3/kv/range', body, idempotent: true, preferLeader: !serializable, isWrite: false }, options));
  }

  /** Deletes `key` (or [key, rangeEnd), or the prefix). Retried like a put. */
  async delete(key: Bytes, options: DeleteOptions = {}): Promise<DeleteResult> {
    const body = deleteBody(key, options);
    return parseDelete(await this.#call({ path: '/v3/kv/deleterange', body, idempotent: options.idempotent === true, preferLeader: true, isWrite: true }, options));
  }

  /** A transaction. Retried like a read when both branches hold only ranges, like a put otherwise. */
  async txn(request: TxnRequest, options: WriteOptions = {}): Promise<TxnResult> {
    const body = txnBody(request);
    const readOnly = txnIsReadOnly(request);
    return parseTxn(await this.#call({ path: '/v3/kv/txn', body, idempotent: readOnly || options.idempotent === true, preferLeader: true, isWrite: !readOnly }, options));
  }

  /**
   * Sets `key` to `newValue` if it currently holds `expected`: a value
   * (string or bytes), or a mod revision (number; 0 means "the key does not
   * exist"). On failure `current` holds the key as it is. A write: not
   * retried once it may have reached a server.
   */
  async compareAndSwap(key: Bytes, expected: Bytes | number, newValue: Bytes, options: WriteOptions = {}): Promise<CompareAndSwapResult> {
    const compare: Compare = typeof expected === 'number' ? { key, target: 'MOD', result: 'EQUAL', value: expected } : { key, target: 'VALUE', result: 'EQUAL', value: expected };
    const result = await this.txn({ compare: [compare], success: [{ put: { key, value: newValue } }], failure: [{ range: { key } }] }, options);
    const first = result.responses[0];
    const current = !result.succeeded && first?.type === 'range' ? first.range.kvs[0] : undefined;
    return { succeeded: result.succeeded, revision: result.header.revision, current };
  }

  /** A member's status; `endpoint` asks that member only (no retry elsewhere), otherwise any member. */
  async status(options: CallOptions & { readonly endpoint?: string } = {}): Promise<StatusResult> {
    const endpoint = options.endpoint === undefined ? undefined : normalizeEndpoint(options.endpoint);
    let answered = '';
    const json = await this.#call({ path: '/v3/maintenance/status', body: {}, idempotent: true, preferLeader: false, isWrite: false, ...(endpoint === undefined ? {} : { endpoint }) }, options, (served) => {
      answered = served;
    });
    return parseStatus(json, answered);
  }

  /** The cluster's members. */
  async memberList(options: CallOptions = {}): Promise<MemberListResult> {
    return parseMemberList(await this.#call({ path: '/v3/cluster/member/list', body: {}, idempotent: true, preferLeader: false, isWrite: false }, options));
  }

  /**
   * Grants a lease of `ttlSeconds` (the server may raise it to its minimum).
   * Without `id` the server draws one, and the grant is a write: not retried
   * once it may have reached a server (a retry could grant a second lease).
   * With `id` a repeat cannot create a second lease, so it is retried like a
   * read, and "lease already exists" after an attempt that may have applied
   * counts as this grant having succeeded.
   */
  async leaseGrant(ttlSeconds: number, options: WriteOptions & { readonly id?: string } = {}): Promise<LeaseGrantResult> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new InvalidArgumentError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
    const id = options.id === undefined ? undefined : leaseIdArgument(options.id);
    const body = { TTL: String(ttlSeconds), ID: id ?? '0' };
    try {
      return parseLeaseGrant(await this.#call({ path: '/v3/lease/grant', body, idempotent: id !== undefined || options.idempotent === true, preferLeader: true, isWrite: true }, options));
    } catch (error) {
      if (id === undefined || !KeelClientError.is(error) || !error.mayHaveApplied || !(error instanceof ServerError) || !/lease already exists/.test(error.serverMessage)) throw error;
      const granted = await this.leaseTimeToLive(id, options);
      return { header: granted.header, id, ttlSeconds: granted.grantedTtlSeconds };
    }
  }

  /**
   * Revokes a lease and deletes its keys. Retried like a read (revoking
   * twice is harmless), and "lease not found" after an attempt that may have
   * applied counts as success; on a first attempt it is an error (grpcCode 5).
   */
  async leaseRevoke(id: string, options: CallOptions = {}): Promise<{ readonly header: ResponseHeader }> {
    const body = { ID: leaseIdArgument(id) };
    try {
      const json = (await this.#call({ path: '/v3/lease/revoke', body, idempotent: true, preferLeader: true, isWrite: true }, options)) as Record<string, unknown>;
      return { header: parseHeader(json.header) };
    } catch (error) {
      if (isLeaseNotFound(error) && (error as KeelClientError).mayHaveApplied) return { header: parseHeader(undefined) };
      throw error;
    }
  }

  /** A lease's remaining and granted TTL (`ttlSeconds` -1 when it does not exist), and its keys with `keys`. A read. */
  async leaseTimeToLive(id: string, options: CallOptions & { readonly keys?: boolean } = {}): Promise<LeaseTimeToLiveResult> {
    const body = { ID: leaseIdArgument(id), ...(options.keys === true ? { keys: true } : {}) };
    return parseLeaseTimeToLive(await this.#call({ path: '/v3/lease/timetolive', body, idempotent: true, preferLeader: true, isWrite: false }, options));
  }

  /** The ids of every lease (as the member that answers has applied them). A read. */
  async leases(options: CallOptions = {}): Promise<LeaseListResult> {
    return parseLeaseList(await this.#call({ path: '/v3/lease/leases', body: {}, idempotent: true, preferLeader: true, isWrite: false }, options));
  }

  /**
   * Keeps the lease alive in the background: a renewal now, then every
   * TTL/3, each retried like a read on another member (a renewal is
   * idempotent). `lost` resolves when the lease is gone; `close()` stops.
   * See lease-keepalive.ts.
   */
  leaseKeepAlive(id: string, options: { readonly ttlSeconds?: number } = {}): LeaseKeepAlive {
    if (this.#closed) throw new ClosedError();
    const leaseId = leaseIdArgument(id);
    const renew = async (lease: string, timeoutMs: number, signal: AbortSignal): Promise<number> =>
      parseKeepAlive(await this.#call({ path: '/v3/lease/keepalive', body: { ID: lease }, idempotent: true, preferLeader: true, isWrite: false }, { timeoutMs, signal }));
    return new LeaseKeepAlive(leaseId, renew, this.#clock, (close) => this.#track(close), options.ttlSeconds);
  }

  /**
   * Watches `key` (or a prefix or range): `for await (const batch of watch)`.
   * Resumes on another member when its stream breaks, with no gap and no
   * repeat; fails with WatchCompactedError when the history it needs is
   * gone, and with StreamUnavailableError after `reconnectAttempts`
   * consecutive failed reconnections. See watch.ts.
   */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    if (this.#closed) throw new ClosedError();
    return new Watch(this.#streamTransport, key, options);
  }

  /**
   * Takes the lock `name`, waiting while another holder has it (up to
   * `timeoutMs`, default 10 minutes, or the signal). Without `lease`, grants
   * one (`ttlSeconds`, default 60) and keeps it alive until unlock. Retried
   * on another member after any failure: with the same lease the server
   * finds the same key. On failure the key is removed and a granted lease revoked.
   */
  async lock(name: Bytes, options: SessionOptions = {}): Promise<LockHandle> {
    if (this.#closed) throw new ClosedError();
    return lock(this.#coordination, name, options);
  }

  /** The election `name`: campaign, proclaim, leader, observe, resign (see coordination.ts). */
  election(name: Bytes): Election {
    if (this.#closed) throw new ClosedError();
    return new Election(this.#coordination, name);
  }

  #track(close: () => Promise<void> | void): () => void {
    this.#background.add(close);
    return () => void this.#background.delete(close);
  }

  #makeStreamTransport(): StreamTransport {
    return {
      open: async (path, body, avoid, signal, bidirectional) => {
        if (this.#closed) throw new ClosedError();
        const endpoint = this.#endpoints.pick(false, avoid.size >= this.#endpoints.configured.length ? new Set() : avoid);
        try {
          const duplex = bidirectional && !this.#halfDuplex.has(endpoint);
          const stream = await openJsonStream(this.#dispatcher, endpoint, path, body, signal, () => this.#clock.now(), duplex);
          // A member that answered only once the request ended (etcd's gateway) gets one-way streams from now on.
          if (duplex && !stream.duplex && this.#halfDuplex.size < ENDPOINTS_MAX) this.#halfDuplex.add(endpoint);
          this.#endpoints.markHealthy(endpoint);
          return { endpoint, stream };
        } catch (error) {
          if (KeelClientError.is(error)) error.endpoint = endpoint;
          throw error;
        }
      },
      markFailed: (endpoint) => this.#endpoints.markFailed(endpoint),
      clock: this.#clock,
      random: this.#random,
      track: (close) => this.#track(close),
    };
  }

  #makeCoordination(): CoordinationBackend {
    const acquireOptions = (options: CallOptions): CallOptions => ({ ...options, timeoutMs: options.timeoutMs ?? ACQUIRE_TIMEOUT_MS_DEFAULT });
    return {
      acquire: (path, body, options) => this.#call({ path, body, idempotent: true, waits: true, preferLeader: true, isWrite: true }, acquireOptions(options)),
      guarded: (path, body, options) => this.#call({ path, body, idempotent: true, preferLeader: true, isWrite: true }, options),
      read: (path, body, options) => this.#call({ path, body, idempotent: true, preferLeader: true, isWrite: false }, options),
      leaseGrant: (ttlSeconds, options) => this.leaseGrant(ttlSeconds, options),
      leaseRevoke: (id, options) => this.leaseRevoke(id, options),
      leaseKeepAlive: (id, ttlSeconds) => this.leaseKeepAlive(id, ttlSeconds === undefined ? {} : { ttlSeconds }),
      transport: this.#streamTransport,
    };
  }

  /** Aborts calls in flight (they fail with KEEL_CLIENT_CLOSED), waits for discovery, closes the client's own connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const controller of this.#calls) controller.abort(new ClosedError());
    await Promise.all([...this.#background].map((close) => close()));
    await this.#refreshing;
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #shouldRetry(error: unknown, idempotent: boolean): boolean {
    if (this.#closed) return false;
    const kind = classifyFailure(error);
    return kind === 'not-applied' || (kind === 'unknown-outcome' && idempotent);
  }

  async #call(shape: CallShape, options: CallOptions, onServed?: (endpoint: string) => void): Promise<unknown> {
    if (this.#closed) throw new ClosedError();
    const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? this.#timeoutMs);
    const controller = new AbortController();
    const callerSignal = options.signal;
    const onCallerAbort = (): void => controller.abort(new AbortedError(callerSignal?.reason));
    if (callerSignal?.aborted === true) throw new AbortedError(callerSignal.reason);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    this.#calls.add(controller);
    const state: CallState = { attempts: 0, lastError: undefined, mayHaveApplied: false, failed: new Set() };
    const policy = shape.waits === true ? this.#waitPolicy : shape.idempotent ? this.#idempotentPolicy : this.#writePolicy;
    try {
      return await policy.execute((context) => this.#attempt(shape, state, context, onServed), { signal: controller.signal, deadlineMs: this.#clock.now() + timeoutMs });
    } catch (error) {
      throw this.#finalError(error, shape, state, timeoutMs, controller.signal);
    } finally {
      callerSignal?.removeEventListener('abort', onCallerAbort);
      this.#calls.delete(controller);
    }
  }

  /** One attempt: pick a member, post, follow up to REDIRECTS_PER_ATTEMPT_MAX not-leader hints. */
  async #attempt(shape: CallShape, state: CallState, context: PolicyContext, onServed?: (endpoint: string) => void): Promise<unknown> {
    state.attempts++;
    let endpoint = shape.endpoint ?? this.#pick(shape, state);
    for (let redirects = 0; ; redirects++) {
      const wentToLeader = endpoint === this.#endpoints.leader;
      try {
        const headers = context.deadlineMs === undefined ? {} : deadlineHeaders(context, this.#clock);
        const json = await postJson(this.#dispatcher, endpoint, shape.path, shape.body, { signal: context.signal, headers }, () => this.#clock.now());
        this.#endpoints.markHealthy(endpoint);
        if (shape.preferLeader && this.#preferLeader && !wentToLeader) this.#refreshLeaderSoon();
        onServed?.(endpoint);
        return json;
      } catch (error) {
        state.lastError = error;
        if (!provesNotApplied(error)) state.mayHaveApplied = true;
        const hint = error instanceof NotLeaderError ? this.#hintedLeader(error, endpoint) : undefined;
        if (hint !== undefined && shape.endpoint === undefined && redirects < REDIRECTS_PER_ATTEMPT_MAX && !context.signal.aborted) {
          this.#endpoints.setLeader(hint);
          endpoint = hint;
          continue;
        }
        this.#noteFailure(endpoint, error, state, wentToLeader);
        throw error;
      }
    }
  }

  #pick(shape: CallShape, state: CallState): string {
    if (state.failed.size >= this.#endpoints.configured.length) state.failed.clear();
    return this.#endpoints.pick(shape.preferLeader && this.#preferLeader, state.failed);
  }

  #hintedLeader(error: NotLeaderError, from: string): string | undefined {
    if (error.leaderUrl === undefined || error.leaderUrl === '') return undefined;
    try {
      const url = normalizeEndpoint(error.leaderUrl);
      return url === from ? undefined : url;
    } catch {
      return undefined;
    }
  }

  #noteFailure(endpoint: string, error: unknown, state: CallState, wentToLeader: boolean): void {
    if (classifyFailure(error) === 'final') return;
    state.failed.add(endpoint);
    if (error instanceof ConnectionError || error instanceof ResilienceTimeoutError) this.#endpoints.markFailed(endpoint);
    if (wentToLeader) {
      this.#endpoints.clearLeader();
      this.#refreshLeaderSoon();
    }
  }

  #finalError(error: unknown, shape: CallShape, state: CallState, timeoutMs: number, signal: AbortSignal): KeelClientError {
    let final: KeelClientError;
    if (signal.aborted && KeelClientError.is(signal.reason)) final = signal.reason;
    else if (error instanceof ResilienceDeadlineExceededError) final = new DeadlineExceededError(timeoutMs, state.attempts, state.lastError instanceof ResilienceDeadlineExceededError ? undefined : state.lastError);
    else if (error instanceof ResilienceTimeoutError) final = new AttemptTimeoutError(error.timeoutMs);
    else if (error instanceof ResilienceAbortedError) final = new AbortedError(error.cause);
    else if (KeelClientError.is(error)) final = error;
    else final = new ConnectionError(true, error);
    final.mayHaveApplied = shape.isWrite && state.mayHaveApplied;
    return final;
  }

  /** Starts leader discovery in the background unless one ran within LEADER_REFRESH_INTERVAL_MS_MIN. */
  #refreshLeaderSoon(): void {
    if (!this.#preferLeader || this.#closed || this.#refreshing !== undefined) return;
    const nowMs = this.#clock.now();
    if (nowMs - this.#lastRefreshMs < LEADER_REFRESH_INTERVAL_MS_MIN) return;
    this.#lastRefreshMs = nowMs;
    this.#refreshing = this.#refreshLeader()
      .catch(() => undefined)
      .finally(() => {
        this.#refreshing = undefined;
      });
  }

  /** Status of one member for the leader's id, member list for its client URL; only a configured URL is adopted. */
  async #refreshLeader(): Promise<void> {
    const endpoint = this.#endpoints.pick(false, new Set());
    const options = { signal: AbortSignal.timeout(LEADER_REFRESH_TIMEOUT_MS), headers: {} };
    const now = (): number => this.#clock.now();
    const status = parseStatus(await postJson(this.#dispatcher, endpoint, '/v3/maintenance/status', {}, options, now), endpoint);
    if (status.leader === '0') return;
    const members = parseMemberList(await postJson(this.#dispatcher, endpoint, '/v3/cluster/member/list', {}, options, now));
    const leader = members.members.find((member) => member.id === status.leader);
    const url = leader?.clientUrls.map((each) => normalizeEndpoint(each)).find((each) => this.#endpoints.isConfigured(each));
    if (url !== undefined && !this.#closed) this.#endpoints.setLeader(url);
  }
}
