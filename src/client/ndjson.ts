/**
 * One streaming exchange with one member, as etcd's JSON gateway streams:
 * POST a JSON body, then read one `{"result": ...}` per line until the
 * server ends the response. A failure after the stream started arrives
 * in-band as `{"error": {...}}` and becomes a typed error here. Reading is
 * pull-based: while the consumer does not ask for the next result, nothing
 * is read from the socket, so a slow consumer stops the server (TCP
 * backpressure) instead of filling this process's memory.
 */
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import { isNeverSentError } from '../resilience/index.js';
import { BadResponseError, ConnectionError, KeelClientError, type ServerErrorBody } from './errors.js';
import { errorForStatus } from './http.js';
import { STREAM_DUPLEX_WAIT_MS, STREAM_LINE_BYTES_MAX } from './limits.js';

/** gRPC code → the HTTP status grpc-gateway answers with, for in-band errors (a subset: the rest is 500). */
const HTTP_OF_GRPC: Readonly<Record<number, number>> = { 3: 400, 4: 504, 5: 404, 8: 429, 9: 400, 11: 400, 14: 503 };

/** An open stream: the results to pull and, for a bidirectional one, a way to send more request lines. */
export interface JsonStream {
  readonly results: AsyncGenerator<Record<string, unknown>, void, undefined>;
  /** Sends one more request line (a watch's progress request); false when the request side is closed. */
  send(value: unknown): boolean;
  /** True while the request side is open: the member answered before the request body ended. */
  readonly duplex: boolean;
}

/**
 * Opens the stream; resolves once the member answered 200. With `bidirectional`
 * the request body stays open (HTTP/1.1 chunked) until the results end, so
 * `send` can add lines. keel answers such a request at once; etcd's gateway
 * (Go's HTTP/1.1 server) answers only once the request body has ended. So
 * when no answer has come within `duplexWaitMs`, the request body is ended
 * and the stream goes on one way (`duplex` false, `send` returns false).
 */
export async function openJsonStream(
  dispatcher: Dispatcher,
  endpoint: string,
  path: string,
  body: unknown,
  signal: AbortSignal,
  nowMs: () => number,
  bidirectional = false,
  duplexWaitMs = STREAM_DUPLEX_WAIT_MS,
): Promise<JsonStream> {
  let response: Dispatcher.ResponseData;
  const requestLines = bidirectional ? new PassThrough() : undefined;
  requestLines?.write(`${JSON.stringify(body)}\n`);
  const requestBody = requestLines ?? JSON.stringify(body);
  const halfDuplex = requestLines === undefined ? undefined : setTimeout(() => requestLines.end(), duplexWaitMs);
  try {
    response = await dispatcher.request({ origin: endpoint, path, method: 'POST', body: requestBody, headers: { 'content-type': 'application/json' }, signal });
  } catch (error) {
    requestLines?.destroy();
    if (signal.aborted) throw signal.reason;
    throw new ConnectionError(!isNeverSentError(error), error);
  } finally {
    clearTimeout(halfDuplex);
  }
  if (response.statusCode !== 200) {
    requestLines?.destroy();
    const text = await response.body.text().catch(() => '');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name.toLowerCase()] = String(value);
    throw errorForStatus(response.statusCode, text.slice(0, 64 * 1024), headers, nowMs());
  }
  const send = (value: unknown): boolean => {
    if (requestLines === undefined || requestLines.destroyed || requestLines.writableEnded) return false;
    requestLines.write(`${JSON.stringify(value)}\n`);
    return true;
  };
  const duplex = requestLines !== undefined && !requestLines.writableEnded;
  return { results: readResults(response.body, endpoint, path, signal, nowMs, requestLines), send, duplex };
}

async function* readResults(
  body: Dispatcher.ResponseData['body'],
  endpoint: string,
  path: string,
  signal: AbortSignal,
  nowMs: () => number,
  requestLines: PassThrough | undefined,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  try {
    for await (const chunk of body) {
      buffered += decoder.write(chunk as Buffer);
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() !== '') yield parseLine(line, endpoint, path, nowMs);
      }
      if (buffered.length > STREAM_LINE_BYTES_MAX) throw new BadResponseError(`a line of ${endpoint}${path} exceeds ${STREAM_LINE_BYTES_MAX} bytes`);
    }
    buffered += decoder.end();
    if (buffered.trim() !== '') yield parseLine(buffered, endpoint, path, nowMs);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (KeelClientError.is(error)) throw error;
    throw new ConnectionError(true, error);
  } finally {
    requestLines?.end();
    body.destroy();
  }
}

function parseLine(line: string, endpoint: string, path: string, nowMs: () => number): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new BadResponseError(`a line of ${endpoint}${path} is not JSON: ${line.slice(0, 200)}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new BadResponseError(`a line of ${endpoint}${path} is not an object`);
  const message = parsed as { result?: unknown; error?: ServerErrorBody };
  if (message.error !== undefined) {
    const status = HTTP_OF_GRPC[message.error.code ?? 2] ?? 500;
    throw errorForStatus(status, JSON.stringify(message.error), {}, nowMs());
  }
  if (typeof message.result !== 'object' || message.result === null) throw new BadResponseError(`a line of ${endpoint}${path} has no result object`);
  return message.result as Record<string, unknown>;
}
