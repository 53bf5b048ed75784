import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

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
