import assert from 'node:assert/strict';
import { deadlineHeadersAt, isIdempotent, isNeverSentError } from '../../resilience/index.js';
import { recordLatency } from '../balancers/index.js';
import type { Cluster } from '../cluster.js';
import type { Endpoint } from '../endpoint.js';
import { GatewayError } from '../errors.js';
import type { RouteConfig } from '../config.js';
import type { Exchange, Handler } from '../exchange.js';
import { type HedgeEngine, raceEndpoints, type RouteHedge } from '../hedging.js';
import { HEAD_HEADERS_MAX, HEADER_BYTES_MAX, RETRIES_MAX } from '../limits.js';
import { type AttemptOutcome, attemptFailureError } from '../attempt.js';
import { checkUpstreamLimits, FORWARDED_CLIENT_CERT, isEncrypted, type ProxyDependencies, VIA_VALUE } from '../proxy.js';
import { forwardedClientCert } from '../tls-listener.js';
import { type BodyFraming, framingFor } from './body-framing.js';
import type { FastConnection, FastRequest, FastResponse } from './connection.js';
import { findHeadEnd, type ParsedHead, parseResponseHead } from './head-parser.js';
import type { FastUpstreamPools } from './upstream-pool.js';
import type { UpstreamConnection, UpstreamHolder } from './upstream-connection.js';

/**
 * The fast path's terminal handler: the same decisions as `proxyHandler`
 * (endpoint pick, upstream limits, retry rules and budget, outlier and
 * latency bookkeeping), but the request head is forwarded as the client's
 * bytes with a few lines dropped and appended, not rebuilt; bodies are
 * relayed by their framing; the upstream response head is parsed only to
 * frame its body and keep the connection.
 */

const EMPTY = Buffer.alloc(0);
const NO_DEADLINE: Readonly<Record<string, string>> = Object.freeze({});
const CR = 13;
const LF = 10;

/**
 * Request fields never forwarded (hop-by-hop, RFC 9110 §7.6.1) or replaced by the gateway's own (a client's
 * x-forwarded-client-cert would be a claimed identity). Transfer-Encoding and Trailer stay: the body is relayed
 * chunked as it came, trailer fields included.
 */
const REQUEST_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'proxy-authenticate', 'proxy-authorization',
  'x-forwarded-for', 'x-forwarded-proto', 'via', 'keel-deadline', 'grpc-timeout', FORWARDED_CLIENT_CERT]);
const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'via']);

/** Transparent re-sends of a body-less request whose reused connection turned out closed (the keep-alive race), per attempt. */
const STALE_CONNECTION_RETRIES_MAX = 2;

export interface FastProxyDependencies extends ProxyDependencies {
  readonly fastPools: FastUpstreamPools;
}

interface UpstreamHead {
  readonly head: ParsedHead;
  /** Parked (bytes past `leftover` wait in it) until the relay holds it. */
  readonly connection: UpstreamConnection;
  readonly leftover: Buffer | undefined;
  /** The attempt's inactivity timeout, which the relay keeps. */
  readonly timeoutMs: number;
  /** When the head arrived (the clock read for the endpoint's latency, reused for the request's duration). */
  readonly receivedMs: number;
}

/** Per field line of the head being spliced: whether it is kept (reused: spliceHead is synchronous). */
const keptScratch = new Uint8Array(HEAD_HEADERS_MAX);

/**
 * The head bytes minus `dropped` fields and the fields `named` (by line, copied as runs), plus `extra` lines (latin1,
 * each ending in CRLF), then `tail` (body bytes already in hand): measured first, then written into one buffer, so a
 * splice makes one allocation, not a slice per run, a buffer for `extra` and a concatenation.
 */
export function spliceHead(head: ParsedHead, dropped: ReadonlySet<string>, named: readonly string[], extra: string, firstLine?: string, tail?: Buffer): Buffer {
  const { bytes, names, starts } = head;
  let length = (firstLine === undefined ? head.firstLineEnd : firstLine.length) + extra.length + 2 + (tail === undefined ? 0 : tail.length);
  for (let index = 0; index < names.length; index++) {
    const name = names[index]!;
    const keep = !dropped.has(name) && !named.includes(name);
    keptScratch[index] = keep ? 1 : 0;
    if (keep) length += starts[index + 1]! - starts[index]!;
  }
  const spliced = Buffer.allocUnsafe(length);
  let at = firstLine === undefined ? bytes.copy(spliced, 0, 0, head.firstLineEnd) : spliced.write(firstLine, 0, 'latin1');
  let runStart = -1;
  for (let index = 0; index < names.length; index++) {
    if (keptScratch[index] === 1) {
      if (runStart === -1) runStart = starts[index]!;
    } else if (runStart !== -1) {
      at += bytes.copy(spliced, at, runStart, starts[index]!);
      runStart = -1;
    }
  }
  if (runStart !== -1) at += bytes.copy(spliced, at, runStart, starts[names.length]!);
  at += spliced.write(extra, at, 'latin1');
  spliced[at++] = CR;
  spliced[at++] = LF;
  if (tail !== undefined) at += tail.copy(spliced, at);
  assert.equal(at, length, 'a spliced head fills the length measured for it');
  return spliced;
}

