/**
 * One streaming HTTP request (a watch, newline-delimited JSON): its body is
 * read line by line as it arrives, never buffered whole, so a response that
 * never ends on its own can be followed. It goes over undici, not the raw
 * HTTP/1.1 connection (http1-connection.ts reads a whole response before it
 * answers). The whole stream is cut at its timeout, the VU's interrupt aborts
 * it, and it counts as one request, recorded once when it is closed.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { Clock } from './clock.js';
import { errorKind } from './errors.js';
import { STREAM_LINE_BYTES_MAX } from './limits.js';

/** What a closed stream reports, to be recorded as one request. */
export interface StreamOutcome {
  /** The HTTP status, or 0 when no response came. */
  readonly status: number;
  /** From the request's start to the response's head: a stream's lifetime is the scenario's choice, not the target's latency. */
  readonly durationMs: number;
  /** Why the stream failed (ETIMEDOUT, a transport error, or what the scenario said when it closed it). */
  readonly error: string | undefined;
  readonly receivedBytes: number;
}

export interface StreamRequest {
  readonly dispatcher: Dispatcher;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string> | undefined;
  readonly body: Uint8Array | undefined;
  readonly timeoutMs: number;
  /** The VU's interrupt: aborting it throws its reason out of `open` and `line`, as it does out of a request. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly startMs: number;
  /** Called once, when the stream is closed. */
  readonly record: (outcome: StreamOutcome) => void;
}

/** The error kind of a stream cut at its timeout: the raw HTTP/1.1 path's kind for a timed-out request. */
const TIMED_OUT = 'ETIMEDOUT';

export class HttpStream {
  readonly #request: StreamRequest;
  readonly #abort = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #decoder = new StringDecoder('utf8');
  #status = 0;
  #headMs: number | undefined;
  #error: string | undefined;
  #body: (AsyncIterable<Buffer> & { destroy(): unknown; on(event: 'error', listener: () => void): unknown }) | undefined;
  #chunks: AsyncIterator<Buffer> | undefined;
  #pending = '';
  #ended = false;
  #closed = false;
  #receivedBytes = 0;

  private constructor(request: StreamRequest) {
    this.#request = request;
    // One timer for the whole stream: undici's bodyTimeout only bounds the gap between chunks, and a chatty stream would reset it forever.
    this.#timer = setTimeout(() => this.#abort.abort(), Math.max(0, request.startMs + request.timeoutMs - request.clock.nowMs()));
    this.#timer.unref();
  }

  /** Sends the request and waits for the response's head; a failure is in `error` (status 0), never thrown, unless the VU was interrupted. */
  static async open(request: StreamRequest): Promise<HttpStream> {
    const stream = new HttpStream(request);
    await stream.#send();
    return stream;
  }

  /** The HTTP status, or 0 when no response came. */
  get status(): number {
    return this.#status;
  }

  /** Why the stream failed or ended (a timeout, a transport error); undefined while it is healthy or when it ended cleanly. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The next non-empty line of the body, without its newline; undefined once the body ended, failed or was cut at the timeout (see `error`). */
  async line(): Promise<string | undefined> {
    for (;;) {
      const newline = this.#pending.indexOf('\n');
      if (newline >= 0) {
        const line = this.#pending.slice(0, newline).trim();
        this.#pending = this.#pending.slice(newline + 1);
        if (line !== '') return line;
        continue;
      }
      if (this.#ended || this.#chunks === undefined) return this.#takeLast();
      if (this.#pending.length > STREAM_LINE_BYTES_MAX) return this.#fail('line-too-long');
      let next: IteratorResult<Buffer>;
      try {
        next = await this.#chunks.next();
      } catch (caught) {
        return this.#fail(this.#kindOf(caught));
      }
      if (next.done === true) {
        this.#ended = true;
        this.#pending += this.#decoder.end();
        continue;
      }
      this.#receivedBytes += next.value.length;
      this.#pending += this.#decoder.write(next.value);
    }
  }

  /** Ends the stream (its connection is dropped) and records it; `failure` marks it failed with that error kind. Idempotent; a pending `line()` then returns undefined. */
  close(failure?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    // Destroying the body makes undici abort the request; the listener keeps the abort from surfacing as an unhandled 'error'.
    this.#body?.on('error', () => undefined);
    this.#body?.destroy();
    this.#abort.abort();
    // An interrupted stream is not the target's failure: left out, as an interrupted request is.
    if (this.#request.signal.aborted) return;
    const { startMs, clock } = this.#request;
    this.#request.record({ status: this.#status, durationMs: (this.#headMs ?? clock.nowMs()) - startMs, error: failure ?? this.#error, receivedBytes: this.#receivedBytes });
  }

  async #send(): Promise<void> {
    const { dispatcher, method, path, headers, body, timeoutMs, signal, clock } = this.#request;
    try {
      const response = await dispatcher.request({
        method: method as 'POST',
        path,
        headers,
        body,
        signal: AbortSignal.any([signal, this.#abort.signal]),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      this.#headMs = clock.nowMs();
      this.#status = response.statusCode;
      this.#body = response.body;
      this.#chunks = response.body[Symbol.asyncIterator]();
    } catch (caught) {
      this.#fail(this.#kindOf(caught));
    }
  }

  /** A body that ended without a final newline still gave its last line. */
  #takeLast(): string | undefined {
    const last = this.#pending.trim();
    this.#pending = '';
    return last === '' ? undefined : last;
  }

  #fail(kind: string): undefined {
    this.#error ??= kind;
    this.#ended = true;
    this.#pending = '';
    return undefined;
  }

  /** Interrupted by the end of the scenario: rethrown (not the target's failure); otherwise the error's kind. */
  #kindOf(caught: unknown): string {
    if (this.#request.signal.aborted) throw this.#request.signal.reason;
    if (this.#abort.signal.aborted) return this.#closed ? 'closed' : TIMED_OUT;
    return errorKind(caught);
  }
}
