/**
 * A VU's HTTP client: by default one keep-alive connection per VU and
 * origin, as a browser user holds one. Cleartext (http:) targets use a raw
 * HTTP/1.1 connection (http1-connection.ts: the cheap path that lets one
 * machine hold tens of thousands of VUs); https targets use undici, which
 * negotiates HTTP/2 by ALPN as k6 does. A request that fails (refused,
 * reset, timed out) returns a response with status 0 and `error` set; it is
 * counted, never thrown. Streaming responses (watches) go through
 * `stream()` (http-stream.ts), over undici for either scheme.
 */
import { buildConnector, Client, Pool } from 'undici';
import { cachedOrCreated } from './bounded-cache.js';
import type { Clock } from './clock.js';
import { errorKind } from './errors.js';
import { headersOf, Http1Connection, RequestFailedError, type Endpoint } from './http1-connection.js';
import { HttpStream } from './http-stream.js';
import { RESPONSE_BODY_BYTES_MAX, STREAMS_PER_ORIGIN_MAX } from './limits.js';
import type { MetricSink } from './sink.js';
import type { TargetGuard } from './targets.js';
import { TlsProfile } from './tls.js';

/** Origins one VU keeps connections to (a VU crawling many origins closes the oldest). */
const ORIGINS_PER_VU_MAX = 16;
/** Parsed URLs one VU keeps. */
const URLS_PER_VU_MAX = 64;

/** RFC 9110 token, and a field value without CR, LF or NUL. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;

interface ParsedTarget {
  readonly origin: string;
  readonly path: string;
  /** Set for http: targets (the raw HTTP/1.1 connection); undefined for https (undici). */
  readonly endpoint: Endpoint | undefined;
  /** The Host header's value. */
  readonly host: string;
  /** The head of a plain GET, built on first use. */
  plainGet: string | undefined;
}

export interface RequestParams {
  readonly headers?: Record<string, string>;
  readonly tags?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  /** The HTTP status, or 0 when no response came. */
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The body as text (cut at 1 MiB). */
  readonly body: string;
  /** Milliseconds from the request's start (the intended start for an open-model iteration's first request). */
  readonly durationMs: number;
  /** Why no response came (ECONNREFUSED, UND_ERR_SOCKET, ...). */
  readonly error: string | undefined;
  json(): unknown;
}

export interface HttpClientOptions {
  readonly clock: Clock;
  readonly sink: MetricSink;
  readonly guard: TargetGuard;
  readonly reuseConnections: boolean;
  readonly timeoutMs: number;
  /** The VU's interrupt signal: aborts requests in flight when the scenario's graceful stop runs out. */
  readonly signal: AbortSignal;
  /** Takes the iteration's intended start, once (the first request measures from it). */
  readonly takeIntendedStart: () => number | undefined;
  readonly tags: () => Record<string, string>;
  /** TLS for https targets (h2 by ALPN, insecureSkipTLSVerify, a CA, client certificates), shared by the worker's VUs. */
  readonly tls?: TlsProfile;
}

/** Verify certificates against the system roots and offer h2: k6's defaults. */
const DEFAULT_TLS_PROFILE = new TlsProfile();

export class VuHttp {
  #options: HttpClientOptions;
  readonly #clients = new Map<string, Client>();
  readonly #streamPools = new Map<string, Pool>();
  readonly #raw = new Map<string, Http1Connection>();
  /** The protocol each origin's connection negotiated (k6's `proto` tag). */
  readonly #protocols = new Map<string, string>();

  constructor(options: HttpClientOptions) {
    this.#options = options;
  }

  /** @internal A pooled VU joins another run: its metrics go to that run's sink, its URLs are checked by that run's guard; its connections stay. */
  joinRun(run: Pick<HttpClientOptions, 'sink' | 'guard' | 'timeoutMs' | 'reuseConnections'>): void {
    this.#options = { ...this.#options, sink: run.sink, guard: run.guard, timeoutMs: run.timeoutMs, reuseConnections: run.reuseConnections };
    this.#urls.clear();
  }

