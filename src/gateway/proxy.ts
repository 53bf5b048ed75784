import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { type Clock, deadlineHeaders, isIdempotent, isNeverSentError } from '../resilience/index.js';
import { recordLatency } from './balancers/index.js';
import type { Cluster } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import { GatewayError } from './errors.js';
import { type AttemptOutcome, attemptFailureError } from './attempt.js';
import type { RouteConfig } from './config.js';
import type { Exchange, Handler } from './exchange.js';
import { type HedgeEngine, raceEndpoints, type RouteHedge } from './hedging.js';
import type { AttemptResult } from './health/outlier.js';
import { RETRIES_MAX } from './limits.js';
import type { GatewayMetrics } from './metrics.js';
import { forwardedClientCert } from './tls-listener.js';
import { canCarryTrailers, requestTrailers, trailerField } from './trailers.js';
import type { UpstreamPools, UpstreamResponse } from './upstream.js';

/** Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus any the Connection header names. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

export const VIA_VALUE = '1.1 keel-gateway';

/** undici's errors for a per-try timeout. */
const UPSTREAM_TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== ''));
}

/** Whether the client's connection is TLS (a TLSSocket says so; HTTP/2's compat socket proxies the field). */
export function isEncrypted(socket: unknown): boolean {
  return (socket as { encrypted?: unknown } | null)?.encrypted === true;
}

/** The client connection of a request's socket (node:http's, or HTTP/2's compat proxy of the session's). */
export function clientConnection(socket: unknown): ClientConnection {
  return { encrypted: isEncrypted(socket), forwardedClientCert: forwardedClientCert(socket) };
}

/** Envoy's header for the client certificate's identity; a client's own is never forwarded (it would be a claimed identity). */
export const FORWARDED_CLIENT_CERT = 'x-forwarded-client-cert';

/** What the client's connection tells the upstream: TLS or not, and a verified client certificate's identity. */
export interface ClientConnection {
  readonly encrypted: boolean;
  /** The `x-forwarded-client-cert` value (only for a certificate the listener verified). */
  readonly forwardedClientCert: string | undefined;
}

/**
 * Request headers for the upstream: hop-by-hop stripped, X-Forwarded-For/-Proto
 * and Via added, the client's X-Forwarded-Client-Cert replaced by the
 * gateway's (or dropped), the deadline propagated. To an HTTP/2 upstream
 * `TE: trailers` is kept (the one TE HTTP/2 allows; gRPC servers require it).
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, clientIp: string, deadline: Record<string, string>, h2Upstream = false, client?: ClientConnection): Record<string, string | string[]> {
  const named = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are the request line, not headers, upstream.
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name.startsWith(':') || name === FORWARDED_CLIENT_CERT) continue;
    out[name] = value;
  }
  if (client?.forwardedClientCert !== undefined) out[FORWARDED_CLIENT_CERT] = client.forwardedClientCert;
  if (h2Upstream && connectionTokens(headers.te).has('trailers')) out.te = 'trailers';
  const authority = headers[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;
  const forwarded = headers['x-forwarded-for'];
  out['x-forwarded-for'] = forwarded ? `${Array.isArray(forwarded) ? forwarded.join(', ') : forwarded}, ${clientIp}` : clientIp;
  out['x-forwarded-proto'] = client?.encrypted === true ? 'https' : 'http';
  out.via = headers.via ? `${Array.isArray(headers.via) ? headers.via.join(', ') : headers.via}, ${VIA_VALUE}` : VIA_VALUE;
  return { ...out, ...deadline };
}

/** Response headers for the client: hop-by-hop stripped, Via added. */
export function downstreamResponseHeaders(headers: UpstreamResponse['headers']): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  const via = headers.via;
  out.via = via ? `${Array.isArray(via) ? via.join(', ') : via}, ${VIA_VALUE}` : VIA_VALUE;
  return out;
}

/** The request body, streamed, refused with `KEEL_GW_REQUEST_TOO_LARGE` past `maxBytes` (chunked bodies have no length to check up front). */
async function* boundedBody(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes) throw new GatewayError('KEEL_GW_REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
    yield chunk;
  }
}

function tooLarge(error: unknown): GatewayError | undefined {
  for (let cause = error, depth = 0; cause !== undefined && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    if (GatewayError.is(cause) && cause.code === 'KEEL_GW_REQUEST_TOO_LARGE') return cause;
  }
  return undefined;
}

