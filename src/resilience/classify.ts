import { ResilienceError, TimeoutError } from './errors.js';
import type { RequestInfo } from './policy.js';

/**
 * Reading outcomes: HTTP statuses and headers on results and errors,
 * transient network errors, idempotency, and the server's own word on when
 * to come back (`Retry-After`, the IETF RateLimit fields). Pure functions;
 * every policy that classifies outcomes uses these.
 */

/** Headers as fetch, node:http, undici or a plain object carry them. */
export type HeadersLike =
  | { get(name: string): string | null | undefined }
  | Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** A settled call: the value it returned or the error it threw. */
export type Outcome<T = unknown> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Reads one header case-insensitively; joins repeated values with ', '. */
export function headerValue(headers: HeadersLike | undefined, name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null | undefined }).get(name);
    return value ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | number | undefined>>;
  const lower = name.toLowerCase();
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== lower) continue;
    const value = record[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }
  return undefined;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** The HTTP status on a response-like value or error (`status`, `statusCode`, or `response.status`). */
export function statusOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined; // every call's result passes here: no allocation
  return integerOrUndefined(field(value, 'status')) ?? integerOrUndefined(field(value, 'statusCode')) ?? integerOrUndefined(field(field(value, 'response'), 'status'));
}

function integerOrUndefined(candidate: unknown): number | undefined {
  return typeof candidate === 'number' && Number.isInteger(candidate) ? candidate : undefined;
}

/** The response headers on a response-like value or error (`headers` or `response.headers`). */
export function headersOf(value: unknown): HeadersLike | undefined {
  const headers = field(value, 'headers') ?? field(field(value, 'response'), 'headers');
  return typeof headers === 'object' && headers !== null ? (headers as HeadersLike) : undefined;
}

/** Methods RFC 9110 §9.2.2 defines as idempotent (TRACE included). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** The header (draft-ietf-httpapi-idempotency-key-header) that makes a POST or PATCH safe to retry. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/**
 * True when repeating the request cannot do harm: an idempotent method, or
 * any method carrying an Idempotency-Key. A call without request info is a
 * plain function the caller chose to wrap in a retry, and counts as safe.
 */
export function isIdempotent(request: RequestInfo | undefined): boolean {
  if (request === undefined) return true;
  if (headerValue(request.headers, IDEMPOTENCY_KEY_HEADER) !== undefined) return true;
  if (request.method === undefined) return true;
  return IDEMPOTENT_METHODS.has(request.method.toUpperCase());
}

/** Error codes of network failures that may well succeed on a second try. */
export const TRANSIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/**
 * Codes meaning the request never left this process or was refused before
 * the server read it: safe to retry even for a non-idempotent POST (gRPC's
 * "transparent retry" rule).
 */
export const NEVER_SENT_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'ENETUNREACH', 'EHOSTUNREACH']);

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && depth < 4; current = field(current, 'cause'), depth++) {
    const code = field(current, 'code');
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** True for network errors worth retrying and for an attempt that hit its own timeout. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof TimeoutError || (ResilienceError.is(error) && error.code === 'KEEL_RES_TIMEOUT')) return true;
  const code = errorCode(error);
  return code !== undefined && TRANSIENT_ERROR_CODES.has(code);
}

/** True when the request certainly never reached the server. */
export function isNeverSentError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NEVER_SENT_ERROR_CODES.has(code);
}

/** True for our own local refusals (breaker open, bulkhead full, throttled ...). */
export function isLocalRejection(error: unknown): boolean {
  return ResilienceError.is(error) && error.local;
}

/**
 * Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns milliseconds from `nowMs` (0 for a date in the past), or undefined
 * when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined; // a bare number with a sign or a dot is malformed
  const dateMs = Date.parse(trimmed);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}

/**
 * Reads the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)
 * and returns how long until quota is available, in ms, when the server says
 * none remains. Understands the structured field of drafts 07+
 * (`RateLimit: "default";r=0;t=5`), the single field of drafts 03–06
 * (`RateLimit: limit=10, remaining=0, reset=5`) and the separate
 * `RateLimit-Remaining` / `RateLimit-Reset` fields of the early drafts.
 */
export function parseRateLimitReset(headers: HeadersLike | undefined): number | undefined {
  const combined = headerValue(headers, 'ratelimit');
  if (combined !== undefined) {
    const params = new Map<string, string>();
    for (const match of combined.matchAll(/([a-z]+)=("?)([^;,"]*)\2/gi)) params.set((match[1] ?? '').toLowerCase(), match[3] ?? '');
    const remaining = params.get('r') ?? params.get('remaining');
    const reset = params.get('t') ?? params.get('reset');
    return resetDelay(remaining, reset);
  }
  return resetDelay(headerValue(headers, 'ratelimit-remaining'), headerValue(headers, 'ratelimit-reset'));
}

function resetDelay(remaining: string | undefined, reset: string | undefined): number | undefined {
  if (remaining === undefined || reset === undefined) return undefined;
  if (Number(remaining.trim()) > 0) return undefined;
  const seconds = Number(reset.trim());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * The server's requested wait before the next attempt, in ms: `Retry-After`
 * first (it is the older, normative field), then the RateLimit fields.
 */
export function serverDelayMs(outcome: Outcome, nowMs: number): number | undefined {
  const carrier = outcome.ok ? outcome.value : outcome.error;
  const headers = headersOf(carrier);
  if (headers === undefined) return undefined;
  return parseRetryAfter(headerValue(headers, 'retry-after'), nowMs) ?? parseRateLimitReset(headers);
}

/**
 * Default "did the dependency fail?" for breakers and concurrency limiters:
 * thrown errors count, except the caller's own abort and our local
 * refusals; returned responses count when their status is 5xx. A 4xx is the
 * caller's problem, not the dependency's (Envoy's outlier detection and
 * Resilience4j's recordExceptions make the same split).
 */
export function isDependencyFailure(outcome: Outcome, callerSignal: AbortSignal): boolean {
  if (outcome.ok) {
    const status = statusOf(outcome.value);
    return status !== undefined && status >= 500;
  }
  if (callerSignal.aborted || isLocalRejection(outcome.error)) return false;
  const status = statusOf(outcome.error);
  return status === undefined || status >= 500;
}

/**
 * Default "was the request refused for overload?" for adaptive throttling:
 * 429 or 503, a connection refused, or one of our own local refusals further
 * in (an open breaker, a full bulkhead): none of these was accepted.
 */
export function isOverloadRejection(outcome: Outcome): boolean {
  const carrier = outcome.ok ? outcome.value : outcome.error;
  const status = statusOf(carrier);
  if (status === 429 || status === 503) return true;
  if (outcome.ok) return false;
  return isNeverSentError(outcome.error) || isLocalRejection(outcome.error);
}