  get(url: string, params?: RequestParams): Promise<HttpResponse> {
    return this.request('GET', url, undefined, params);
  }

  post(url: string, body?: string | Uint8Array, params?: RequestParams): Promise<HttpResponse> {
    return this.request('POST', url, body, params);
  }

  put(url: string, body?: string | Uint8Array, params?: RequestParams): Promise<HttpResponse> {
    return this.request('PUT', url, body, params);
  }

  del(url: string, params?: RequestParams): Promise<HttpResponse> {
    return this.request('DELETE', url, undefined, params);
  }

  async request(method: string, url: string, body?: string | Uint8Array, params: RequestParams = {}): Promise<HttpResponse> {
    const { clock, sink } = this.#options;
    const target = this.#parse(url);
    // Tags cost an object per request: build them only when a sub-metric could match.
    const tags: Record<string, string> | undefined = sink.tagged ? { ...this.#options.tags(), method, ...(params.tags ?? {}) } : undefined;
    const startMs = this.#options.takeIntendedStart() ?? clock.nowMs();
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    /** The raw path's head: fields are parsed only if the scenario reads `headers`. */
    let head: string | undefined;
    let text = '';
    let error: string | undefined;
    let received = 0;
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    try {
      if (target.endpoint !== undefined) {
        const requestHead = this.#head(method, target, payload, params.headers);
        const response = await this.#connection(target.origin, target.endpoint).request(method, requestHead, payload, params.timeoutMs ?? this.#options.timeoutMs);
        status = response.status;
        head = response.head;
        text = response.body;
        received = response.bodyBytes;
        if (!this.#options.reuseConnections) this.#dropConnection(target.origin);
      } else {
        const response = await this.#client(target.origin).request({
          method: method as 'GET',
          path: target.path,
          headers: params.headers,
          body: payload,
          reset: !this.#options.reuseConnections,
          signal: this.#options.signal,
          headersTimeout: params.timeoutMs ?? this.#options.timeoutMs,
          bodyTimeout: params.timeoutMs ?? this.#options.timeoutMs,
        });
        status = response.statusCode;
        headers = response.headers;
        const length = Number(response.headers['content-length'] ?? Number.NaN);
        text = length <= RESPONSE_BODY_BYTES_MAX ? await response.body.text() : await readCapped(response.body);
        received = Buffer.byteLength(text);
      }
      sink.counter('data_received', received, tags);
    } catch (caught) {
      // Interrupted by the end of the scenario: not the target's failure, so not a failed request.
      if (this.#options.signal.aborted) throw this.#options.signal.reason;
      error = errorKind(caught);
    }
    const durationMs = clock.nowMs() - startMs;
    this.#record(target.origin, tags, status, durationMs, error, payload);
    return new Response(status, head ?? headers, text, durationMs, error);
  }

  /**
   * Opens a streaming request (a watch: newline-delimited JSON that never
   * ends on its own) and waits for its head; read it with `line()`, end it
   * with `close()`. It counts as one request, recorded at close, its
   * duration the time to its head; it is cut at the request timeout. The
   * URL passes the target guard as any request's does. Streams take their
   * own connections (undici, one per open stream), so the VU's requests to
   * the same origin do not queue behind them.
   */
  async stream(method: string, url: string, body?: string | Uint8Array, params: RequestParams = {}): Promise<HttpStream> {
    const { clock, sink } = this.#options;
    const target = this.#parse(url);
    const tags: Record<string, string> | undefined = sink.tagged ? { ...this.#options.tags(), method, ...(params.tags ?? {}) } : undefined;
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    return HttpStream.open({
      dispatcher: this.#streamPool(target.origin),
      method,
      path: target.path,
      headers: params.headers,
      body: payload,
      timeoutMs: params.timeoutMs ?? this.#options.timeoutMs,
      signal: this.#options.signal,
      clock,
      startMs: this.#options.takeIntendedStart() ?? clock.nowMs(),
      record: (outcome) => {
        sink.counter('data_received', outcome.receivedBytes, tags);
        this.#record(target.origin, tags, outcome.status, outcome.durationMs, outcome.error, payload);
      },
    });
  }

  /** One request's samples: counted, timed, failed or not (an error, or a status of 400 or more), its error kind. */
  #record(origin: string, tags: Record<string, string> | undefined, status: number, durationMs: number, error: string | undefined, payload: Uint8Array | undefined): void {
    const sink = this.#options.sink;
    const failed = error !== undefined || status >= 400;
    if (tags !== undefined) {
      tags.status = String(status);
      tags.proto = this.#protocols.get(origin) ?? 'HTTP/1.1';
    }
    sink.counter('http_reqs', 1, tags);
    sink.trend('http_req_duration', durationMs, tags);
    sink.rate('http_req_failed', failed, tags);
    if (payload !== undefined) sink.counter('data_sent', payload.byteLength, tags);
    if (error !== undefined) sink.error(error);
    else if (status >= 400) sink.error(`HTTP ${status}`);
  }

  /** Parsed URLs, checked against the guard once (a VU asks for the same few URLs again and again). */
  readonly #urls = new Map<string, ParsedTarget>();

  #parse(url: string): ParsedTarget {
    let parsed = this.#urls.get(url);
    if (parsed === undefined) {
      const target = new URL(url);
      this.#options.guard.checkUrl(target);
      const path = `${target.pathname}${target.search}`;
      // Cleartext targets go over the raw HTTP/1.1 connection; https keeps undici (ALPN, h2, certificates).
      const endpoint = target.protocol === 'http:' ? { host: target.hostname.replace(/^\[|\]$/g, ''), port: target.port === '' ? 80 : Number(target.port) } : undefined;
      parsed = { origin: target.origin, path, endpoint, host: target.host, plainGet: undefined };
      if (this.#urls.size >= URLS_PER_VU_MAX) this.#urls.clear();
      this.#urls.set(url, parsed);
    }
    return parsed;
  }

  /** The request head; a GET without headers (the usual case) is built once per URL. */
  #head(method: string, target: ParsedTarget, body: Uint8Array | undefined, headers: Record<string, string> | undefined): string {
    const close = this.#options.reuseConnections ? '' : 'connection: close\r\n';
    if (method === 'GET' && body === undefined && headers === undefined) {
      return (target.plainGet ??= `GET ${target.path} HTTP/1.1\r\nhost: ${target.host}\r\n${close}\r\n`);
    }
    let head = `${method} ${target.path} HTTP/1.1\r\n`;
    let host = target.host;
    if (headers !== undefined) {
      for (const name in headers) {
        const value = headers[name]!;
        const lower = name.toLowerCase();
        // The client owns the framing: a user's Content-Length or Transfer-Encoding could smuggle or hang.
        if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
        if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(String(value))) throw new RequestFailedError('ERR_INVALID_HEADER', `invalid header ${JSON.stringify(name)}`);
        if (lower === 'host') host = String(value);
        else head += `${name}: ${value}\r\n`;
      }
    }
    head += `host: ${host}\r\n${close}`;
    if (body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH') head += `content-length: ${body?.byteLength ?? 0}\r\n`;
    return `${head}\r\n`;
  }

