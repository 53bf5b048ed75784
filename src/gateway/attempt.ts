import type { Endpoint } from './endpoint.js';
import { GatewayError } from './errors.js';

/** How one upstream attempt ended, on either engine: a response head (`T`, its body not yet read) or an error. */
export type AttemptOutcome<T> =
  | { readonly kind: 'response'; readonly data: T }
  | { readonly kind: 'error'; readonly error: unknown; readonly timedOut: boolean };

/** The error a client is answered with when the last attempt failed: the gateway's own, else a timeout, else unavailable. */
export function attemptFailureError(error: unknown, timedOut: boolean, endpoint: Endpoint): GatewayError {
  if (GatewayError.is(error)) return error;
  return timedOut
    ? new GatewayError('KEEL_GW_UPSTREAM_TIMEOUT', `${endpoint.address} did not answer in time`)
    : new GatewayError('KEEL_GW_UPSTREAM_UNAVAILABLE', `${endpoint.address}: ${(error as Error).message}`);
}
