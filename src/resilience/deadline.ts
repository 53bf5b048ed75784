import { headerValue, type HeadersLike } from './classify.js';
import type { Clock } from './clock.js';
import { ConfigError, DeadlineExceededError } from './errors.js';
import type { PolicyContext } from './policy.js';
import { type TimeoutMode, TimeoutPolicy } from './timeout.js';

/**
 * Deadline propagation. A deadline is absolute on the local clock inside a
 * process, and travels between processes as the remaining budget (relative),
 * as gRPC does, so clock skew between hosts does not matter; only the
 * network time of the hop is lost, which errs on the safe side.
 */

/** Keel's header: remaining milliseconds, a non-negative integer. */
export const DEADLINE_HEADER = 'keel-deadline';
/** gRPC's header: up to 8 digits and a unit (H, M, S, m, u, n). */
export const GRPC_TIMEOUT_HEADER = 'grpc-timeout';

const GRPC_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['n', 1e-6],
  ['u', 1e-3],
  ['m', 1],
  ['S', 1_000],
  ['M', 60_000],
  ['H', 3_600_000],
];
const GRPC_DIGITS_MAX = 99_999_999;

/** Milliseconds left before the context's deadline (undefined when it has none; may be negative). */
export function remainingMs(context: Pick<PolicyContext, 'deadlineMs'>, clock: Clock): number | undefined {
  return context.deadlineMs === undefined ? undefined : context.deadlineMs - clock.now();
}

/**
 * Encodes a timeout for `grpc-timeout` in the finest unit whose value fits
 * in 8 digits (gRPC's PROTOCOL-HTTP2 rule), rounding up within that unit.
 */
export function encodeGrpcTimeout(timeoutMs: number): string {
  if (!(timeoutMs >= 0)) throw new ConfigError('a timeout must be non-negative');
  for (const [unit, unitMs] of GRPC_UNITS) {
    const value = Math.ceil(timeoutMs / unitMs);
    if (value <= GRPC_DIGITS_MAX) return `${value}${unit}`;
  }
  return `${GRPC_DIGITS_MAX}H`;
}

/** Parses `grpc-timeout` into milliseconds; undefined when malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  const match = value === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (match === null) return undefined;
  const unitMs = GRPC_UNITS.find(([unit]) => unit === match[2])?.[1];
  return unitMs === undefined ? undefined : Number(match[1]) * unitMs;
}

/** Parses `keel-deadline` (remaining ms) into milliseconds; undefined when malformed. */
export function parseDeadlineHeader(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/**
 * Headers that carry the remaining budget downstream: both `keel-deadline`
 * and `grpc-timeout` unless `format` picks one. Empty when the context has no
 * deadline. Throws `DeadlineExceededError` when it has already passed: a
 * request that cannot finish in time should not be sent.
 */
export function deadlineHeaders(context: Pick<PolicyContext, 'deadlineMs'>, clock: Clock, format: 'keel' | 'grpc' | 'both' = 'both'): Record<string, string> {
  if (context.deadlineMs === undefined) return {};
  return deadlineHeadersAt(context.deadlineMs, clock.now(), format);
}

/** `deadlineHeaders` with the clock already read (`nowMs`), for a caller that read it for other work in the same step. */
export function deadlineHeadersAt(deadlineMs: number, nowMs: number, format: 'keel' | 'grpc' | 'both' = 'both'): Record<string, string> {
  const remaining = deadlineMs - nowMs;
  if (remaining <= 0) throw new DeadlineExceededError(deadlineMs, nowMs);
  const headers: Record<string, string> = {};
  if (format !== 'grpc') headers[DEADLINE_HEADER] = String(Math.floor(remaining));
  if (format !== 'keel') headers[GRPC_TIMEOUT_HEADER] = encodeGrpcTimeout(Math.floor(remaining));
  return headers;
}

/**
 * The absolute deadline (local clock) a received request carries: the
 * sooner of `keel-deadline` and `grpc-timeout`, undefined when neither is
 * present or well formed.
 */
export function deadlineFromHeaders(headers: HeadersLike | undefined, clock: Clock): number | undefined {
  const keel = parseDeadlineHeader(headerValue(headers, DEADLINE_HEADER));
  const grpc = parseGrpcTimeout(headerValue(headers, GRPC_TIMEOUT_HEADER));
  const remaining = Math.min(keel ?? Infinity, grpc ?? Infinity);
  return remaining === Infinity ? undefined : clock.now() + remaining;
}

/** Throws `DeadlineExceededError` when the context's deadline has passed: call before starting work. */
export function assertBeforeDeadline(context: Pick<PolicyContext, 'deadlineMs'>, clock: Clock): void {
  const nowMs = clock.now();
  if (context.deadlineMs !== undefined && nowMs >= context.deadlineMs) throw new DeadlineExceededError(context.deadlineMs, nowMs);
}

export interface DeadlineOptions {
  /** The deadline given to calls that arrive without one (default: none; they run unbounded). */
  readonly defaultTimeoutMs?: number;
  readonly mode?: TimeoutMode;
  readonly clock?: Clock;
}

/**
 * A policy that enforces the context's deadline: refuses work that is
 * already late, aborts the signal when the deadline passes, and gives calls
 * without a deadline `defaultTimeoutMs`. A `TimeoutPolicy` whose own limit
 * is the default.
 */
export function deadline(options: DeadlineOptions = {}): TimeoutPolicy {
  const { defaultTimeoutMs, ...rest } = options;
  return new TimeoutPolicy({ ...rest, timeoutMs: defaultTimeoutMs ?? Infinity, onlyWithoutDeadline: true });
}
