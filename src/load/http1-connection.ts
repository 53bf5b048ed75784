/**
 * One VU's keep-alive HTTP/1.1 connection over a raw socket, for cleartext
 * targets. A load generator's cost per request is what it measures with:
 * undici's Client (dispatcher, request objects, body streams) spent about
 * twice autocannon's CPU per request here and held a few hundred KB per VU,
 * which is what kept `keel load` from 50,000 users on one machine. This
 * writes a prebuilt head, reads the response with the gateway's strict head
 * parser and body framing (the same RFC 9112 rules, so a response keel load
 * accepts is one the gateway would), and keeps nothing per VU but the
 * socket and a few fields.
 *
 * One request at a time (no pipelining), as a user's browser connection
 * works. Timeouts are checked by one sweep per process over the requests in
 * flight, not a timer per request.
 */
import { connect, type Socket } from 'node:net';
import { ChunkedFraming } from '../gateway/http1/body-framing.js';
import { badRequest, findHeadEnd, framingOf } from '../gateway/http1/head-parser.js';
import { RESPONSE_BODY_BYTES_MAX } from './limits.js';

/** A response head larger than this is a protocol error (undici allows 16 KiB; this leaves room for big cookies). */
const RESPONSE_HEAD_BYTES_MAX = 64 * 1024;
/** How often the sweep looks for requests past their deadline. */
const TIMEOUT_SWEEP_MS = 100;
/** Bytes one socket read may return. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * One read buffer for every connection of the process (net's `onread`):
 * node then neither allocates a buffer per read nor pushes it through a
 * Readable stream, which together cost more per request than parsing the
 * response. A read is handled synchronously before the next can land in the
 * buffer, so anything kept past the callback is copied (see #detach).
 */
let readBuffer: Buffer | undefined;
function sharedReadBuffer(): Buffer {
  return (readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES));
}

export interface RawResponse {
  readonly status: number;
  /** The head as latin1 text: `headersOf` turns it into fields when asked. */
  readonly head: string;
  /** The body, cut at RESPONSE_BODY_BYTES_MAX. */
  readonly body: string;
  /** Body bytes received (all of them, also past the cut). */
  readonly bodyBytes: number;
}

/** Why a request got no response; `code` is what the summary counts (ECONNREFUSED, ECONNRESET, ETIMEDOUT, HPE_INVALID). */
export class RequestFailedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestFailedError';
  }
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

interface Pending {
  readonly method: string;
  readonly head: string;
  readonly body: Uint8Array | undefined;
  readonly deadline: number;
  readonly resolve: (response: RawResponse) => void;
  readonly reject: (error: Error) => void;
  /** Retried once already (a reused connection the server had closed). */
  retried: boolean;
}

const inflight = new Set<Http1Connection>();
let sweeper: NodeJS.Timeout | undefined;

function watch(connection: Http1Connection): void {
  inflight.add(connection);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, TIMEOUT_SWEEP_MS);
    sweeper.unref();
  }
}

