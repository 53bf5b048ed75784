/**
 * A server stream that survives its member: when the connection breaks it
 * opens the stream again on another member, after backoff, with the request
 * the stream kind computes for where it left off (a watch resumes at its
 * next revision). Failures that retrying cannot fix (a compacted watch, a
 * bad request) end the stream with their typed error; so does running out
 * of consecutive reconnect attempts (KEEL_CLIENT_STREAM_UNAVAILABLE).
 * Between the socket and the consumer sits a BoundedQueue: a slow consumer
 * stops the reader, and the reader stops the socket.
 */
import { type BackoffFactory, type Clock, exponentialBackoff, type Random, type TimerHandle } from '../resilience/index.js';
import { BoundedQueue } from './bounded-queue.js';
import {
  AbortedError, BadResponseError, ConfigError, ConnectionError, InvalidArgumentError, KeelClientError, ServerError, StreamUnavailableError, UnavailableError,
  WatchCanceledError, WatchCompactedError,
} from './errors.js';
import type { JsonStream } from './ndjson.js';
import { STREAM_BACKOFF_INITIAL_MS, STREAM_KEEPALIVE_MS_DEFAULT, STREAM_KEEPALIVE_TIMEOUT_MS_DEFAULT, STREAM_BACKOFF_MAX_MS, STREAM_RECONNECTS_MAX_DEFAULT, WATCH_BUFFER_BATCHES_MAX } from './limits.js';

/** How a stream reaches the members; the client provides it. */
export interface StreamTransport {
  /** Opens `path` with `body` on a member not in `avoid` (or the least recently failed one when all are); `bidirectional` keeps the request open. */
  open(path: string, body: unknown, avoid: ReadonlySet<string>, signal: AbortSignal, bidirectional: boolean): Promise<{ readonly endpoint: string; readonly stream: JsonStream }>;
  /** The member failed a stream: try it last for a while. */
  markFailed(endpoint: string): void;
  readonly clock: Clock;
  readonly random: Random;
  /** Ends the stream when the client closes. Returns an unregister function. */
  track(close: () => void): () => void;
}

/** What a kind of stream (watch, observe) does with the wire. */
export interface StreamProtocol<T> {
  readonly path: string;
  /** The request of the next connection, from where the stream left off. */
  request(): unknown;
  /** One result: the items to deliver, and whether it shows the server accepted the stream. Throws to end the stream. */
  accept(result: Record<string, unknown>): { readonly items: readonly T[]; readonly established: boolean };
  /**
   * A request line the server always answers (a watch's progress request):
   * sent after `keepAliveMs` of silence; no answer within
   * `keepAliveTimeoutMs` means the member is hung or cut off, and the
   * stream moves to another. Absent: the stream is not bidirectional and
   * only a closed connection is noticed.
   */
  probe?(): unknown;
}

/** Options every resuming stream takes. */
export interface StreamOptions {
  /** Ends the stream (the iterator finishes) when it fires. */
  readonly signal?: AbortSignal;
  /** Consecutive failed (re)connections before giving up (default 10). */
  readonly reconnectAttempts?: number;
  /** Delays between reconnections (default exponential, 100 ms base, 2 s cap, full jitter). */
  readonly backoff?: BackoffFactory;
  /** Items held for a slow consumer before the socket stops being read (default 64). */
  readonly bufferSize?: number;
  /** Silence (while waiting for data, not while the consumer is slow) before probing the member (default 5 s; watches only). */
  readonly keepAliveMs?: number;
  /** How long a probe may go unanswered before the stream moves to another member (default 5 s). */
  readonly keepAliveTimeoutMs?: number;
}

/** Watches one connection while the reader waits for data: probe after silence, abort when the probe goes unanswered. */
class Liveness {
  readonly #clock: Clock;
  readonly #probeMs: number;
  readonly #timeoutMs: number;
  readonly #onProbe: () => boolean;
  readonly #onDead: () => void;
  #timer: TimerHandle | undefined;

  /** `onProbe` returns false when it could not send a probe: then silence is no evidence, and nothing is aborted. */
  constructor(clock: Clock, probeMs: number, timeoutMs: number, onProbe: () => boolean, onDead: () => void) {
    this.#clock = clock;
    this.#probeMs = probeMs;
    this.#timeoutMs = timeoutMs;
    this.#onProbe = onProbe;
    this.#onDead = onDead;
  }

  /** The reader waits for the member: start counting silence. */
  waiting(): void {
    this.stop();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = this.#onProbe() ? this.#clock.setTimeout(() => this.#onDead(), this.#timeoutMs) : undefined;
    }, this.#probeMs);
  }

  /** Data arrived, or the reader is busy delivering it: silence does not count. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** True for failures that reconnecting cannot fix. */
export function isFinalStreamError(error: unknown): boolean {
  if (error instanceof WatchCompactedError || error instanceof WatchCanceledError) return true;
  if (error instanceof BadResponseError || error instanceof InvalidArgumentError) return true;
  if (error instanceof ServerError && !(error instanceof UnavailableError)) return error.status >= 400 && error.status < 500 && error.status !== 408;
  return false;
}

function checkCount(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new ConfigError(`${name} must be an integer in [1, ${max}], got ${value}`);
  return value;
}

export class ResumingStream<T> implements AsyncIterable<T> {
  readonly #transport: StreamTransport;
  readonly #protocol: StreamProtocol<T>;
  readonly #queue: BoundedQueue<T>;
  readonly #controller = new AbortController();
  readonly #reconnectAttempts: number;
  readonly #backoff: BackoffFactory;
  readonly #keepAliveMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #done: Promise<void>;
  readonly #untrack: () => void;
  readonly #onCallerAbort = (): void => void this.close();
  readonly #callerSignal: AbortSignal | undefined;
  #reconnects = 0;
  #endpoint: string | undefined;