  #connection(origin: string, endpoint: Endpoint): Http1Connection {
    return cachedOrCreated(this.#raw, origin, ORIGINS_PER_VU_MAX, () => {
      this.#watchInterrupt();
      return new Http1Connection(endpoint);
    }, (connection) => connection.destroy());
  }

  #dropConnection(origin: string): void {
    this.#raw.get(origin)?.destroy();
    this.#raw.delete(origin);
  }

  /** One listener per VU (not per request): the VU's interrupt closes its raw connections, failing what is in flight. */
  #watchingInterrupt = false;
  #watchInterrupt(): void {
    if (this.#watchingInterrupt) return;
    this.#watchingInterrupt = true;
    const signal = this.#options.signal;
    signal.addEventListener('abort', () => {
      for (const connection of this.#raw.values()) connection.destroy(signal.reason as Error);
    }, { once: true });
  }

  #streamPool(origin: string): Pool {
    return cachedOrCreated(this.#streamPools, origin, ORIGINS_PER_VU_MAX, () => {
      const pool = new Pool(origin, { connections: STREAMS_PER_ORIGIN_MAX, pipelining: 1, connect: this.#connector(origin) });
      pool.on('connectionError', () => undefined);
      return pool;
    }, (pool) => void pool.destroy().catch(() => undefined));
  }

  #client(origin: string): Client {
    return cachedOrCreated(this.#clients, origin, ORIGINS_PER_VU_MAX, () => {
      const client = new Client(origin, { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, connect: this.#connector(origin) });
      client.on('connectionError', () => undefined);
      return client;
    }, (client) => void client.destroy().catch(() => undefined));
  }

  /**
   * A connector that records the ALPN result: undici does not expose which
   * protocol a request used, and k6 users filter on the `proto` tag. One
   * Client per VU and origin means one h2 session per VU, as with HTTP/1.1.
   */
  #connector(origin: string): buildConnector.connector {
    const tls = (this.#options.tls ?? DEFAULT_TLS_PROFILE).connectOptions(new URL(origin).hostname);
    const connect = buildConnector({ timeout: 10_000, ...tls });
    return (options, callback) =>
      connect(options, (error, socket) => {
        if (error === null && socket != null) {
          const alpn = (socket as { alpnProtocol?: string | false }).alpnProtocol;
          this.#protocols.set(origin, alpn === 'h2' ? 'HTTP/2.0' : 'HTTP/1.1');
        }
        (callback as (error: Error | null, socket: unknown) => void)(error, socket);
      });
  }

  /** Closes the VU's connections (at the end of the run). */
  async close(): Promise<void> {
    for (const connection of this.#raw.values()) connection.destroy();
    this.#raw.clear();
    const dispatchers = [...this.#clients.values(), ...this.#streamPools.values()];
    this.#clients.clear();
    this.#streamPools.clear();
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.destroy().catch(() => undefined)));
  }
}

