import { type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostAndPort } from './address.js';
import { fromIncomingMessage, type UpstreamRequest, type UpstreamResponse } from './upstream.js';
import type { UpstreamTls } from './upstream-tls.js';

/**
 * HTTP/1.1 trailers on the node engine. An upstream's chunked response may
 * end with trailer fields (and announce them in a `Trailer` field);
 * undici hands them over once the body ended, and node:http sends them
 * with `addTrailers` after the last chunk. That only works on a chunked
 * response: node refuses a `Trailer` field (ERR_HTTP_TRAILER_INVALID) on an
 * HTTP/1.0 client, a HEAD, a 204/304 or a response with a length, so the
 * field is passed on only where the response will be chunked.
 */

/** Whether node:http will frame this response chunked (so it can carry trailers). */
export function canCarryTrailers(request: Pick<IncomingMessage, 'httpVersionMajor' | 'httpVersionMinor' | 'method'>, statusCode: number, headers: OutgoingHttpHeaders): boolean {
  if (request.httpVersionMajor !== 1 || request.httpVersionMinor < 1 || request.method === 'HEAD') return false;
  if (statusCode < 200 || statusCode === 204 || statusCode === 304) return false;
  return headers['content-length'] === undefined;
}

/** The upstream's `Trailer` field for the client's head, when the response can carry trailers (undefined otherwise). */
export function trailerField(upstreamHeaders: Record<string, string | string[] | undefined>): string | undefined {
  const value = upstreamHeaders.trailer;
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A client request's trailers, to send upstream after its body (node engine, HTTP/1.1 clusters). */
export interface RequestTrailers {
  /** The client's `Trailer` field (the names it announced). */
  readonly declared: string;
  /** The trailer fields, read once the client's body has ended. */
  read(): Record<string, string>;
}

/**
 * The trailers of a chunked HTTP/1.1 request that announced them with a
 * `Trailer` field; undefined otherwise (trailers a client sends without
 * announcing them are not relayed by the node engine: the proxy must pick
 * the client that can send them before the body is read).
 */
export function requestTrailers(request: Pick<IncomingMessage, 'httpVersionMajor' | 'headers' | 'trailers'>): RequestTrailers | undefined {
  const declared = request.headers.trailer;
  const chunked = request.headers['transfer-encoding'] !== undefined;
  if (request.httpVersionMajor !== 1 || declared === undefined || !chunked) return undefined;
  return {
    declared,
    read: () => {
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.trailers)) if (value !== undefined) out[name] = value;
      return out;
    },
  };
}

/**
 * Sends a request whose trailers must reach the upstream. undici cannot
 * send request trailers (it ends a chunked body with an empty trailer
 * section), so this one request goes through node:http's client on its own
 * connection: the body chunked, then `addTrailers`. Timeouts and errors
 * carry undici's codes so the proxy treats the attempt like any other.
 */
export function sendWithTrailers(address: string, tls: UpstreamTls | undefined, request: UpstreamRequest, trailers: RequestTrailers): Promise<UpstreamResponse> {
  const target = {
    ...hostAndPort(address), method: request.method, path: request.path, agent: false as const, signal: request.signal,
    headers: { ...request.headers, 'transfer-encoding': 'chunked', trailer: trailers.declared },
  };
  return new Promise((resolve, reject) => {
    const upstream = tls === undefined ? httpRequest(target) : httpsRequest({ ...target, ...tls.options });
    upstream.setTimeout(request.timeoutMs, () => upstream.destroy(Object.assign(new Error(`no answer within ${request.timeoutMs} ms`), { code: 'UND_ERR_HEADERS_TIMEOUT' })));
    // on, not once: a late error (after the answer came) must not go unheard and crash the process
    upstream.on('error', reject);
    upstream.once('response', (answer: IncomingMessage) => resolve(fromIncomingMessage(answer)));
    const body = request.body;
    if (body === null) {
      upstream.addTrailers(trailers.read());
      upstream.end();
      return;
    }
    body.once('error', (error) => upstream.destroy(error));
    body.once('end', () => {
      upstream.addTrailers(trailers.read());
      upstream.end();
    });
    body.pipe(upstream, { end: false });
  });
}
