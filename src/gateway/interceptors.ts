import { type Clock, deadlineFromHeaders, parseCriticality } from '../resilience/index.js';
import { GatewayError } from './errors.js';
import type { Release } from './admission.js';
import type { Exchange, Handler, Interceptor } from './exchange.js';
import type { GatewayMetrics } from './metrics.js';

const ZERO = 48;
const NINE = 57;

/** The Host value lowercased without a trailing `:port` (as `/:\d+$/`, which leaves `[::1]` whole): no regex per request. */
export function hostWithoutPort(host: string): string {
  const colon = host.lastIndexOf(':');
  let end = host.length;
  if (colon !== -1 && colon < host.length - 1) {
    let digits = true;
    for (let index = colon + 1; index < host.length && digits; index++) {
      const code = host.charCodeAt(index);
      digits = code >= ZERO && code <= NINE;
    }
    if (digits) end = colon;
  }
  return (end === host.length ? host : host.slice(0, end)).toLowerCase();
}

/** The request-target without its query (as `split('?')[0]`): no array per request. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Matches the route and cluster; reads criticality (header, else route default) and the deadline (headers, else route timeout). */
export function routeInterceptor(clock: Clock): Interceptor {
  return (next) => (exchange) => {
    const { request } = exchange;
    const host = hostWithoutPort(request.headers.host ?? '');
    const path = pathOf(request.url ?? '/');
    const match = exchange.table.router.match({ method: request.method ?? 'GET', host, path, headers: request.headers, clientIp: exchange.clientIp });
    if (match === undefined) throw new GatewayError('KEEL_GW_NO_ROUTE', `no route for ${request.method} ${host}${path}`);
    exchange.route = match.route;
    exchange.cluster = match.cluster;
    const header = exchange.table.config.criticality.header;
    exchange.criticality = parseCriticality(request.headers[header] as string | undefined) ?? match.route.criticality;
    const fromHeaders = deadlineFromHeaders(request.headers, clock);
    const ownDeadline = exchange.startedMs + match.route.timeoutMs;
    exchange.deadlineMs = fromHeaders === undefined ? ownDeadline : Math.min(fromHeaders, ownDeadline);
    const maxBody = exchange.table.config.limits.maxRequestBodyBytes;
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > maxBody) throw new GatewayError('KEEL_GW_REQUEST_TOO_LARGE', `content-length ${length} exceeds ${maxBody}`);
    return next(exchange);
  };
}

/** Takes permits from every rate-limit rule that applies; adds the RateLimit fields to the response. */
export function rateLimitInterceptor(metrics: GatewayMetrics): Interceptor {
  return (next) => (exchange) => {
    const route = exchange.route;
    if (route === undefined) return next(exchange);
    const { request } = exchange;
    const headers = exchange.table.rateLimits.check(
      {
        method: request.method ?? 'GET', host: request.headers.host ?? '', path: request.url ?? '/', headers: request.headers, clientIp: exchange.clientIp,
        routeName: route.name, cost: route.cost, criticality: exchange.criticality,
      },
      (rule) => metrics.rateLimited.inc({ rule }),
    );
    // A promise only when a worker has to ask the primary for a lease (--workers): the common path stays synchronous.
    if (headers instanceof Promise) {
      return headers.then((granted) => {
        Object.assign(exchange.responseHeaders, granted);
        return next(exchange);
      });
    }
    Object.assign(exchange.responseHeaders, headers);
    return next(exchange);
  };
}

/** Adaptive concurrency per cluster by criticality, with a bounded CoDel queue; the permit ends when the response has been sent. */
export function admissionInterceptor(): Interceptor {
  return (next) => (exchange) => {
    const permit = exchange.table.admission.admit(exchange.cluster ?? '', exchange.criticality, exchange.deadlineMs);
    // A promise only when the request has to queue for a permit.
    return permit instanceof Promise ? permit.then((release) => admitted(next, exchange, release)) : admitted(next, exchange, permit);
  };
}

/** Runs the rest of the chain under an admission permit and releases it once that is done (synchronously, if it was). */
function admitted(next: Handler, exchange: Exchange, release: Release): void | Promise<void> {
  let done: void | Promise<void>;
  try {
    done = next(exchange);
  } catch (error) {
    release(true);
    throw error;
  }
  if (done === undefined) {
    release(droppedBy(exchange));
    return undefined;
  }
  return done.then(
    () => release(droppedBy(exchange)),
    (error: unknown) => {
      release(true);
      throw error;
    },
  );
}

/** Whether the answer says the request was dropped (timed out or refused upstream): what the limit algorithm learns from. */
function droppedBy(exchange: Exchange): boolean {
  const status = exchange.response.statusCode;
  return status === 503 || status === 429 || status === 504;
}
