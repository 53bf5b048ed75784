import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.js';
import { FAST_CLIENT_BUFFER_BYTES_MAX } from '../limits.js';
import { type BodyFraming, framingFor } from './body-framing.js';
import { findHeadEnd, type ParsedHead, parseRequestHead, skipLeadingCrlf } from './head-parser.js';

/**
 * One client connection of the fast path: reads request heads off the raw
 * socket, hands each request to the gateway's chain as a `FastRequest` and
 * `FastResponse` (shaped like node:http's, so the same interceptors and
 * refusal code serve both engines), and relays the body bytes as they come.
 * One request at a time: bytes of a pipelined next request wait (bounded)
 * until the current response is done.
 */

/** What a connection asks of its listener. */
export interface ConnectionHooks {
  /** Runs the chain for one request. */
  handle(request: FastRequest, response: FastResponse): void;
  /** Whether this head needs node:http (Upgrade, Expect, HTTP/1.0): the connection is handed over, these bytes first. */
  handOff(socket: Socket, bytes: Buffer): void;
  readonly maxHeadBytes: () => number;
  readonly draining: () => boolean;
  readonly prefersNode: () => boolean;
}

/** Where the body bytes of the request go once a proxy attempt takes them. */
export interface BodySink {
  /** Writes body bytes; false asks the reader to pause until `resume` is called. */
  write(bytes: Buffer): boolean;
  /** The body ended (all its bytes were written). */
  end(): void;
  /** The body could not be read (malformed framing, over the size limit, the client left). */
  fail(error: Error): void;
}

/** A request on the fast path, with the fields the chain reads from node's IncomingMessage. */
export class FastRequest {
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: number;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** A request with framing 0 has no body. */
  readonly hasBody: boolean;
  /** Any body byte was handed to a sink (a retry after that cannot resend it). */
  readableDidRead = false;
  readonly #connection: FastConnection;

  constructor(readonly head: ParsedHead, readonly socket: Socket, connection: FastConnection) {
    this.httpVersionMinor = head.minorVersion;
    this.method = head.method;
    this.url = head.target;
    this.headers = head.headers;
    this.hasBody = head.framing !== 0;
    this.#connection = connection;
  }

  get connection(): FastConnection {
    return this.#connection;
  }

  get complete(): boolean {
    return this.#connection.bodyDone;
  }

  /** Reads and drops the rest of the body (a refusal before it was forwarded). */
  resume(): void {
    this.#connection.discardBody();
  }

  /** Sends the body to `sink`: bytes already read first, the rest as it arrives, bounded by `maxBytes`. */
  pipeBody(sink: BodySink, maxBytes: number): void {
    this.readableDidRead = true;
    this.#connection.pipeBody(sink, maxBytes);
  }
}

/** The cached Date header (one string per second, as node:http does). */
let dateSecond = 0;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** The response of a fast-path request: local replies (refusals) through writeHead/end, proxied ones as bytes. */
export class FastResponse {
  statusCode = 200;
  headersSent = false;
  #closeAfter = false;
  #finished = false;
  readonly #connection: FastConnection;

  constructor(connection: FastConnection, closeAfter: boolean) {
    this.#connection = connection;
    this.#closeAfter = closeAfter;
  }

  get destroyed(): boolean {
    return this.#connection.socket.destroyed;
  }

  /** Whether the connection closes after this response. */
  get closeAfter(): boolean {
    return this.#closeAfter;
  }

  /** Only `connection: close` is honoured (draining); every other header goes through writeHead. */
  setHeader(name: string, value: string): void {
    if (name.toLowerCase() === 'connection' && value.toLowerCase() === 'close') this.#closeAfter = true;
  }

  closeConnectionAfter(): void {
    this.#closeAfter = true;
  }

  /** A local reply's head; the body follows with `end`. */
  writeHead(status: number, headers: Record<string, string | number | readonly string[] | undefined>): void {
    this.statusCode = status;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\ndate: ${httpDate()}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) text += `${name}: ${item}\r\n`;
      else text += `${name}: ${String(value)}\r\n`;
    }
    if (this.#closeAfter) text += 'connection: close\r\n';
    this.#pendingHead = `${text}\r\n`;
    this.headersSent = true;
  }

  #pendingHead = '';

  end(body?: string): void {
    const socket = this.#connection.socket;
    if (!socket.destroyed) socket.write(body === undefined ? this.#pendingHead : this.#pendingHead + body, 'latin1');
    this.#pendingHead = '';
    this.finish();
  }

  /** A proxied response's head, as the bytes to send (already spliced). */
  writeRaw(bytes: Buffer | string): void {
    this.headersSent = true;
    const socket = this.#connection.socket;
    if (!socket.destroyed) socket.write(bytes as Buffer);
  }

  /** The response is complete: the connection takes its next request (or closes). */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#connection.responseDone(this.#closeAfter);
  }

  destroy(): void {
    this.#finished = true;
    this.#connection.socket.destroy();
  }
}