  constructor(transport: StreamTransport, protocol: StreamProtocol<T>, options: StreamOptions = {}) {
    this.#transport = transport;
    this.#protocol = protocol;
    this.#reconnectAttempts = checkCount('reconnectAttempts', options.reconnectAttempts ?? STREAM_RECONNECTS_MAX_DEFAULT, 1_000);
    this.#queue = new BoundedQueue(checkCount('bufferSize', options.bufferSize ?? 64, WATCH_BUFFER_BATCHES_MAX));
    this.#backoff = options.backoff ?? exponentialBackoff({ initialDelayMs: STREAM_BACKOFF_INITIAL_MS, maxDelayMs: STREAM_BACKOFF_MAX_MS, jitter: 'full' });
    this.#callerSignal = options.signal;
    this.#keepAliveMs = checkCount('keepAliveMs', options.keepAliveMs ?? STREAM_KEEPALIVE_MS_DEFAULT, 3_600_000);
    this.#keepAliveTimeoutMs = checkCount('keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? STREAM_KEEPALIVE_TIMEOUT_MS_DEFAULT, 3_600_000);
    this.#untrack = transport.track(() => void this.close());
    if (options.signal?.aborted === true) this.#controller.abort(new AbortedError(options.signal.reason));
    options.signal?.addEventListener('abort', this.#onCallerAbort, { once: true });
    this.#done = this.#run();
  }

  /** The member the stream is connected to (or was, last); undefined before the first connection. */
  get endpoint(): string | undefined {
    return this.#endpoint;
  }

  /** Times the stream was re-established after a break. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Stops reading, drops what is buffered and ends the iteration; resolves once the connection is released. Idempotent. */
  async close(): Promise<void> {
    if (!this.#controller.signal.aborted) this.#controller.abort(new AbortedError(undefined));
    this.#queue.clear();
    await this.#done;
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return {
      next: () => this.#queue.take(),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal;
    const avoid = new Set<string>();
    let failures = 0;
    let backoff = undefined as ReturnType<BackoffFactory['start']> | undefined;
    let everEstablished = false;
    let broken = false;
    try {
      while (!signal.aborted) {
        let endpoint: string | undefined;
        try {
          const outcome = await this.#connectOnce(signal, avoid, (connected) => {
            endpoint = connected;
          }, () => {
            if (everEstablished && broken) this.#reconnects++;
            everEstablished = true;
            broken = false;
            failures = 0;
            backoff = undefined;
            avoid.clear();
          });
          if (outcome === 'closed') return;
          throw new UnavailableError(503, { message: `${endpoint} ended the stream` }, {}, undefined);
        } catch (error) {
          if (signal.aborted) return;
          broken = true;
          if (isFinalStreamError(error)) {
            this.#queue.fail(error);
            return;
          }
          if (++failures > this.#reconnectAttempts) {
            this.#queue.fail(new StreamUnavailableError(failures - 1, error));
            return;
          }
          if (endpoint !== undefined || (KeelClientError.is(error) && error.endpoint !== undefined)) {
            const failed = endpoint ?? (error as KeelClientError).endpoint!;
            avoid.add(failed);
            this.#transport.markFailed(failed);
          }
          backoff = backoff === undefined ? this.#backoff.start(this.#transport.random) : backoff.next();
          await this.#sleep(backoff.delayMs, signal);
        }
      }
    } finally {
      this.#queue.end();
      this.#untrack();
      this.#callerSignal?.removeEventListener('abort', this.#onCallerAbort);
    }
  }

  /** One connection: read and deliver until it ends ('ended'), the consumer went away ('closed'), or it fails (throws). */
  async #connectOnce(signal: AbortSignal, avoid: ReadonlySet<string>, onConnected: (endpoint: string) => void, onEstablished: () => void): Promise<'ended' | 'closed'> {
    const connection = new AbortController();
    const onAbort = (): void => connection.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const probe = this.#protocol.probe?.bind(this.#protocol);
    let liveness: Liveness | undefined;
    let results: AsyncGenerator<Record<string, unknown>, void, undefined> | undefined;
    try {
      const opened = await this.#transport.open(this.#protocol.path, this.#protocol.request(), avoid, connection.signal, probe !== undefined);
      this.#endpoint = opened.endpoint;
      onConnected(opened.endpoint);
      results = opened.stream.results;
      if (probe !== undefined && opened.stream.duplex) {
        const dead = new ConnectionError(true, new Error(`no answer from ${opened.endpoint} within ${this.#keepAliveTimeoutMs} ms of a keep-alive probe`));
        liveness = new Liveness(this.#transport.clock, this.#keepAliveMs, this.#keepAliveTimeoutMs, () => opened.stream.send(probe()), () => connection.abort(dead));
      }
      for (;;) {
        liveness?.waiting();
        const next = await results.next();
        liveness?.stop();
        if (next.done === true) return 'ended';
        const { items, established } = this.#protocol.accept(next.value);
        if (established) onEstablished();
        for (const item of items) if (!(await this.#queue.push(item))) return 'closed';
      }
    } finally {
      liveness?.stop();
      signal.removeEventListener('abort', onAbort);
      await results?.return(undefined).catch(() => undefined);
    }
  }

  #sleep(delayMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#transport.clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.#transport.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, delayMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