function unwatch(connection: Http1Connection): void {
  inflight.delete(connection);
  if (inflight.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function sweep(): void {
  const now = performance.now();
  for (const connection of inflight) connection.checkDeadline(now);
}

export class Http1Connection {
  readonly #endpoint: Endpoint;
  #socket: Socket | undefined;
  /** The socket has answered a request before (a failure before any byte may be the server's idle close). */
  #reused = false;
  #pending: Pending | undefined;
  /** Head bytes so far (a head split over reads). */
  #headBytes: Buffer | undefined;
  #status = 0;
  /** The final response head (headers are parsed from it only if the scenario reads them). */
  #head = '';
  /** Body framing: bytes left (length), -1 chunked, -2 until close. */
  #bodyLeft = 0;
  #chunked: ChunkedFraming | undefined;
  #bodyParts: Buffer[] = [];
  /** Parts from this index on are views of the shared read buffer, valid only during the current read. */
  #borrowedFrom = 0;
  #bodyKept = 0;
  #bodyBytes = 0;
  #closeAfter = false;
  #sawResponseBytes = false;

  constructor(endpoint: Endpoint) {
    this.#endpoint = endpoint;
  }

  /** Sends one request (`head` ends with the empty line) and resolves with its response; rejects with RequestFailedError. */
  request(method: string, head: string, body: Uint8Array | undefined, timeoutMs: number): Promise<RawResponse> {
    if (this.#pending !== undefined) return Promise.reject(new RequestFailedError('ERR_BUSY', 'a request is already in flight on this connection'));
    return new Promise<RawResponse>((resolve, reject) => {
      this.#pending = { method, head, body, deadline: performance.now() + timeoutMs, resolve, reject, retried: false };
      watch(this);
      this.#send();
    });
  }

  /** Closes the connection; a request in flight fails with `reason`. */
  destroy(reason?: Error): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    if (this.#pending !== undefined) this.#fail(reason ?? new RequestFailedError('ECONNABORTED', 'connection closed'));
  }

  /** @internal the sweep: fails the request in flight once past its deadline. */
  checkDeadline(now: number): void {
    if (this.#pending !== undefined && now >= this.#pending.deadline) this.destroy(new RequestFailedError('ETIMEDOUT', 'request timed out'));
  }

  #send(): void {
    const pending = this.#pending!;
    this.#resetResponse();
    let socket = this.#socket;
    if (socket === undefined) {
      socket = this.#open();
      this.#reused = false;
    }
    if (pending.body === undefined || pending.body.byteLength === 0) {
      socket.write(pending.head, 'latin1');
      return;
    }
    // Head and body in one segment where they fit.
    socket.cork();
    socket.write(pending.head, 'latin1');
    socket.write(pending.body);
    socket.uncork();
  }

  #open(): Socket {
    const socket = connect({
      host: this.#endpoint.host,
      port: this.#endpoint.port,
      noDelay: true,
      onread: {
        buffer: sharedReadBuffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          if (socket !== this.#socket) return true;
          this.#onData((buffer as Buffer).subarray(0, bytes));
          if (this.#pending !== undefined) this.#detach();
          return true;
        },
      },
    });
    this.#socket = socket;
    socket.on('end', () => {
      if (socket === this.#socket) this.#onEnd();
    });
    socket.on('error', (error: Error & { code?: string }) => {
      if (socket === this.#socket) this.#onClosed(error.code ?? 'ECONNRESET', error.message);
    });
    socket.on('close', () => {
      if (socket === this.#socket) this.#onClosed('ECONNRESET', 'the server closed the connection');
    });
    return socket;
  }

  /** A response continues in the next read: copy what still points into the shared read buffer. */
  #detach(): void {
    if (this.#headBytes !== undefined) this.#headBytes = Buffer.from(this.#headBytes);
    const parts = this.#bodyParts;
    for (let index = this.#borrowedFrom; index < parts.length; index++) parts[index] = Buffer.from(parts[index]!);
    this.#borrowedFrom = parts.length;
  }

  #resetResponse(): void {
    this.#headBytes = undefined;
    this.#status = 0;
    this.#head = '';
    this.#bodyLeft = 0;
    this.#chunked = undefined;
    if (this.#bodyParts.length > 0) this.#bodyParts = [];
    this.#borrowedFrom = 0;
    this.#bodyKept = 0;
    this.#bodyBytes = 0;
    this.#closeAfter = false;
    this.#sawResponseBytes = false;
  }

  #onData(chunk: Buffer): void {
    if (this.#pending === undefined) {
      // Bytes nobody asked for: the server is confused (or pipelines); this connection cannot be trusted.
      this.destroy();
      return;
    }
    this.#sawResponseBytes = true;
    try {
      let at = 0;
      if (this.#status === 0) {
        const bytes = this.#headBytes === undefined ? chunk : Buffer.concat([this.#headBytes, chunk]);
        const end = findHeadEnd(bytes, 0, RESPONSE_HEAD_BYTES_MAX);
        if (end === -1) {
          this.#headBytes = bytes;
          return;
        }
        this.#headBytes = undefined;
        this.#onHead(bytes, end);
        if (this.#status === 0) {
          // An interim 1xx answer: the real head follows.
          this.#onData(bytes.subarray(end));
          return;
        }
        chunk = bytes;
        at = end;
      }
      this.#onBody(chunk, at);
    } catch (error) {
      this.destroy(new RequestFailedError('HPE_INVALID', `malformed response: ${(error as Error).message}`));
    }
  }

  #onHead(bytes: Buffer, end: number): void {
    const head = scanResponseHead(bytes, end, this.#pending!.method);
    if (head.status < 200) return;
    this.#status = head.status;
    this.#headBytes = undefined;
    this.#head = bytes.toString('latin1', 0, end);
    this.#closeAfter = head.close;
    if (head.framing === CHUNKED) {
      this.#bodyLeft = -1;
      this.#chunked = new ChunkedFraming((data, start, stop) => this.#keep(data, start, stop));
    } else if (head.framing === UNTIL_CLOSE) {
      this.#bodyLeft = -2;
      this.#closeAfter = true;
    } else {
      this.#bodyLeft = head.framing;
    }
  }

  #onBody(chunk: Buffer, at: number): void {
    if (this.#bodyLeft === -1) {
      const used = this.#chunked!.consume(chunk, at);
      if (this.#chunked!.done) this.#complete(at + used < chunk.length);
      return;
    }
    if (this.#bodyLeft === -2) {
      this.#keep(chunk, at, chunk.length);
      return;
    }
    const take = Math.min(this.#bodyLeft, chunk.length - at);
    if (take > 0) this.#keep(chunk, at, at + take);
    this.#bodyLeft -= take;
    if (this.#bodyLeft === 0) this.#complete(at + take < chunk.length);
  }

  #keep(chunk: Buffer, start: number, end: number): void {
    this.#bodyBytes += end - start;
    const room = RESPONSE_BODY_BYTES_MAX - this.#bodyKept;
    if (room <= 0) return;
    const piece = chunk.subarray(start, Math.min(end, start + room));
    this.#bodyParts.push(piece);
    this.#bodyKept += piece.length;
  }

  /** The response is whole. `extra`: bytes followed it that no request asked for. */
  #complete(extra: boolean): void {
    const pending = this.#pending!;
    const parts = this.#bodyParts;
    const body = parts.length === 0 ? '' : parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts, this.#bodyKept).toString('utf8');
    const response: RawResponse = { status: this.#status, head: this.#head, body, bodyBytes: this.#bodyBytes };
    this.#pending = undefined;
    unwatch(this);
    this.#resetResponse();
    if (this.#closeAfter || extra) {
      const socket = this.#socket;
      this.#socket = undefined;
      socket?.destroy();
    } else {
      this.#reused = true;
    }
    pending.resolve(response);
  }

  #onEnd(): void {
    // A body delimited by the connection closing is complete at the end.
    if (this.#pending !== undefined && this.#bodyLeft === -2 && this.#status !== 0) {
      this.#complete(false);
      return;
    }
    this.#onClosed('ECONNRESET', 'the server closed the connection');
  }

  #onClosed(code: string, message: string): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    const pending = this.#pending;
    if (pending === undefined) return;
    // A keep-alive connection the server closed while idle fails the next request before any answer: send
    // it again once on a fresh connection, as browsers do, but only when repeating it is safe (RFC 9110 §9.2.2).
    if (this.#reused && !this.#sawResponseBytes && !pending.retried && IDEMPOTENT.has(pending.method)) {
      pending.retried = true;
      this.#send();
      return;
    }
    this.#fail(new RequestFailedError(code, message));
  }

  #fail(error: Error): void {
    const pending = this.#pending!;
    this.#pending = undefined;
    unwatch(this);
    this.#resetResponse();
    pending.reject(error);
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');
const CR = 13;
const LF = 10;
const COLON = 58;
const CHUNKED = -1;
const UNTIL_CLOSE = -2;

interface ScannedHead {
  readonly status: number;
  /** Body bytes, CHUNKED or UNTIL_CLOSE. */
  readonly framing: number;
  readonly close: boolean;
}

/**
 * Reads what a client needs from a complete response head (line endings
 * already checked by findHeadEnd): the status and the body's framing
 * (RFC 9112 §6.3). Only Content-Length, Transfer-Encoding and Connection
 * become strings; the other fields stay bytes until a scenario reads
 * `headers`, which most iterations never do. Framing is read as strictly
 * as the gateway does: two Content-Lengths, or one beside
 * Transfer-Encoding, are refused rather than guessed.
 */
export function scanResponseHead(bytes: Buffer, end: number, method: string): ScannedHead {
  // "HTTP/1.x NNN"
  if (end < 16 || bytes.indexOf(HTTP_1) !== 0 || (bytes[7] !== 48 && bytes[7] !== 49) || bytes[8] !== 32) throw badRequest('malformed status line');
  const d0 = bytes[9]! - 48;
  const d1 = bytes[10]! - 48;
  const d2 = bytes[11]! - 48;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || (bytes[12] !== 32 && bytes[12] !== CR)) throw badRequest('malformed status line');
  const status = d0 * 100 + d1 * 10 + d2;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let contentLengths = 0;
  let at = bytes.indexOf(LF) + 1;
  while (at < end - 2) {
    const lineEnd = bytes.indexOf(LF, at);
    const colon = bytes.indexOf(COLON, at);
    if (colon === -1 || colon > lineEnd || colon === at) throw badRequest('header line without a name and colon');
    const nameLength = colon - at;
    // Only three names matter here; compare lengths before making strings.
    if (nameLength === 14 || nameLength === 17 || nameLength === 10) {
      const name = bytes.toString('latin1', at, colon).toLowerCase();
      if (name === 'content-length') {
        contentLengths++;
        contentLength = joined(contentLength, bytes.toString('latin1', colon + 1, lineEnd - 1).trim());
      } else if (name === 'transfer-encoding') {
        transferEncoding = joined(transferEncoding, bytes.toString('latin1', colon + 1, lineEnd - 1).trim());
      } else if (name === 'connection') {
        connection = joined(connection, bytes.toString('latin1', colon + 1, lineEnd - 1).trim());
      }
    }
    at = lineEnd + 1;
  }
  // The gateway's rules, so keel load and the gateway never disagree on where a response ends.
  // Fixed property names keep this object's shape (and framingOf's reads of it) monomorphic.
  const framingFields: Record<string, string> = {};
  if (contentLength !== undefined) framingFields['content-length'] = contentLength;
  if (transferEncoding !== undefined) framingFields['transfer-encoding'] = transferEncoding;
  if (connection !== undefined) framingFields.connection = connection;
  const { framing, close } = framingOf(framingFields, contentLengths, bytes[7]! - 48, true);
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) return { status, framing: 0, close };
  return { status, framing: framing === 'chunked' ? CHUNKED : framing === 'close' ? UNTIL_CLOSE : framing, close };
}

function joined(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/**
 * A head's fields as node:http gives them: names lowercased, repeats joined
 * with ', ' (cookies with '; '). Leniently, unlike the gateway's parseFields:
 * it runs when a scenario reads `res.headers`, after the response was
 * accepted, and a getter must not throw.
 */
export function headersOf(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  let at = head.indexOf('\n') + 1;
  while (at < head.length - 2) {
    const lineEnd = head.indexOf('\n', at);
    if (lineEnd === -1) break;
    const colon = head.indexOf(':', at);
    if (colon !== -1 && colon < lineEnd) {
      const name = head.slice(at, colon).toLowerCase();
      const value = head.slice(colon + 1, lineEnd - 1).trim();
      const previous = headers[name];
      headers[name] = previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    at = lineEnd + 1;
  }
  return headers;
}