const enum Phase { Head, Request, Closing, HandedOff }

/** A client connection: one request in progress at a time. */
export class FastConnection {
  #buffer: Buffer | undefined;
  #phase = Phase.Head;
  /** When the current head's first byte arrived (the slowloris clock), 0 when no head is being read. */
  headStartedMs = 0;
  /** When the connection went idle between requests, 0 while a request is in progress. */
  idleSinceMs: number;
  #framing: BodyFraming | undefined;
  #sink: BodySink | undefined;
  #maxBodyBytes = Infinity;
  #discarding = false;
  #responseDone = false;
  #request: FastRequest | undefined;
  #response: FastResponse | undefined;
  readonly #hooks: ConnectionHooks;

  constructor(readonly socket: Socket, hooks: ConnectionHooks, nowMs: number) {
    this.#hooks = hooks;
    this.idleSinceMs = nowMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => this.#onEnd());
    socket.once('close', () => this.#onClose());
  }

  /** Between requests with nothing read of the next one. */
  get idle(): boolean {
    return this.#phase === Phase.Head && this.#buffer === undefined;
  }

  get bodyDone(): boolean {
    return this.#framing === undefined || this.#framing.done;
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === Phase.Request) {
      this.#onBodyBytes(chunk);
      return;
    }
    if (this.#phase !== Phase.Head) return;
    this.#buffer = this.#buffer === undefined ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#readHead();
  }

  #readHead(): void {
    let buffer = this.#buffer;
    if (buffer === undefined) return;
    const start = skipLeadingCrlf(buffer, 0);
    if (start === buffer.length) {
      this.#buffer = undefined;
      return;
    }
    if (this.headStartedMs === 0) this.headStartedMs = performance.now();
    let head: ParsedHead;
    try {
      const end = findHeadEnd(buffer, start, this.#hooks.maxHeadBytes());
      if (end === -1) {
        if (start > 0) this.#buffer = buffer.subarray(start);
        return;
      }
      head = parseRequestHead(buffer.subarray(start, end));
      buffer = end < buffer.length ? buffer.subarray(end) : undefined;
    } catch (error) {
      this.#refuse(error);
      return;
    }
    if (needsNode(head) || this.#hooks.prefersNode()) {
      this.#phase = Phase.HandedOff;
      this.socket.removeAllListeners('data');
      this.socket.removeAllListeners('end');
      this.#hooks.handOff(this.socket, buffer === undefined ? head.bytes : Buffer.concat([head.bytes, buffer]));
      return;
    }
    this.#buffer = undefined;
    this.headStartedMs = 0;
    this.idleSinceMs = 0;
    this.#phase = Phase.Request;
    this.#framing = head.framing === 0 ? undefined : framingFor(head.framing);
    this.#sink = undefined;
    this.#discarding = false;
    this.#responseDone = false;
    this.#maxBodyBytes = Infinity;
    const request = new FastRequest(head, this.socket, this);
    const response = new FastResponse(this, head.close || this.#hooks.draining());
    this.#request = request;
    this.#response = response;
    if (buffer !== undefined) this.#onBodyBytes(buffer);
    this.#hooks.handle(request, response);
  }

  /** Bytes after the head while a request is in progress: body (to the sink, or held), then the next request's (held). */
  #onBodyBytes(chunk: Buffer): void {
    let rest: Buffer | undefined = chunk;
    const framing = this.#framing;
    if (framing !== undefined && !framing.done && (this.#sink !== undefined || this.#discarding)) {
      let taken: number;
      try {
        taken = framing.consume(chunk, 0);
      } catch (error) {
        this.#failBody(error as Error);
        return;
      }
      if (framing.payloadBytes > this.#maxBodyBytes) {
        this.#failBody(new GatewayError('KEEL_GW_REQUEST_TOO_LARGE', `request body exceeds ${this.#maxBodyBytes} bytes`));
        return;
      }
      const body = taken === chunk.length ? chunk : chunk.subarray(0, taken);
      rest = taken === chunk.length ? undefined : chunk.subarray(taken);
      if (this.#sink !== undefined && taken > 0 && !this.#sink.write(body)) this.socket.pause();
      if (framing.done) this.#bodyEnded();
    }
    if (rest === undefined) return;
    this.#buffer = this.#buffer === undefined ? rest : Buffer.concat([this.#buffer, rest]);
    // Held bytes: a body nobody took yet, or a pipelined next request. Stop reading rather than buffer without bound.
    if (this.#buffer.length > FAST_CLIENT_BUFFER_BYTES_MAX) this.socket.pause();
  }

  #bodyEnded(): void {
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.end();
    this.#discarding = false;
    if (this.#responseDone) this.#next();
  }

  #failBody(error: Error): void {
    const sink = this.#sink;
    this.#sink = undefined;
    this.#discarding = false;
    // The framing is lost: this connection cannot carry another request.
    this.#response?.closeConnectionAfter();
    this.#phase = Phase.Closing;
    if (sink !== undefined) sink.fail(error);
    else this.socket.destroy();
  }

  pipeBody(sink: BodySink, maxBytes: number): void {
    this.#sink = sink;
    this.#maxBodyBytes = maxBytes;
    if (this.#framing === undefined || this.#framing.done) {
      sink.end();
      return;
    }
    const held = this.#buffer;
    this.#buffer = undefined;
    if (held !== undefined) this.#onBodyBytes(held);
    if (this.socket.isPaused() && this.#sink !== undefined) this.socket.resume();
  }

  /** The sink drained: read on. */
  resumeBody(): void {
    if (this.#phase === Phase.Request && this.socket.isPaused()) this.socket.resume();
  }

  discardBody(): void {
    if (this.#framing === undefined || this.#framing.done || this.#sink !== undefined) return;
    this.#discarding = true;
    const held = this.#buffer;
    this.#buffer = undefined;
    if (held !== undefined) this.#onBodyBytes(held);
    this.socket.resume();
  }

  responseDone(close: boolean): void {
    if (this.#phase !== Phase.Request) {
      if (this.#phase === Phase.Closing) this.socket.end();
      return;
    }
    this.#responseDone = true;
    if (close) {
      this.#phase = Phase.Closing;
      this.socket.end();
      return;
    }
    // A body nobody read (the answer came first): drop it, then take the next request.
    if (!this.bodyDone) {
      if (this.#sink === undefined) this.discardBody();
      return;
    }
    this.#next();
  }

  #next(): void {
    if (this.#phase !== Phase.Request) return;
    this.#phase = Phase.Head;
    this.#request = undefined;
    this.#response = undefined;
    this.#framing = undefined;
    this.idleSinceMs = performance.now();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#buffer !== undefined) this.#readHead();
  }

  /** A malformed or oversized head: 400/431 and close, the connection never reused. */
  #refuse(error: unknown): void {
    this.#phase = Phase.Closing;
    this.#buffer = undefined;
    const gatewayError = GatewayError.is(error) ? error : new GatewayError('KEEL_GW_BAD_REQUEST', 'malformed request');
    const body = JSON.stringify({ code: gatewayError.code, reason: gatewayError.reason, message: gatewayError.message });
    this.socket.end(`HTTP/1.1 ${gatewayError.status} ${STATUS_CODES[gatewayError.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nkeel-reject-reason: ${gatewayError.reason}\r\nconnection: close\r\n\r\n${body}`);
    this.socket.pause();
  }

  #onEnd(): void {
    // Half-open as node:http: a client may send its request and FIN, then read the answer.
    if (this.#phase === Phase.Request) {
      if (!this.bodyDone) this.#failBody(new Error('client ended the connection before its body'));
      else this.#response?.closeConnectionAfter();
      return;
    }
    this.socket.end();
  }

  #onClose(): void {
    const sink = this.#sink;
    this.#sink = undefined;
    if (sink !== undefined) sink.fail(new Error('client closed the connection'));
    this.#closeListeners?.();
  }

  #closeListeners: (() => void) | undefined;

  /** Called once when the socket closes (the proxy aborts its upstream attempt). */
  onClose(listener: (() => void) | undefined): void {
    this.#closeListeners = listener;
  }

  /** Timeouts, from the listener's sweep: a head too slow (slowloris), an idle keep-alive connection. */
  sweep(nowMs: number, headersTimeoutMs: number, keepAliveTimeoutMs: number): void {
    if (this.#phase === Phase.HandedOff) return;
    if (this.headStartedMs !== 0 && nowMs - this.headStartedMs > headersTimeoutMs) this.socket.destroy();
    else if (this.idle && this.idleSinceMs !== 0 && nowMs - this.idleSinceMs > keepAliveTimeoutMs) this.socket.destroy();
  }

  /** Closes the connection if it is between requests (drain, retire). */
  closeIfIdle(): void {
    if (this.idle || this.#phase === Phase.Closing) this.socket.destroy();
  }
}

/** What the fast path leaves to node:http: protocol switches, 100-continue, and HTTP/1.0's framing quirks. */
function needsNode(head: ParsedHead): boolean {
  return head.minorVersion === 0 || head.headers.upgrade !== undefined || head.headers.expect !== undefined;
}
