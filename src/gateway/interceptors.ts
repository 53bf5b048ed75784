import { type Clock, deadlineFromHeaders, parseCriticality } from '../resilience/index.js';
import { GatewayError } from './errors.js';
import type { Interceptor } from './exchange.js';
import type { GatewayMetrics } from './metrics.js';

/** Matches the route and cluster; reads criticality (header, else route default) and the deadline (headers, else route timeout). */
export function routeInterceptor(clock: Clock): Interceptor {
  return (next) => async (exchange) => {
    const { request } = exchange;
    const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const path = (request.url ?? '/').split('?')[0] ?? '/';
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
    await next(exchange);
  };
}

/** Takes permits from every rate-limit rule that applies; adds the RateLimit fields to the response. */
export function rateLimitInterceptor(metrics: GatewayMetrics): Interceptor {
  return (next) => async (exchange) => {
    const route = exchange.route;
    if (route !== undefined) {
      const headers = exchange.table.rateLimits.check(
        { ...requestFacts(exchange), routeName: route.name, cost: route.cost, criticality: exchange.criticality },
        (rule) => metrics.rateLimited.inc({ rule }),
      );
      // A promise only when a worker has to ask the primary for a lease (--workers): the common path stays synchronous.
      Object.assign(exchange.responseHeaders, headers instanceof Promise ? await headers : headers);
    }
    await next(exchange);
  };
}

function requestFacts(exchange: Parameters<ReturnType<Interceptor>>[0]) {
  const { request } = exchange;
  return { method: request.method ?? 'GET', host: request.headers.host ?? '', path: request.url ?? '/', headers: request.headers, clientIp: exchange.clientIp };
}

/** Adaptive concurrency per cluster by criticality, with a bounded CoDel queue; the permit ends when the response has been sent. */
export function admissionInterceptor(): Interceptor {
  return (next) => async (exchange) => {
    const release = await exchange.table.admission.admit(exchange.cluster ?? '', exchange.criticality, exchange.deadlineMs);
    let dropped = true;
    try {
      await next(exchange);
      dropped = exchange.response.statusCode === 503 || exchange.response.statusCode === 429 || exchange.response.statusCode === 504;
    } finally {
      release(dropped);
    }
  };
}
