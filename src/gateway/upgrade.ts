import { type ClientRequest, type IncomingMessage, request as httpRequest, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { isNeverSentError } from '../resilience/index.js';
import { hostAndPort } from './address.js';
import { recordLatency } from './balancers/index.js';
import type { Cluster } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import { GatewayError } from './errors.js';
import type { Exchange, Handler } from './exchange.js';
import { RETRIES_MAX } from './limits.js';
import { checkUpstreamLimits, clientConnection, downstreamResponseHeaders, type ProxyDependencies, respond, upstreamRequestHeaders } from './proxy.js';
import { fromIncomingMessage } from './upstream.js';
import type { UpgradeTunnels } from './tunnels.js';

/**
 * HTTP/1.1 Upgrade pass-through (WebSocket handshakes, RFC 6455 §4; any
 * `Connection: Upgrade`). node:http hands the request over with its socket
 * (the fast path gives Upgrade heads to node:http); it runs through the
 * same interceptors as any request (route, rate limits, admission) and this
 * terminal handler forwards it, Upgrade and Connection kept, to an endpoint
 * picked as usual. On the upstream's 101 the two sockets are spliced
 * (tunnels.ts); any other answer is relayed as a normal response, after
 * which the client's connection closes (node:http has let go of it). An
 * Upgrade to an h2c cluster is answered as a plain request, the Upgrade
 * ignored (RFC 9110 §7.8 lets a server do so). The handshake is the
 * request: its admission permit ends when the 101 is relayed, while the
 * endpoint counts the tunnel as in flight until it closes (least-request
 * and `maxRequests` see long-lived connections, as Envoy's do).
 */

export interface UpgradeDependencies extends ProxyDependencies {
  readonly tunnels: UpgradeTunnels;
  /** The handler for an Upgrade that is answered as a plain request. */
  readonly plain: Handler;
}

/** Bytes the client sent after its head (a first WebSocket frame), by request, until the tunnel takes them. */
const earlyBytes = new WeakMap<IncomingMessage, Buffer>();

/**
 * The response object for an upgrade request's refusals and non-101
 * answers: node:http no longer serves the socket, so the response is bound
 * to it here, announces `connection: close` and closes the socket when sent.
 */
export function upgradeResponse(request: IncomingMessage, socket: Socket, head: Buffer): ServerResponse {
  earlyBytes.set(request, head);
  const response = new ServerResponse(request);
  response.shouldKeepAlive = false;
  response.assignSocket(socket);
  response.once('finish', () => socket.destroySoon());
  return response;
}

type Handshake =
  | { readonly kind: 'switched'; readonly answer: IncomingMessage; readonly socket: Socket; readonly head: Buffer }
  | { readonly kind: 'answered'; readonly answer: IncomingMessage }
  | { readonly kind: 'error'; readonly error: unknown; readonly timedOut: boolean };

export function upgradeHandler(deps: UpgradeDependencies): Handler {
  return async (exchange) => {
    const route = exchange.route;
    const cluster = exchange.table.clusters.get(exchange.cluster ?? '');
    if (route === undefined || cluster === undefined) throw new GatewayError('KEEL_GW_NO_ROUTE', 'no route');
    if (cluster.config.protocol === 'h2c') return deps.plain(exchange);
    const headers = exchange.request.headers;
    if (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')) {
      throw new GatewayError('KEEL_GW_BAD_REQUEST', 'an Upgrade request with a body is not relayed');
    }
    const budget = exchange.table.budgets.get(route.name);
    budget?.onRequest();
    const maxAttempts = Math.min(route.retry.maxAttempts, RETRIES_MAX + 1);
    const tried = new Set<Endpoint>();
    for (let attempt = 1; ; attempt++) {
      const endpoint = cluster.pick({ zone: deps.zoneOf(exchange), hashKey: exchange.clientIp, exclude: tried }, deps.clock.now());
      if (endpoint === undefined) throw new GatewayError('KEEL_GW_NO_HEALTHY_UPSTREAM', `cluster ${cluster.name} has no endpoint to take the request`);
      tried.add(endpoint);
      checkUpstreamLimits(cluster, endpoint, 0);
      const outcome = await handshake(deps, exchange, cluster, endpoint, route.perTryTimeoutMs);
      if (outcome.kind === 'switched') {
        budget?.onSuccess();
        return splice(deps, exchange, outcome, endpoint);
      }
      if (outcome.kind === 'answered') {
        if ((outcome.answer.statusCode ?? 502) < 500) budget?.onSuccess();
        else budget?.onFailure();
        return relay(deps, exchange, outcome.answer, endpoint, cluster.name);
      }
      budget?.onFailure();
      // Only a connection that never carried the handshake is retried: the client cannot tell, and nothing was switched.
      if (attempt < maxAttempts && isNeverSentError(outcome.error) && !exchange.response.destroyed && (budget?.tryRetry() ?? true)) {
        deps.metrics.retries.inc({ cluster: cluster.name });
        continue;
      }
      throw outcome.timedOut
        ? new GatewayError('KEEL_GW_UPSTREAM_TIMEOUT', `${endpoint.address} did not answer the upgrade in time`)
        : new GatewayError('KEEL_GW_UPSTREAM_UNAVAILABLE', `${endpoint.address}: ${(outcome.error as Error).message}`);
    }
  };
}

/** Sends the request head upstream (its own connection, never pooled) and waits for the answer's head. */
function handshake(deps: UpgradeDependencies, exchange: Exchange, cluster: Cluster, endpoint: Endpoint, perTryTimeoutMs: number): Promise<Handshake> {
  const { request, response } = exchange;
  const startedMs = deps.clock.now();
  const timeoutMs = Math.max(1, Math.min(perTryTimeoutMs, (exchange.deadlineMs ?? Infinity) - startedMs));
  // The deadline bounds the handshake, not the connection after it: it is not passed on.
  const headers = { ...upstreamRequestHeaders(request.headers, exchange.clientIp, {}, false, clientConnection(request.socket)), connection: 'Upgrade', upgrade: request.headers.upgrade ?? '' };
  const tls = cluster.upstreamTls;
  const target = { ...hostAndPort(endpoint.address), method: request.method ?? 'GET', path: request.url ?? '/', headers, agent: false as const };
  endpoint.inflight++;
  return new Promise((resolve) => {
    let settled = false;
    let timedOut = false;
    const upstream: ClientRequest = tls === undefined ? httpRequest(target) : httpsRequest({ ...target, ...tls.options });
    const timer = deps.clock.setTimeout(() => {
      timedOut = true;
      upstream.destroy(Object.assign(new Error('upgrade handshake timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    const onClientGone = (): void => void upstream.destroy(new Error('client closed the connection'));
    response.once('close', onClientGone);
    const settle = (outcome: Handshake): void => {
      if (settled) return;
      settled = true;
      deps.clock.clearTimeout(timer);
      response.off('close', onClientGone);
      if (outcome.kind === 'error') {
        endpoint.inflight--;
        if (!response.destroyed) deps.recordAttempt(cluster.name, endpoint, { kind: 'error' });
      } else {
        const nowMs = deps.clock.now();
        recordLatency(endpoint, nowMs - startedMs, nowMs);
        deps.recordAttempt(cluster.name, endpoint, { kind: 'status', status: outcome.answer.statusCode ?? 502 });
        // A relayed answer's duration is observed by respond(), as any response's.
        if (outcome.kind === 'switched') deps.metrics.observeDuration(exchange.route?.name ?? 'none', cluster.name, (nowMs - exchange.startedMs) / 1000);
      }
      resolve(outcome);
    };
    upstream.once('upgrade', (answer: IncomingMessage, socket: Socket, head: Buffer) => settle({ kind: 'switched', answer, socket, head }));
    upstream.once('response', (answer: IncomingMessage) => settle({ kind: 'answered', answer }));
    upstream.on('error', (error) => settle({ kind: 'error', error, timedOut }));
    upstream.end();
  });
}

/** The 101 head for the client: the upstream's fields minus hop-by-hop ones, Upgrade and `Connection: Upgrade` kept, Via and the gateway's fields added. */
export function switchingHead(answer: IncomingMessage, extra: Record<string, string>): string {
  const fields = { ...downstreamResponseHeaders(answer.headers), ...extra, connection: 'Upgrade', upgrade: answer.headers.upgrade ?? '' };
  let text = `HTTP/1.1 101 ${answer.statusMessage || 'Switching Protocols'}\r\n`;
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) text += `${name}: ${String(item)}\r\n`;
  }
  return `${text}\r\n`;
}

function splice(deps: UpgradeDependencies, exchange: Exchange, switched: Extract<Handshake, { kind: 'switched' }>, endpoint: Endpoint): void {
  const { request, response } = exchange;
  const client = request.socket;
  const early = earlyBytes.get(request);
  earlyBytes.delete(request);
  response.statusCode = 101;
  deps.metrics.upgrades.inc({ result: 'switched' });
  if (client.destroyed) {
    switched.socket.destroy();
    endpoint.inflight--;
    return;
  }
  // The socket is the tunnel's from here on; the response object lets go of it unsent.
  response.detachSocket(client);
  client.write(switchingHead(switched.answer, exchange.responseHeaders), 'latin1');
  if (switched.head.length > 0) client.write(switched.head);
  if (early !== undefined && early.length > 0) switched.socket.write(early);
  deps.tunnels.splice(client, switched.socket, exchange.table.config.limits.upgradeIdleTimeoutMs, () => endpoint.inflight--);
}

/** A non-101 answer, relayed as a normal response (the client's connection closes after it). */
function relay(deps: UpgradeDependencies, exchange: Exchange, answer: IncomingMessage, endpoint: Endpoint, cluster: string): Promise<void> {
  earlyBytes.delete(exchange.request);
  deps.metrics.upgrades.inc({ result: 'declined' });
  answer.once('close', () => endpoint.inflight--);
  return respond(deps, exchange, fromIncomingMessage(answer), cluster);
}
