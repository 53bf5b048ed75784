import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { GatewayConfig, ListenerConfig } from './config.js';
import { FastConnection, type FastRequest, type FastResponse } from './http1/connection.js';
import { H2_SESSION_MEMORY_MB, H2_STREAMS_PER_SESSION_MAX } from './limits.js';
import { type HandshakeFailure, type TlsMaterial, tlsListenerServer } from './tls-listener.js';

/**
 * The gateway's listeners: HTTP/1.1, HTTP/2 over cleartext (h2c, prior
 * knowledge), or both on one port (`auto`, told apart by the HTTP/2
 * connection preface as Envoy's codec_type AUTO does). Every kind offers the
 * same handles, so drain, reload and close treat them alike.
 */

type Limits = GatewayConfig['limits'];

/** What a listener asks of the gateway. */
export interface ListenerHooks {
  handle(request: IncomingMessage, response: ServerResponse): void;
  /** An HTTP/1.1 request with `Connection: Upgrade` (node:http has let go of the socket; `head` holds bytes read past the request head). */
  handleUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void;
  /** The fast path's request (http1 listeners with engine fast). */
  handleFast(request: FastRequest, response: FastResponse): void;
  /** Whether the fast path must hand every request to node:http (the config routes to h2c clusters). */
  prefersNode(): boolean;
  /** Counts a new connection against the per-client limits; false when it was refused (and destroyed). */
  admit(socket: Socket): boolean;
  /** Whether the gateway is draining (a new HTTP/2 session then gets GOAWAY at once). */
  draining(): boolean;
  /** A TLS handshake failed (bad ClientHello, no common protocol or version, timeout, a client certificate missing or untrusted). */
  tlsHandshakeFailed(reason: HandshakeFailure): void;
}

/** A bound listener, whatever its protocol. */
export interface Listening {
  /** What the config asked for (port 0 stays 0 here; `server.address()` has the bound port). */
  readonly spec: ListenerConfig;
  readonly server: { address(): AddressInfo | string | null; once(event: 'close', listener: () => void): unknown };
  /** Drain: accept nothing new, close idle connections, let in-flight requests finish. */
  stopAccepting(): void;
  /** Closes connections idle now (HTTP/1.1 keep-alive between requests); HTTP/2 sessions already got GOAWAY. */
  closeIdle(): void;
  /** Cut every connection now. */
  closeAll(): void;
  /** Applies a reloaded config's connection limits (all but maxHeaderBytes, fixed when the listener was bound). */
  applyLimits(limits: Limits): void;
  /** Swaps a TLS listener's certificates (re-read on reload); cleartext listeners ignore it. */
  applyTls(material: TlsMaterial | undefined): void;
}

/** Listeners are the same across a reload when protocol, host and configured port are. */
export function listenerKey(spec: ListenerConfig): string {
  return `${spec.protocol} ${spec.host} ${spec.port}${spec.tls ? ' tls' : ''}`;
}

/** What every HTTP/2 connection starts with (RFC 9113 section 3.4); an HTTP/1.1 request line cannot. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * The protocol a connection speaks, from its first bytes: 'h2c' once they
 * hold the whole HTTP/2 preface, 'http1' as soon as they differ from it,
 * undefined while they are a proper prefix of it (wait for more).
 */
export function sniffProtocol(head: Buffer): 'h2c' | 'http1' | undefined {
  const length = Math.min(head.length, H2_PREFACE.length);
  if (!head.subarray(0, length).equals(H2_PREFACE.subarray(0, length))) return 'http1';
  return length === H2_PREFACE.length ? 'h2c' : undefined;
}

/** Binds one listener (`material`: its certificates, loaded, when it has `tls`); rejects when the address cannot be bound. */
export async function bindListener(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material?: TlsMaterial): Promise<Listening> {
  switch (spec.protocol) {
    case 'http1': return bindHttp1(spec, limits, hooks, material);
    case 'h2c': return bindH2c(spec, limits, hooks, material);
    case 'auto': return bindAuto(spec, limits, hooks, material);
  }
}

/** The server that accepts a listener's connections. */
interface Acceptor {
  readonly outer: NetServer;
  applyTls(material: TlsMaterial | undefined): void;
}

/**
 * Accepts connections for `spec`: plain TCP, or TLS when the spec has
 * `tls`, in which case `onSocket` gets the TLSSocket after its handshake (a
 * Duplex with the same reads, writes, pause and unshift as a TCP socket, so
 * the fast path and node's servers serve it unchanged). Either way every
 * TCP connection is admitted (per-client limits) before anything else.
 */
function acceptor(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material: TlsMaterial | undefined, onSocket: (socket: Socket) => void, noDelay = false): Acceptor {
  if (spec.tls === undefined || material === undefined) {
    const outer = createNetServer({ allowHalfOpen: true, noDelay }, (socket) => {
      if (hooks.admit(socket)) onSocket(socket);
    });
    return { outer, applyTls: () => {} };
  }
  const tls = tlsListenerServer({ ...spec, tls: spec.tls }, material, limits.headersTimeoutMs, (socket) => hooks.admit(socket), onSocket, (reason) => hooks.tlsHandshakeFailed(reason));
  return { outer: tls.server, applyTls: (next) => next && tls.update(next) };
}