function requestHead(request: FastRequest, clientIp: string, deadline: Record<string, string>): Buffer {
  const headers = request.headers;
  let extra = `x-forwarded-for: ${headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${clientIp}` : clientIp}\r\nx-forwarded-proto: ${isEncrypted(request.socket) ? 'https' : 'http'}\r\nvia: ${headers.via ? `${headers.via}, ${VIA_VALUE}` : VIA_VALUE}\r\n`;
  const clientCert = forwardedClientCert(request.socket);
  if (clientCert !== undefined) extra += `${FORWARDED_CLIENT_CERT}: ${clientCert}\r\n`;
  for (const name in deadline) extra += `${name}: ${deadline[name]}\r\n`;
  return spliceHead(request.head, REQUEST_DROPPED, request.head.connectionTokens, extra);
}

export function fastProxyHandler(deps: FastProxyDependencies): Handler {
  return (exchange) => {
    const request = exchange.request as unknown as FastRequest;
    const response = exchange.response as unknown as FastResponse;
    const route = exchange.route;
    const cluster = exchange.table.clusters.get(exchange.cluster ?? '');
    if (route === undefined || cluster === undefined) throw new GatewayError('KEEL_GW_NO_ROUTE', 'no route');
    const hedge = exchange.table.hedges.get(route.name);
    if (hedge?.admits(request.method, typeof request.head.framing === 'number' ? request.head.framing : undefined) === true) {
      return hedged(deps, exchange, request, response, cluster, route, hedge);
    }
    // The request's one promise: attempts and the relay report through callbacks, not a promise (and an await) each.
    return new Promise((resolve, reject) => forward(deps, exchange, request, response, cluster, route, resolve, reject));
  };
}

/**
 * Attempts the request until one answer is relayed (`done`) or no retry is
 * left (`failed`, with the client's error): one endpoint per attempt, not
 * tried before, within the route's attempts and retry budget.
 */
function forward(deps: FastProxyDependencies, exchange: Exchange, request: FastRequest, response: FastResponse, cluster: Cluster, route: RouteConfig, done: () => void, failed: (error: unknown) => void): void {
  const budget = exchange.table.budgets.get(route.name);
  budget?.onRequest();
  const withBody = request.hasBody;
  const idempotent = isIdempotent({ method: request.method, headers: request.headers });
  const maxAttempts = Math.min(route.retry.maxAttempts, RETRIES_MAX + 1);
  const tried = new Set<Endpoint>();
  const hashHeader = cluster.config.hashHeader;
  const hashKey = hashHeader === undefined ? exchange.clientIp : request.headers[hashHeader];
  let attempt = 0;
  const next = (): void => {
    attempt++;
    // One clock read for the pick and the attempt's deadline, in the same synchronous step.
    const nowMs = deps.clock.now();
    const endpoint = cluster.pick({ zone: deps.zoneOf(exchange), hashKey, exclude: tried }, nowMs);
    if (endpoint === undefined) throw new GatewayError('KEEL_GW_NO_HEALTHY_UPSTREAM', `cluster ${cluster.name} has no endpoint to take the request`);
    tried.add(endpoint);
    checkUpstreamLimits(cluster, endpoint, deps.fastPools.pending(cluster.poolAddress(endpoint.address)));
    attemptOnce(deps, exchange, request, cluster, endpoint, route.perTryTimeoutMs, nowMs, (outcome) => guarded(() => settle(outcome, endpoint)));
  };
  const settle = (outcome: AttemptOutcome<UpstreamHead>, endpoint: Endpoint): void => {
    const canRetry = attempt < maxAttempts && !response.destroyed;
    if (outcome.kind === 'response') {
      const status = outcome.data.head.status;
      const retryable = canRetry && !withBody && idempotent && route.retry.onStatuses.includes(status);
      if (retryable && (budget?.tryRetry() ?? true)) {
        // its body is not read: the connection cannot be reused
        endpoint.inflight--;
        deps.fastPools.release(cluster.poolAddress(endpoint.address), outcome.data.connection, false);
        deps.metrics.retries.inc({ cluster: cluster.name });
        return next();
      }
      if (status < 500) budget?.onSuccess();
      else budget?.onFailure();
      return respond(deps, exchange, response, outcome.data, cluster.name, endpoint, cluster.poolAddress(endpoint.address), done);
    }
    budget?.onFailure();
    const neverSent = isNeverSentError(outcome.error);
    const retryable = canRetry && (neverSent ? !withBody || !request.readableDidRead : !withBody && idempotent);
    if (retryable && !outcome.timedOut && (budget?.tryRetry() ?? true)) {
      deps.metrics.retries.inc({ cluster: cluster.name });
      return next();
    }
    failed(attemptFailureError(outcome.error, outcome.timedOut, endpoint));
  };
  // A refusal (no endpoint, a limit) thrown while picking fails the request, as a throw in an async function would.
  const guarded = (step: () => void): void => {
    try {
      step();
    } catch (error) {
      failed(error);
    }
  };
  guarded(next);
}

/**
 * A hedged request (see hedging.ts): the body, if any, is read whole first
 * (it fits `maxBodyBytes`) so every attempt can send it; attempts race on
 * their own upstream connections; the winner's response is relayed as any other.
 */
async function hedged(deps: FastProxyDependencies, exchange: Exchange, request: FastRequest, response: FastResponse, cluster: Cluster, route: RouteConfig, hedge: RouteHedge): Promise<void> {
  const body = request.hasBody ? await readBody(request, Math.min(hedge.config.maxBodyBytes, exchange.table.config.limits.maxRequestBodyBytes)) : undefined;
  const hashHeader = cluster.config.hashHeader;
  const pick = { zone: deps.zoneOf(exchange), hashKey: hashHeader === undefined ? exchange.clientIp : request.headers[hashHeader] };
  const engine: HedgeEngine<UpstreamHead> = {
    attempt: (endpoint, signal) => {
      checkUpstreamLimits(cluster, endpoint, deps.fastPools.pending(cluster.poolAddress(endpoint.address)));
      return new Promise((resolve) => attemptOnce(deps, exchange, request, cluster, endpoint, route.perTryTimeoutMs, deps.clock.now(), resolve, { signal, body }));
    },
    status: (answer) => answer.head.status,
    cancel: (answer, endpoint) => {
      endpoint.inflight--;
      deps.fastPools.release(cluster.poolAddress(endpoint.address), answer.connection, false);
    },
  };
  const { answer, endpoint } = await raceEndpoints(hedge, cluster, pick, deps.clock, engine, route.retry.onStatuses, request.socket);
  await new Promise<void>((resolve) => respond(deps, exchange, response, answer, cluster.name, endpoint, cluster.poolAddress(endpoint.address), resolve));
}

/** The whole request body, for a hedged request (bounded by its Content-Length, itself within `maxBytes`). */
function readBody(request: FastRequest, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.pipeBody({
      write: (bytes) => {
        chunks.push(Buffer.from(bytes));
        return true;
      },
      end: () => resolve(Buffer.concat(chunks)),
      fail: reject,
    }, maxBytes);
  });
}

function connectionOf(request: FastRequest): FastConnection {
  return request.connection;
}

/**
 * What a hedged attempt carries: the race's signal (aborted when another attempt won or the client left; it replaces
 * the connection's single close hook, which concurrent attempts would share) and the buffered body.
 */
interface HedgedSend {
  readonly signal: AbortSignal;
  readonly body: Buffer | undefined;
}

/**
 * One attempt at `endpoint`, starting at `nowMs` (the caller's clock read): `resolve` gets its outcome once, the
 * response head (its connection parked) or the error.
 */
function attemptOnce(
  deps: FastProxyDependencies, exchange: Exchange, request: FastRequest, cluster: Cluster, endpoint: Endpoint, perTryTimeoutMs: number, nowMs: number,
  resolve: (outcome: AttemptOutcome<UpstreamHead>) => void, hedgedSend?: HedgedSend,
): void {
  const deadlineMs = exchange.deadlineMs;
  const remaining = deadlineMs === undefined ? Infinity : deadlineMs - nowMs;
  if (remaining <= 0) return resolve({ kind: 'error', error: new GatewayError('KEEL_GW_DEADLINE_EXCEEDED', 'the deadline passed before the request was sent'), timedOut: false });
  const head = requestHead(request, exchange.clientIp, deadlineMs === undefined ? NO_DEADLINE : deadlineHeadersAt(deadlineMs, nowMs));
  const timeoutMs = Math.max(1, Math.min(perTryTimeoutMs, remaining));
  const connection = connectionOf(request);
  const address = cluster.poolAddress(endpoint.address);
  let settled = false;
  let upstream: UpstreamConnection | undefined;
  let staleRetries = 0;
  endpoint.inflight++;
  const signal = hedgedSend?.signal;
  const onAbort = (): void => fail(signal?.reason, false, true);
  const unhook = (): void => {
    if (signal === undefined) connection.onClose(undefined);
    else signal.removeEventListener('abort', onAbort);
  };
  // cancelled: a hedge that lost (or whose client left) did not fail; outlier detection must not count it
  const fail = (error: unknown, timedOut: boolean, cancelled = false): void => {
    if (settled) return;
    settled = true;
    endpoint.inflight--;
    unhook();
    if (upstream !== undefined) deps.fastPools.release(address, upstream, false);
    if (!cancelled && !(GatewayError.is(error) && error.code === 'KEEL_GW_REQUEST_TOO_LARGE') && !connection.socket.destroyed) {
      deps.recordAttempt(cluster.name, endpoint, { kind: 'error' });
    }
    resolve({ kind: 'error', error, timedOut });
  };
  if (signal === undefined) connection.onClose(() => fail(new Error('client closed the connection'), false));
  else if (signal.aborted) return onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const buffered = hedgedSend?.body;
  const send = (error: Error | undefined, pooled: UpstreamConnection | undefined, reused: boolean): void => {
    if (error !== undefined || pooled === undefined) return fail(error, false);
    if (settled) return deps.fastPools.release(address, pooled, true);
    upstream = pooled;
    const socket = pooled.socket;
    let received: Buffer | undefined;
    const holder: UpstreamHolder = {
      onData: (chunk) => {
        received = received === undefined ? chunk : Buffer.concat([received, chunk]);
        let parsed: ParsedHead;
        let end: number;
        try {
          end = findHeadEnd(received, 0, HEADER_BYTES_MAX);
          if (end === -1) return;
          parsed = parseResponseHead(received.subarray(0, end), request.method);
        } catch (parseError) {
          return fail(new Error(`malformed response: ${(parseError as Error).message}`), false);
        }
        if (parsed.status < 200) {
          // 1xx interim answers (103 Early Hints): dropped, the final one follows
          received = end < received.length ? received.subarray(end) : undefined;
          if (received !== undefined) holder.onData(EMPTY);
          return;
        }
        // Bytes past this head wait in the socket until the relay (respond) holds the connection.
        pooled.park();
        settled = true;
        unhook();
        const nowAfter = deps.clock.now();
        recordLatency(endpoint, nowAfter - nowMs, nowAfter);
        deps.recordAttempt(cluster.name, endpoint, { kind: 'status', status: parsed.status });
        resolve({ kind: 'response', data: { head: parsed, connection: pooled, leftover: end < received.length ? received.subarray(end) : undefined, timeoutMs, receivedMs: nowAfter } });
      },
      onClose: () => {
        // A reused connection the upstream closed while idle: resend a body-less request on another one.
        if (reused && received === undefined && (buffered !== undefined || !request.readableDidRead) && staleRetries < STALE_CONNECTION_RETRIES_MAX && !settled) {
          staleRetries++;
          upstream = undefined;
          deps.fastPools.acquire(address, cluster.config.circuitBreakers.maxConnections, send, cluster.upstreamTls);
          return;
        }
        fail(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' }), false);
      },
      onTimeout: () => fail(Object.assign(new Error('per-try timeout'), { code: 'ETIMEDOUT' }), true),
    };
    pooled.hold(holder, timeoutMs);
    if (!request.hasBody) {
      socket.write(head);
      return;
    }
    if (buffered !== undefined) {
      socket.write(Buffer.concat([head, buffered]));
      return;
    }
    socket.cork();
    socket.write(head);
    request.pipeBody({
      write: (bytes) => {
        pooled.touch();
        const more = socket.write(bytes);
        if (!more) socket.once('drain', () => connection.resumeBody());
        return more;
      },
      end: () => socket.uncork(),
      fail: (bodyError) => fail(bodyError, false),
    }, exchange.table.config.limits.maxRequestBodyBytes);
    process.nextTick(() => socket.uncork());
  };
  deps.fastPools.acquire(address, cluster.config.circuitBreakers.maxConnections, send, cluster.upstreamTls);
}

/** The response head for the client: the upstream's lines minus hop-by-hop ones, plus Via, the gateway's fields and Connection; then `tail`. */
function responseHead(head: ParsedHead, extraHeaders: Record<string, string>, close: boolean, tail?: Buffer): Buffer {
  let extra = `via: ${head.headers.via ? `${head.headers.via}, ${VIA_VALUE}` : VIA_VALUE}\r\n`;
  for (const name in extraHeaders) extra += `${name}: ${extraHeaders[name]}\r\n`;
  if (close) extra += 'connection: close\r\n';
  const firstLine = head.minorVersion === 1 ? undefined : `HTTP/1.1${head.bytes.toString('latin1', 8, head.firstLineEnd)}`;
  return spliceHead(head, RESPONSE_DROPPED, head.connectionTokens, extra, firstLine, tail);
}

/** Relays the answer's head and body to the client; `resolve` runs once it is done (or cut). */
function respond(deps: FastProxyDependencies, exchange: Exchange, response: FastResponse, data: UpstreamHead, cluster: string, endpoint: Endpoint, pooledAs: string, resolve: () => void): void {
  const { head, connection: pooled } = data;
  const upstream = pooled.socket;
  const request = exchange.request as unknown as FastRequest;
  const client = request.socket;
  const connection = connectionOf(request);
  const framing: BodyFraming = framingFor(head.framing);
  if (head.framing === 'close') response.closeConnectionAfter();
  response.statusCode = head.status;
  // Time to the response head: when it arrived (read once for the endpoint's latency too), not when it is relayed.
  deps.metrics.observeDuration(exchange.route?.name ?? 'none', cluster, (data.receivedMs - exchange.startedMs) / 1000);
  let ended = false;
  const end = (reusable: boolean, ok: boolean): void => {
    if (ended) return;
    ended = true;
    connection.onClose(undefined);
    endpoint.inflight--;
    deps.fastPools.release(pooledAs, pooled, reusable);
    if (!ok) {
      response.destroy();
      resolve();
      return;
    }
    // Done means handed to the kernel (as node's 'finish'): a drain that closes the connection next must not cut it.
    if (client.writableCorked > 0) client.uncork();
    if (client.writableLength === 0 || client.destroyed) {
      response.finish();
      resolve();
      return;
    }
    let flushedOnce = false;
    const flushed = (): void => {
      if (flushedOnce) return;
      flushedOnce = true;
      client.off('drain', flushed);
      client.off('close', flushed);
      response.finish();
      resolve();
    };
    client.once('close', flushed);
    // 'drain' comes only after a write said "wait" (a full buffer). A TLS socket
    // holds bytes while it encrypts even when no write did: an empty write's
    // callback runs once everything before it is handed on.
    if (client.writableNeedDrain) client.once('drain', flushed);
    else client.write(EMPTY, () => flushed());
  };
  const relay = (chunk: Buffer): void => {
    let taken: number;
    try {
      taken = framing.consume(chunk, 0);
    } catch {
      return end(false, false);
    }
    if (taken > 0 && !client.write(taken === chunk.length ? chunk : chunk.subarray(0, taken))) {
      upstream.pause();
      client.once('drain', () => upstream.resume());
    }
    // bytes past the body: the upstream is out of step, its connection is not reused
    if (framing.done) end(!head.close && taken === chunk.length, true);
  };
  // The upstream's inactivity timeout carries on from the attempt (as the socket's own timeout did).
  pooled.hold({ onData: relay, onClose: () => end(false, head.framing === 'close'), onTimeout: () => end(false, false) }, data.timeoutMs);
  connection.onClose(() => end(false, false));
  const leftover = data.leftover;
  if (leftover !== undefined && head.framing !== 'chunked' && head.framing !== 'close' && leftover.length <= head.framing) {
    // The usual small answer: head and the whole body in hand, one buffer, one write (no writev, no cork).
    framing.consume(leftover, 0);
    response.writeRaw(responseHead(head, exchange.responseHeaders, response.closeAfter, leftover));
    if (framing.done) end(!head.close, true);
  } else {
    client.cork();
    response.writeRaw(responseHead(head, exchange.responseHeaders, response.closeAfter));
    if (leftover !== undefined) relay(leftover);
    else if (framing.done) end(!head.close, true);
    if (!ended) process.nextTick(() => client.writableCorked > 0 && client.uncork());
  }
  if (upstream.isPaused() && !ended) upstream.resume();
}
