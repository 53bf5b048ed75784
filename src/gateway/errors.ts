/**
 * The gateway's errors. Each has a stable `code` (never reused) and, for
 * refusals, the machine-readable `reason` the client sees in
 * `keel-reject-reason`; `statusFor` is the one code → HTTP status map. The
 * brand survives duplicate installs, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.gateway.error');

/** The header that says why the gateway refused a request. */
export const REJECT_REASON_HEADER = 'keel-reject-reason';

/** gRPC status codes the gateway answers gRPC clients with (grpc/grpc doc/statuscodes.md). */
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNIMPLEMENTED = 12;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/** Per code: the HTTP status, the reason header's value, and the grpc-status a gRPC client gets instead. */
export const GATEWAY_ERROR_TABLE = Object.freeze({
  KEEL_GW_CONFIG_INVALID: { status: 500, reason: 'config-invalid', grpc: GRPC_INTERNAL },
  KEEL_GW_LISTENER_UNAVAILABLE: { status: 500, reason: 'listener-unavailable', grpc: GRPC_INTERNAL },
  KEEL_GW_NO_ROUTE: { status: 404, reason: 'no-route', grpc: GRPC_UNIMPLEMENTED },
  KEEL_GW_RATE_LIMITED: { status: 429, reason: 'rate-limited', grpc: GRPC_RESOURCE_EXHAUSTED },
  KEEL_GW_OVERLOADED: { status: 503, reason: 'overloaded', grpc: GRPC_UNAVAILABLE },
  KEEL_GW_NO_HEALTHY_UPSTREAM: { status: 503, reason: 'no-healthy-upstream', grpc: GRPC_UNAVAILABLE },
  KEEL_GW_UPSTREAM_OVERFLOW: { status: 503, reason: 'circuit-open', grpc: GRPC_UNAVAILABLE },
  KEEL_GW_UPSTREAM_TIMEOUT: { status: 504, reason: 'upstream-timeout', grpc: GRPC_DEADLINE_EXCEEDED },
  KEEL_GW_DEADLINE_EXCEEDED: { status: 504, reason: 'deadline-exceeded', grpc: GRPC_DEADLINE_EXCEEDED },
  KEEL_GW_UPSTREAM_UNAVAILABLE: { status: 502, reason: 'upstream-unavailable', grpc: GRPC_UNAVAILABLE },
  KEEL_GW_REQUEST_TOO_LARGE: { status: 413, reason: 'request-too-large', grpc: GRPC_RESOURCE_EXHAUSTED },
  /** A malformed or ambiguous HTTP/1.1 message (the fast path's parser: smuggling rules); the connection is closed. */
  KEEL_GW_BAD_REQUEST: { status: 400, reason: 'bad-request', grpc: GRPC_INTERNAL },
  /** A request head over the limits (bytes, a line, the field count); the connection is closed. */
  KEEL_GW_HEADERS_TOO_LARGE: { status: 431, reason: 'headers-too-large', grpc: GRPC_RESOURCE_EXHAUSTED },
  /** An admin request without the configured bearer token (or with a wrong one). */
  KEEL_GW_ADMIN_UNAUTHORIZED: { status: 401, reason: 'admin-unauthorized', grpc: GRPC_UNAUTHENTICATED },
  /** A listener's TLS certificate or key could not be read or does not load (bad PEM, key not matching). */
  KEEL_GW_TLS_INVALID: { status: 500, reason: 'tls-invalid', grpc: GRPC_INTERNAL },
} as const);

/** The grpc-status for an error that is not a GatewayError (a bug: answered as INTERNAL). */
export const GRPC_STATUS_INTERNAL = GRPC_INTERNAL;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_TABLE;

export class GatewayError extends Error {
  readonly [BRAND] = true;
  readonly status: number;
  readonly reason: string;
  /** What a gRPC client is told (grpc-status), where HTTP clients get `status`. */
  readonly grpcStatus: number;
  /** Extra response headers (Retry-After, RateLimit fields). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(readonly code: GatewayErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'GatewayError';
    this.status = GATEWAY_ERROR_TABLE[code].status;
    this.reason = GATEWAY_ERROR_TABLE[code].reason;
    this.grpcStatus = GATEWAY_ERROR_TABLE[code].grpc;
    this.headers = headers;
  }

  static is(value: unknown): value is GatewayError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Invalid configuration; `issues` name each field (`clusters.api.endpoints.0.weight: ...`). */
export class GatewayConfigError extends GatewayError {
  constructor(readonly issues: readonly string[]) {
    super('KEEL_GW_CONFIG_INVALID', `invalid gateway config:\n  ${issues.join('\n  ')}`);
    this.name = 'GatewayConfigError';
  }
}

/** A reload's new listener could not be bound (the port is taken, the address is not local): the running config stays. */
export class ListenerUnavailableError extends GatewayError {
  constructor(readonly listener: string, cause: unknown) {
    super('KEEL_GW_LISTENER_UNAVAILABLE', `cannot listen on ${listener}: ${(cause as Error).message}`);
    this.name = 'ListenerUnavailableError';
  }
}

/** The HTTP status for an error code (the one place the map lives). */
export function statusFor(code: GatewayErrorCode): number {
  return GATEWAY_ERROR_TABLE[code].status;
}

/** A TLS certificate or key that cannot be read or loaded (`file` names it; the key's content is never in the message). */
export class GatewayTlsError extends GatewayError {
  constructor(readonly field: string, cause: string) {
    super('KEEL_GW_TLS_INVALID', `${field}: ${cause}`);
    this.name = 'GatewayTlsError';
  }
}