async function bindHttp1(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material: TlsMaterial | undefined): Promise<Listening> {
  if (spec.engine === 'fast') return bindFast(spec, limits, hooks, material);
  if (spec.tls !== undefined) {
    // node:http serves the sockets the TLS server hands it, as https.Server does.
    const http1 = http1Server(limits, hooks);
    http1.emit('listening');
    const accepting = acceptor(spec, limits, hooks, material, (socket) => http1.emit('connection', socket));
    accepting.outer.maxConnections = limits.maxConnections;
    await bind(accepting.outer, spec);
    return { ...handles(spec, accepting.outer, http1, undefined), applyTls: accepting.applyTls };
  }
  const server = http1Server(limits, hooks);
  server.on('connection', (socket: Socket) => hooks.admit(socket));
  await bind(server, spec);
  return handles(spec, server, server, undefined);
}

/**
 * HTTP/2 over cleartext (prior knowledge) through node:http2's
 * compatibility API, whose request and response objects the chain uses
 * like HTTP/1's. Connection limits are the same; an idle session is closed
 * after keepAliveTimeoutMs; streams per session are bounded. Draining
 * sends GOAWAY so clients open no new streams while in-flight ones finish.
 */
async function bindH2c(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material: TlsMaterial | undefined): Promise<Listening> {
  const http2 = h2cServer(limits, hooks);
  if (spec.tls !== undefined) {
    // HTTP/2 over TLS (ALPN h2 only): node:http2 sets a session up on each TLSSocket handed to it.
    const accepting = acceptor(spec, limits, hooks, material, (socket) => http2.server.emit('connection', socket));
    accepting.outer.maxConnections = limits.maxConnections;
    await bind(accepting.outer, spec);
    return { ...handles(spec, accepting.outer, undefined, http2), applyTls: accepting.applyTls };
  }
  http2.server.on('connection', (socket: Socket) => hooks.admit(socket));
  await bind(http2.server, spec);
  return handles(spec, http2.server, undefined, http2);
}

/**
 * The handles of a listener: `outer` accepts connections; they are served
 * by `http1` and/or the HTTP/2 server (either may be `outer` itself).
 */
function handles(spec: ListenerConfig, outer: NetServer, http1: Http1Server | undefined, http2: H2c | undefined): Listening {
  return {
    spec,
    server: outer,
    stopAccepting: () => {
      outer.close();
      http1?.closeIdleConnections();
      for (const session of http2?.sessions ?? []) session.close();
    },
    closeIdle: () => http1?.closeIdleConnections(),
    closeAll: () => {
      outer.close();
      http1?.closeAllConnections();
      // One fed sockets by `outer` stops its timeout checks only when closed itself.
      if (http1 !== undefined && http1 !== outer) http1.close();
      for (const session of http2?.sessions ?? []) session.destroy();
    },
    applyLimits: (next) => {
      outer.maxConnections = next.maxConnections;
      if (http1) applyHttp1Limits(http1, next);
      http2?.server.setTimeout(next.keepAliveTimeoutMs);
    },
    applyTls: () => {},
  };
}

/**
 * HTTP/1.1 and h2c on one port. A plain TCP server accepts, reads until the
 * first bytes match or leave the HTTP/2 preface, puts them back and hands
 * the socket to an HTTP/1.1 or an HTTP/2 server that never listens itself.
 * A connection that sends too little to decide within headersTimeoutMs is
 * closed (the slowloris bound of the HTTP/1.1 listener).
 */
