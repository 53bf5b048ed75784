import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import type { UpstreamRequest } from './upstream.js';
import type { UpstreamTls } from './upstream-tls.js';

/**
 * HTTP/2 to one upstream address: over cleartext (prior knowledge), or over
 * TLS with ALPN h2 when the cluster has `tls` (the same verify, SNI and
 * client-certificate options as HTTP/1.1 clusters). On node:http2 rather
 * than undici: undici 7 ends an HTTP/2 response body before Node reports
 * its trailers and then drops them, and gRPC's status travels in the
 * trailers. Requests are streams spread over at most `maxSessions`
 * connections, each opened on demand and closed when idle.
 */

export interface H2UpstreamOptions {
  readonly maxSessions: number;
  /** A session with no open stream for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface H2UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: ClientHttp2Stream;
  /** The response head ended the stream (END_STREAM on its HEADERS frame): no body, no trailers. */
  readonly endedWithHead: boolean;
  /** The trailers (empty when none came), once the stream has closed. */
  readonly trailers: Promise<Record<string, string | string[] | undefined>>;
}

/** The same codes undici uses, so the proxy classifies an HTTP/2 attempt like an HTTP/1.1 one. */
export class H2UpstreamError extends Error {
  constructor(readonly code: 'UND_ERR_HEADERS_TIMEOUT' | 'UND_ERR_BODY_TIMEOUT' | 'UND_ERR_CONNECT_TIMEOUT' | 'UND_ERR_SOCKET', message: string) {
    super(message);
    this.name = 'H2UpstreamError';
  }
}

/** Streams one session carries before another is opened (Node's servers advertise 100 by default). */
const STREAMS_PER_SESSION_SOFT_MAX = 100;

export class H2Upstream {
  readonly #origin: string;
  readonly #options: H2UpstreamOptions;
  readonly #tls: UpstreamTls | undefined;
  /** Sessions (connected or connecting), the streams open on each, and when each is ready. */
  readonly #sessions = new Map<ClientHttp2Session, { open: number; readonly ready: Promise<void> }>();
  #closed = false;

  constructor(address: string, options: H2UpstreamOptions, tls?: UpstreamTls) {
    this.#origin = `${tls === undefined ? 'http' : 'https'}://${address}`;
    this.#options = options;
    this.#tls = tls;
  }

  /** Sends one request; resolves with the response head (the body streams), rejects on a connect, reset or timeout. */
  async request(request: UpstreamRequest): Promise<H2UpstreamResponse> {
    const session = await this.#session();
    const { host, ...rest } = request.headers;
    // Throws when the session went away (GOAWAY, closed) since it was picked: the attempt fails, nothing was sent.
    const stream = session.request(
      { ...rest, ':method': request.method, ':path': request.path, ':scheme': this.#tls === undefined ? 'http' : 'https', ...(typeof host === 'string' ? { ':authority': host } : {}) },
      { endStream: request.body === null, signal: request.signal },
    );
    const entry = this.#sessions.get(session);
    if (entry) entry.open++;
    stream.once('close', () => {
      if (entry) entry.open--;
    });
    const trailers = new Promise<Record<string, string | string[] | undefined>>((resolve) => {
      let received: IncomingHttpHeaders = {};
      stream.once('trailers', (headers: IncomingHttpHeaders) => (received = headers));
      stream.once('close', () => resolve(withoutPseudo(received)));
    });
    if (request.body !== null) {
      request.body.once('error', (error) => stream.destroy(error));
      request.body.pipe(stream);
    }
    return new Promise((resolve, reject) => {
      const headTimer = setTimeout(() => stream.destroy(new H2UpstreamError('UND_ERR_HEADERS_TIMEOUT', `no response head within ${request.timeoutMs} ms`)), request.timeoutMs);
      stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
        clearTimeout(headTimer);
        stream.setTimeout(request.timeoutMs, () => stream.destroy(new H2UpstreamError('UND_ERR_BODY_TIMEOUT', `the response body was silent for ${request.timeoutMs} ms`)));
        const endedWithHead = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
        resolve({ statusCode: Number(headers[':status']), headers: withoutPseudo(headers), body: stream, endedWithHead, trailers });
      });
      stream.once('error', (error) => {
        clearTimeout(headTimer);
        reject(error);
      });
      stream.once('close', () => {
        clearTimeout(headTimer);
        // Reset before a response head (RST_STREAM, GOAWAY): nothing else would settle this promise.
        reject(new H2UpstreamError('UND_ERR_SOCKET', `the stream closed before a response (code ${stream.rstCode ?? 'none'})`));
      });
    });
  }

  /** Requests waiting for a connection: none, streams are opened at once (the server's stream limit queues them in nghttp2). */
  get pending(): number {
    return 0;
  }

  /** Lets open streams finish, then closes every session. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.keys()].map((session) => new Promise<void>((resolve) => session.close(() => resolve()))));
  }

  destroy(): void {
    this.#closed = true;
    for (const session of this.#sessions.keys()) session.destroy();
    this.#sessions.clear();
  }

  /** The least busy session with room (waiting for it to connect), else a new one (up to maxSessions), else the least busy one. */
  async #session(): Promise<ClientHttp2Session> {
    if (this.#closed) throw new H2UpstreamError('UND_ERR_SOCKET', 'the upstream pool is closed');
    let best: ClientHttp2Session | undefined;
    let fewest = Infinity;
    for (const [session, { open }] of this.#sessions) {
      if (session.closed || session.destroyed || open >= fewest) continue;
      best = session;
      fewest = open;
    }
    if (best === undefined || (fewest >= STREAMS_PER_SESSION_SOFT_MAX && this.#sessions.size < this.#options.maxSessions)) best = this.#open();
    await this.#sessions.get(best)?.ready;
    return best;
  }

  #open(): ClientHttp2Session {
    // ALPN h2 only; SNI is `serverName` when set, else the host unless it is an IP (as for HTTP/1.1 clusters).
    const session = this.#tls === undefined ? connect(this.#origin) : connect(this.#origin, { ...this.#tls.options, ALPNProtocols: ['h2'] });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy();
        reject(new H2UpstreamError('UND_ERR_CONNECT_TIMEOUT', `no connection to ${this.#origin} within ${this.#options.connectTimeoutMs} ms`));
      }, this.#options.connectTimeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      // A connect error (ECONNREFUSED keeps its code: the proxy retries what was never sent).
      session.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    ready.catch(() => this.#sessions.delete(session));
    this.#sessions.set(session, { open: 0, ready });
    session.once('close', () => this.#sessions.delete(session));
    // After GOAWAY the session takes no new streams; those open finish on it.
    session.once('goaway', () => this.#sessions.delete(session));
    // Errors after connecting also reach the open streams; this keeps one from crashing the process.
    session.on('error', () => this.#sessions.delete(session));
    session.setTimeout(this.#options.idleTimeoutMs, () => {
      if ((this.#sessions.get(session)?.open ?? 0) === 0) session.close();
    });
    return session;
  }
}

function withoutPseudo(headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith(':')) out[name] = value;
  return out;
}
