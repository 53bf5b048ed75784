import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Criticality } from '../resilience/index.js';
import type { RouteConfig } from './config.js';
import type { RoutingTable } from './table.js';

/**
 * One request on its way through the interceptor chain. `table` is the
 * routing table captured when the request arrived: a reload swaps the
 * gateway's table, and this request finishes on the one it started with.
 */
export interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly table: RoutingTable;
  readonly clientIp: string;
  readonly startedMs: number;
  criticality: Criticality;
  route: RouteConfig | undefined;
  cluster: string | undefined;
  /** Absolute deadline on the gateway's clock. */
  deadlineMs: number | undefined;
  /** Headers every response to this request carries (e.g. RateLimit fields). */
  readonly responseHeaders: Record<string, string>;
}

/**
 * A step of the chain; throws `GatewayError` (or rejects with one) to refuse.
 * It returns a promise only when it has to wait (an upstream, a queued
 * admission, a rate-limit lease): a step that need not wait runs and calls
 * `next` synchronously and returns what `next` returned, so a request pays
 * for promises only from the first step that waits (await works on either).
 */
export type Handler = (exchange: Exchange) => void | Promise<void>;

/** Wraps the rest of the chain (undici's `dispatch => (opts, handler) => ...` shape). */
export type Interceptor = (next: Handler) => Handler;

/** `compose(a, b, c)(terminal)`: a runs first. */
export function compose(...interceptors: readonly Interceptor[]): (terminal: Handler) => Handler {
  return (terminal) => interceptors.reduceRight<Handler>((next, interceptor) => interceptor(next), terminal);
}