function hasBody(request: Exchange['request']): boolean {
  // HTTP/2 frames the body itself: a request has one unless its HEADERS frame ended the stream.
  if (request.httpVersionMajor === 2) return (request as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false;
  const headers = request.headers;
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

export interface ProxyDependencies {
  readonly clock: Clock;
  readonly pools: UpstreamPools;
  readonly metrics: GatewayMetrics;
  /** Where attempt outcomes go (outlier detection of the endpoint's cluster). */
  readonly recordAttempt: (cluster: string, endpoint: Endpoint, result: AttemptResult) => void;
  /** The zone to prefer (the client's, from `keel-client-zone`, else the gateway's). */
  readonly zoneOf: (exchange: Exchange) => string;
}

/** Envoy-style circuit breakers: too many requests or too many waiting for a connection → fast 503. */
export function checkUpstreamLimits(cluster: Cluster, endpoint: Endpoint, pending: number): void {
  const limits = cluster.config.circuitBreakers;
  if (endpoint.inflight >= limits.maxRequests) {
    throw new GatewayError('KEEL_GW_UPSTREAM_OVERFLOW', `${endpoint.address}: ${endpoint.inflight} requests in flight (max ${limits.maxRequests})`);
  }
  if (pending >= limits.maxPendingRequests) {
    throw new GatewayError('KEEL_GW_UPSTREAM_OVERFLOW', `${endpoint.address}: ${pending} requests waiting for a connection (max ${limits.maxPendingRequests})`);
  }
}

/**
 * The terminal handler: picks an endpoint, forwards with a per-try timeout
 * bounded by the deadline, retries what is safe (body-less idempotent
 * requests, or any request refused before it was sent) within the route's
 * retry budget on another endpoint, and streams the response back.
 */
export function proxyHandler(deps: ProxyDependencies): Handler {
  return async (exchange) => {
    const route = exchange.route;
    const clusterName = exchange.cluster ?? '';
    const cluster = exchange.table.clusters.get(clusterName);
    if (route === undefined || cluster === undefined) throw new GatewayError('KEEL_GW_NO_ROUTE', 'no route');
    const withBody = hasBody(exchange.request);
    const hedge = exchange.table.hedges.get(route.name);
    if (hedge?.admits(exchange.request.method ?? 'GET', withBody ? declaredLength(exchange.request) : 0) === true) return hedged(deps, exchange, cluster, route, hedge, withBody);
    const budget = exchange.table.budgets.get(route.name);
    budget?.onRequest();
    const idempotent = isIdempotent({ method: exchange.request.method ?? 'GET', headers: exchange.request.headers as Record<string, string> });
    const maxAttempts = Math.min(route.retry.maxAttempts, RETRIES_MAX + 1);
    const tried = new Set<Endpoint>();
    const hashHeader = cluster.config.hashHeader;
    const hashValue = hashHeader === undefined ? exchange.clientIp : exchange.request.headers[hashHeader];
    const hashKey = Array.isArray(hashValue) ? hashValue[0] : hashValue;
    for (let attempt = 1; ; attempt++) {
      const endpoint = cluster.pick({ zone: deps.zoneOf(exchange), hashKey, exclude: tried }, deps.clock.now());
      if (endpoint === undefined) throw new GatewayError('KEEL_GW_NO_HEALTHY_UPSTREAM', `cluster ${cluster.name} has no endpoint to take the request`);
      tried.add(endpoint);
      checkUpstreamLimits(cluster, endpoint, deps.pools.pending(cluster.config.protocol, endpoint.address));
      const outcome = await attemptOnce(deps, exchange, cluster, endpoint, route.perTryTimeoutMs, withBody);
      const canRetry = attempt < maxAttempts && !exchange.response.destroyed;
      if (outcome.kind === 'response') {
        const retryable = canRetry && !withBody && idempotent && route.retry.onStatuses.includes(outcome.data.statusCode);
        if (retryable && (budget?.tryRetry() ?? true)) {
          await outcome.data.discard().catch(() => {});
          deps.metrics.retries.inc({ cluster: cluster.name });
          continue;
        }
        if (outcome.data.statusCode < 500) budget?.onSuccess();
        else budget?.onFailure();
        await respond(deps, exchange, outcome.data, cluster.name);
        return;
      }
      budget?.onFailure();
      const neverSent = isNeverSentError(outcome.error);
      const retryable = canRetry && (neverSent ? !withBody || exchange.request.readableDidRead === false : !withBody && idempotent);
      if (retryable && !outcome.timedOut && (budget?.tryRetry() ?? true)) {
        deps.metrics.retries.inc({ cluster: cluster.name });
        continue;
      }
      throw attemptFailureError(outcome.error, outcome.timedOut, endpoint);
    }
  };
}

/** A body's Content-Length when it is the framing (no Transfer-Encoding), else undefined. */
function declaredLength(request: Exchange['request']): number | undefined {
  const length = request.headers['content-length'];
  if (request.headers['transfer-encoding'] !== undefined || length === undefined || !/^\d{1,15}$/.test(length)) return undefined;
  return Number(length);
}

/** A hedged request on node:http/undici (see hedging.ts): a losing answer is cancelled by destroying its body, which aborts its upstream request. */
async function hedged(deps: ProxyDependencies, exchange: Exchange, cluster: Cluster, route: RouteConfig, hedge: RouteHedge, withBody: boolean): Promise<void> {
  const body = withBody ? await readBody(exchange.request, Math.min(hedge.config.maxBodyBytes, exchange.table.config.limits.maxRequestBodyBytes)) : undefined;
  const hashHeader = cluster.config.hashHeader;
  const hashValue = hashHeader === undefined ? exchange.clientIp : exchange.request.headers[hashHeader];
  const pick = { zone: deps.zoneOf(exchange), hashKey: Array.isArray(hashValue) ? hashValue[0] : hashValue };
  const engine: HedgeEngine<UpstreamResponse> = {
    attempt: (endpoint, signal) => {
      checkUpstreamLimits(cluster, endpoint, deps.pools.pending(cluster.config.protocol, endpoint.address));
      return attemptOnce(deps, exchange, cluster, endpoint, route.perTryTimeoutMs, withBody, { signal, body });
    },
    status: (answer) => answer.statusCode,
    cancel: (answer) => answer.body.destroy(),
  };
  const { answer } = await raceEndpoints(hedge, cluster, pick, deps.clock, engine, route.retry.onStatuses, exchange.response);
  await respond(deps, exchange, answer, cluster.name);
}

/** The whole request body, for a hedged request (its Content-Length is within `maxBytes`). */
async function readBody(request: Exchange['request'], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of boundedBody(request, maxBytes)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** What a hedged attempt carries: the race's signal (another attempt won, or the client left) and the buffered body. */
interface HedgedSend {
  readonly signal: AbortSignal;
  readonly body: Buffer | undefined;
}

function requestBody(exchange: Exchange, withBody: boolean, hedgedSend: HedgedSend | undefined): Readable | null {
  if (hedgedSend?.body !== undefined) return Readable.from([hedgedSend.body]);
  return withBody ? Readable.from(boundedBody(exchange.request, exchange.table.config.limits.maxRequestBodyBytes), { objectMode: false }) : null;
}

async function attemptOnce(
  deps: ProxyDependencies, exchange: Exchange, cluster: Cluster, endpoint: Endpoint, perTryTimeoutMs: number, withBody: boolean, hedgedSend?: HedgedSend,
): Promise<AttemptOutcome<UpstreamResponse>> {
  const nowMs = deps.clock.now();
  const remaining = exchange.deadlineMs === undefined ? Infinity : exchange.deadlineMs - nowMs;
  if (remaining <= 0) return { kind: 'error', error: new GatewayError('KEEL_GW_DEADLINE_EXCEEDED', 'the deadline passed before the request was sent'), timedOut: false };
  const deadline = deadlineHeaders({ deadlineMs: exchange.deadlineMs }, deps.clock);
  const timeoutMs = Math.max(1, Math.min(perTryTimeoutMs, remaining));
  // the per-try timeout is undici's own (time to the response head, then idle time between body chunks): no timer of ours per attempt
  const controller = new AbortController();
  const onClientGone = () => controller.abort(new Error('client closed the connection'));
  exchange.response.once('close', onClientGone);
  // a hedge that lost is aborted, not failed: outlier detection must not count it
  const race = hedgedSend?.signal;
  const onLost = () => controller.abort(race?.reason);
  race?.addEventListener('abort', onLost, { once: true });
  if (race?.aborted === true) onLost();
  endpoint.inflight++;
  try {
    const data = await deps.pools.send(endpoint.address, cluster, {
      path: exchange.request.url ?? '/',
      method: exchange.request.method ?? 'GET',
      headers: upstreamRequestHeaders(exchange.request.headers, exchange.clientIp, deadline, cluster.config.protocol === 'h2c', clientConnection(exchange.request.socket)),
      body: requestBody(exchange, withBody, hedgedSend),
      // a hedged body was read whole with a Content-Length (never chunked), so it has no trailers
      trailers: withBody && hedgedSend?.body === undefined ? requestTrailers(exchange.request) : undefined,
      signal: controller.signal,
      timeoutMs,
    });
    // from here the race cancels this answer through its body (see hedged), never the signal: that would cut a winner's body
    race?.removeEventListener('abort', onLost);
    recordLatency(endpoint, deps.clock.now() - nowMs, deps.clock.now());
    deps.recordAttempt(cluster.name, endpoint, { kind: 'status', status: data.statusCode });
    // in-flight ends when the body has been streamed (see respond), so draining waits for it
    const bodyClosed = () => {
      endpoint.inflight--;
      exchange.response.off('close', onClientGone);
    };
    // a hedge that lost in the meantime may have had its body destroyed already
    if (data.body.closed) bodyClosed();
    else data.body.once('close', bodyClosed);
    return { kind: 'response', data };
  } catch (error) {
    endpoint.inflight--;
    exchange.response.off('close', onClientGone);
    race?.removeEventListener('abort', onLost);
    if (race?.aborted === true) return { kind: 'error', error: race.reason, timedOut: false };
    const timedOut = UPSTREAM_TIMEOUT_CODES.has((error as { code?: string }).code ?? '');
    const clientFault = tooLarge(error) ?? tooLarge(controller.signal.reason);
    if (clientFault) return { kind: 'error', error: clientFault, timedOut: false };
    if (!exchange.response.destroyed) deps.recordAttempt(cluster.name, endpoint, { kind: 'error' });
    return { kind: 'error', error, timedOut };
  }
}

/**
 * gRPC's Trailers-Only answer (status and metadata in one HEADERS frame that
 * ends the stream) relayed through node:http2's response API, which always
 * sends a body: the head keeps what describes the response, the rest
 * (grpc-status, grpc-message, trailing metadata) goes out as trailers, a
 * shape every gRPC client reads the same way.
 */
function splitTrailersOnly(headers: OutgoingHttpHeaders): { head: OutgoingHttpHeaders; trailers: OutgoingHttpHeaders } {
  const head: Record<string, OutgoingHttpHeaders[string]> = {};
  const trailers: Record<string, OutgoingHttpHeaders[string]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const target = name === 'content-type' || name === 'via' || name === 'date' || name === 'content-length' ? head : trailers;
    target[name] = value;
  }
  return { head, trailers };
}

function isGrpc(headers: UpstreamResponse['headers']): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** Streams an upstream's answer to the client: head (hop-by-hop stripped, the gateway's fields added), body, trailers where the client can take them. */
export async function respond(deps: ProxyDependencies, exchange: Exchange, data: UpstreamResponse, cluster: string): Promise<void> {
  const { response } = exchange;
  const http2 = exchange.request.httpVersionMajor === 2;
  const all = { ...downstreamResponseHeaders(data.headers), ...exchange.responseHeaders };
  const { head: headers, trailers: early } = http2 && data.trailersOnly && isGrpc(data.headers) ? splitTrailersOnly(all) : { head: all, trailers: {} };
  // HTTP/2 clients always can take trailers; HTTP/1.1 ones when the response goes out chunked (see trailers.ts).
  const trailing = http2 || canCarryTrailers(exchange.request, data.statusCode, headers);
  const declared = trailerField(data.headers);
  if (!http2 && trailing && declared !== undefined) headers.trailer = declared;
  response.writeHead(data.statusCode, headers);
  deps.metrics.observeDuration(exchange.route?.name ?? 'none', cluster, (deps.clock.now() - exchange.startedMs) / 1000);
  // .pipe rather than stream/promises' pipeline: the latter aborts an AbortController (and builds a DOMException) on every
  // finish, a sixth of the gateway's CPU per request in bench/gateway-overhead
  await new Promise<void>((resolve) => {
    const body = data.body;
    const done = () => {
      if (!body.destroyed) body.destroy();
      resolve();
    };
    body.once('error', () => {
      // the upstream cut the body: the client's connection is closed, nothing more to say
      response.destroy();
      done();
    });
    response.once('close', done);
    response.once('finish', done);
    if (!trailing) {
      body.pipe(response);
      return;
    }
    // The client gets the upstream's trailers (gRPC's grpc-status travels there); undici has them once the body ended.
    body.pipe(response, { end: false });
    body.once('end', () => {
      void data.trailers().then((late) => {
        const trailers = { ...early, ...(late as OutgoingHttpHeaders) };
        if (Object.keys(trailers).length > 0) response.addTrailers(trailers);
        response.end();
      });
    });
  });
}