async function bindAuto(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material: TlsMaterial | undefined): Promise<Listening> {
  let current = limits;
  const http1 = http1Server(limits, hooks);
  // Node starts checking headersTimeout/requestTimeout when an HTTP server
  // emits 'listening'; this one is fed sockets instead, so say it is.
  http1.emit('listening');
  const http2 = h2cServer(limits, hooks);
  // Half-open as node:http's own server is: a client may send its request and FIN, then read the answer.
  const accepting = acceptor(spec, limits, hooks, material, (socket) => {
    if ((socket as Partial<TLSSocket>).alpnProtocol === 'h2') {
      // ALPN already chose HTTP/2: no preface to wait for.
      socket.allowHalfOpen = false;
      http2.server.emit('connection', socket);
      return;
    }
    let head = Buffer.alloc(0);
    const undecided = setTimeout(() => socket.destroy(), current.headersTimeoutMs);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const protocol = sniffProtocol(head);
      if (protocol === undefined) return;
      clearTimeout(undecided);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      if (protocol === 'h2c') {
        // As node:http2's own server: a FIN from the client ends the connection.
        socket.allowHalfOpen = false;
        // The HTTP/2 session reads what was put back itself; resuming here would hand those bytes to nobody.
        http2.server.emit('connection', socket);
      } else {
        http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    // A client that ends before its first bytes decide anything gets nothing more either.
    socket.once('end', () => {
      if (sniffProtocol(head) === undefined) socket.destroy();
    });
    socket.once('close', () => clearTimeout(undecided));
    socket.on('error', () => socket.destroy());
  });
  const outer = accepting.outer;
  outer.maxConnections = limits.maxConnections;
  await bind(outer, spec);
  const listening = handles(spec, outer, http1, http2);
  return {
    ...listening,
    applyLimits: (next) => {
      current = next;
      listening.applyLimits(next);
    },
    applyTls: accepting.applyTls,
  };
}

/**
 * The fast path: a plain TCP server whose connections are read by
 * FastConnection. What it leaves to node:http (Upgrade, Expect, HTTP/1.0,
 * configs with h2c clusters) is handed, bytes put back, to a node:http
 * server that never listens itself (as `auto` does). Timeouts (headers,
 * keep-alive) are checked by one sweep per listener, not a timer per request.
 */
async function bindFast(spec: ListenerConfig, limits: Limits, hooks: ListenerHooks, material: TlsMaterial | undefined): Promise<Listening> {
  let current = limits;
  const http1 = http1Server(limits, hooks);
  http1.emit('listening');
  const connections = new Set<FastConnection>();
  const connectionHooks = {
    handle: (request: FastRequest, response: FastResponse) => hooks.handleFast(request, response),
    handOff: (socket: Socket, bytes: Buffer) => {
      for (const connection of connections) if (connection.socket === socket) connections.delete(connection);
      socket.pause();
      socket.unshift(bytes);
      http1.emit('connection', socket);
      socket.resume();
    },
    maxHeadBytes: () => current.maxHeaderBytes,
    draining: () => hooks.draining(),
    prefersNode: () => hooks.prefersNode(),
  };
  const accepting = acceptor(spec, limits, hooks, material, (socket) => {
    const connection = new FastConnection(socket, connectionHooks, performance.now());
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  }, true);
  const outer = accepting.outer;
  outer.maxConnections = limits.maxConnections;
  const sweepMs = () => Math.max(50, Math.min(1_000, Math.floor(current.headersTimeoutMs / 4)));
  let sweep = setInterval(function tick() {
    const nowMs = performance.now();
    for (const connection of connections) connection.sweep(nowMs, current.headersTimeoutMs, current.keepAliveTimeoutMs);
  }, sweepMs());
  sweep.unref();
  outer.once('close', () => clearInterval(sweep));
  await bind(outer, spec);
  const listening = handles(spec, outer, http1, undefined);
  const closeIdle = () => {
    for (const connection of connections) connection.closeIfIdle();
    http1.closeIdleConnections();
  };
  return {
    ...listening,
    stopAccepting: () => {
      listening.stopAccepting();
      closeIdle();
    },
    closeIdle,
    closeAll: () => {
      listening.closeAll();
      clearInterval(sweep);
      for (const connection of connections) connection.socket.destroy();
    },
    applyLimits: (next) => {
      current = next;
      listening.applyLimits(next);
      clearInterval(sweep);
      sweep = setInterval(() => {
        const nowMs = performance.now();
        for (const connection of connections) connection.sweep(nowMs, current.headersTimeoutMs, current.keepAliveTimeoutMs);
      }, sweepMs());
      sweep.unref();
    },
    applyTls: accepting.applyTls,
  };
}

function http1Server(limits: Limits, hooks: ListenerHooks): Http1Server {
  const server = createHttp1Server({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // Node checks the two timeouts on this interval; a slowloris connection lives at most timeout + interval
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
  }, (request, response) => hooks.handle(request, response));
  server.maxConnections = limits.maxConnections;
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => hooks.handleUpgrade(request, socket, head));
  return server;
}

function applyHttp1Limits(server: Http1Server, limits: Limits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
}

/** An HTTP/2 server and its open sessions (to GOAWAY or destroy them). */
interface H2c {
  readonly server: Http2Server;
  readonly sessions: Set<Http2Session>;
}

function h2cServer(limits: Limits, hooks: ListenerHooks): H2c {
  const sessions = new Set<Http2Session>();
  const server = createHttp2Server(
    { maxSessionMemory: H2_SESSION_MEMORY_MB, settings: { maxConcurrentStreams: H2_STREAMS_PER_SESSION_MAX, maxHeaderListSize: limits.maxHeaderBytes } },
    (request, response) => hooks.handle(request as unknown as IncomingMessage, response as unknown as ServerResponse),
  );
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.keepAliveTimeoutMs);
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (hooks.draining()) session.close();
  });
  return { server, sessions };
}

function bind(server: NetServer, spec: ListenerConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    // Kept after binding: a later accept error (EMFILE) then settles nothing instead of crashing the process.
    server.on('error', reject);
    server.listen(spec.port, spec.host, () => resolve());
  });
}