/**
 * A response. A class, not an object literal with a getter: a literal's
 * accessor is defined at run time on every object (a slow-path call that
 * showed in profiles); here `headers` is one getter on the prototype.
 */
class Response implements HttpResponse {
  readonly status: number;
  readonly body: string;
  readonly durationMs: number;
  readonly error: string | undefined;
  /** Parsed fields, or the raw head's text until the scenario first reads them. */
  #headers: Record<string, string | string[] | undefined> | string;

  constructor(status: number, headers: Record<string, string | string[] | undefined> | string, body: string, durationMs: number, error: string | undefined) {
    this.status = status;
    this.#headers = headers;
    this.body = body;
    this.durationMs = durationMs;
    this.error = error;
  }

  get headers(): Record<string, string | string[] | undefined> {
    if (typeof this.#headers === 'string') this.#headers = headersOf(this.#headers);
    return this.#headers;
  }

  json(): unknown {
    return JSON.parse(this.body) as unknown;
  }

  /** What JSON.stringify and console.log show: the fields a scenario reads, headers parsed. */
  toJSON(): Omit<HttpResponse, 'json'> {
    return { status: this.status, headers: this.headers, body: this.body, durationMs: this.durationMs, error: this.error };
  }
}

async function readCapped(body: AsyncIterable<Buffer> & { dump?: () => Promise<void> }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < RESPONSE_BODY_BYTES_MAX) chunks.push(chunk.subarray(0, RESPONSE_BODY_BYTES_MAX - size));
    size += chunk.length;
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
}
