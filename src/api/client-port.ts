import { connect, createServer } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { KeelNode } from '../node/keel-node.js';
import type { Logger } from '../node/logger.js';
import { startGrpcBackend } from './grpc/server.js';
import type { GrpcBackend } from './grpc/server.js';
import { createApiServer } from './http-server.js';
import { AuthorityRewriter } from './h2/authority-rewrite.js';
import { AuthorityProbe, SERVER_SETTINGS_FRAME } from './h2/authority-probe.js';
import { hopsOf, identityOfSocket } from './auth/client-identity.js';
import type { HopIdentities } from './auth/client-identity.js';
import { GrpcHop } from './grpc-hop.js';
import { GRPC_PROBE_TIMEOUT_MS } from './limits.js';

/**
 * The client port serves etcd's gRPC API and its JSON gateway on one
 * address, as etcd does on 2379. Each connection is classified by its first
 * bytes: the HTTP/2 connection preface (gRPC clients speak cleartext HTTP/2
 * with prior knowledge) goes to gRPC, anything else to the HTTP/1.1 server.
 *
 * gRPC is grpc-js's: re-implementing gRPC's server side (framing,
 * compression flags, deadlines, trailers, flow control, the streaming calls
 * Watch and LeaseKeepAlive) would be a second protocol stack to keep
 * correct. A gRPC connection is handed to grpc-js's HTTP/2 server as it is
 * (grpc-js's connection injector, grpc/server.ts): Node's HTTP/2 session
 * then reads and writes the socket natively, and no byte of it passes
 * through JavaScript here again.
 *
 * Except for one quirk. Node's HTTP/2 stack (nghttp2) resets a stream whose
 * :authority holds a '/', which etcd's Go client sends when it dials one
 * endpoint given as a URL (`etcdctl --endpoints=http://h:p endpoint
 * status`); grpc-go servers ignore it. Such a connection must pass an HPACK
 * rewriter (h2/authority-rewrite.ts) that fixes those authorities, and
 * which one it is shows only in its first request. So the port answers the
 * client preface itself with an empty SETTINGS frame, which lets a client
 * that waits for the server's preface (grpc-go) send its first request, and
 * reads up to that request (h2/authority-probe.ts, which also takes the
 * client's ACK of that SETTINGS frame out of the stream and answers PINGs
 * meanwhile). A first :authority without '/' -> the socket goes to grpc-js
 * with the bytes read so far put back; one with '/' -> the connection is
 * piped through a loopback hop to grpc-js's listener on 127.0.0.1 with the
 * rewriter on the client-to-server direction (grpc-hop.ts: it passes each
 * side's FIN on after its last byte and lets the other direction drain, as
 * a direct TCP connection would). The hop also takes a connection whose
 * first request does not come within GRPC_PROBE_TIMEOUT_MS (the rewriter is
 * right for any client), and a TLS connection that did not negotiate ALPN
 * h2 (Node's HTTP/2 server refuses those).
 *
 * Measured (README, bench:kv-grpc's serializable range at 64 clients,
 * members under node --cpu-prof): when every gRPC connection took the hop,
 * it cost each call a read in JavaScript, two more socket writes and the
 * rewriter, ~15% of a member's CPU. A connection that takes it now pays
 * that still; one that does not pays only the probe, once.
 *
 * With TLS (etcd's --cert-file/--key-file) the port is a TLS server that
 * offers ALPN h2 and http/1.1; the decrypted stream goes through the same
 * classification, so gRPC over TLS (ALPN h2) and the JSON gateway over
 * HTTPS share the port as they do in cleartext. Client certificates, when
 * asked for, are verified during the handshake: an untrusted client never
 * gets a byte to the API. A call's identity (address, certificate CN) is
 * its own socket's when grpc-js has the socket, and the hop's record when
 * it came over a hop (auth/client-identity.ts).
 */

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A connection that has not said enough to be classified within this is closed (the HTTP server's header timeout). */
const CLASSIFY_TIMEOUT_MS = 10_000;
export interface ClientPort {
  readonly address: AddressInfo;
  /** Stops accepting connections and closes idle HTTP ones; in-flight requests go on. */
  close(): void;
  /** Waits for in-flight gRPC calls (bounded), then cuts every remaining connection. */
  destroy(): Promise<void>;
  /** Re-reads the TLS options (certificate rotation) for new connections; open ones keep theirs. No-op in cleartext. */
  reloadTls(): void;
}

/** TLS for the client port; `options` is called at listen and again by reloadTls(). */
export interface ClientPortTls {
  options: () => TlsOptions;
}

/** Listens on host:port for both protocols; `log` gets what goes wrong on a connection's gRPC hop. */
export async function listenClientPort(node: KeelNode, host: string, port: number, log: Logger, tls?: ClientPortTls): Promise<ClientPort> {
  const http = createApiServer(node);
  // The HTTP server never listens itself; its request/header timeout sweep starts on 'listening'.
  http.emit('listening');
  const grpc = await startGrpcBackend(node);
  const grpcHops: GrpcHops = {
    proxied: new Set<GrpcHop>(),
    probing: new Set<Socket>(),
    hops: hopsOf(node),
    log,
    counted: (path) => node.metrics.grpcConnections.inc({ path }),
  };
  const onSocket = (socket: Socket): void => classify(socket, http, grpc, grpcHops);
  const listener = tls ? secureListener(tls, onSocket) : createServer({ noDelay: true }, onSocket);
  listener.on('connection', (socket: Socket) => node.metrics.trackClientSocket(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => resolve());
    });
  } catch (error) {
    grpc.forceShutdown();
    throw error;
  }
  return clientPort(listener, http, grpc, grpcHops, tls);
}

function secureListener(tls: ClientPortTls, onSecure: (socket: TLSSocket) => void): Server {
  // A failed or malformed handshake only ends that connection (Node emits tlsClientError and destroys the socket).
  const server = createTlsServer({ ...tls.options(), ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: true, handshakeTimeout: CLASSIFY_TIMEOUT_MS }, onSecure);
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket: TLSSocket) => socket.setNoDelay(true));
  return server;
}

function clientPort(listener: Server, http: HttpServer, grpc: GrpcBackend, { proxied, probing }: GrpcHops, tls: ClientPortTls | undefined): ClientPort {
  return {
    address: listener.address() as AddressInfo,
    close: () => {
      listener.close();
      http.close();
      http.closeIdleConnections();
    },
    destroy: async () => {
      // A connection still being probed has no call in flight.
      for (const socket of probing) socket.destroy();
      await grpc.shutdown();
      http.closeAllConnections();
      for (const hop of proxied) hop.destroy();
    },
    reloadTls: () => {
      if (tls) (listener as unknown as { setSecureContext(options: TlsOptions): void }).setSecureContext(tls.options());
    },
  };
}

/** What the gRPC side of the client port shares between connections. */
interface GrpcHops {
  /** The open hops, cut by ClientPort.destroy(). */
  readonly proxied: Set<GrpcHop>;
  /** gRPC connections whose first request the probe still waits for, cut by ClientPort.destroy(). */
  readonly probing: Set<Socket>;
  readonly hops: HopIdentities;
  readonly log: Logger;
  /** Counts a connection handed on, by the path it took. */
  readonly counted: (path: 'direct' | 'hop') => void;
}

function classify(socket: Socket, http: HttpServer, grpc: GrpcBackend, grpcHops: GrpcHops): void {
  let seen = Buffer.alloc(0);
  socket.setTimeout(CLASSIFY_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, HTTP2_PREFACE.length);
    const isPreface = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (isPreface && seen.length < HTTP2_PREFACE.length) return; // too early to tell: wait for more
    socket.off('data', onData);
    socket.setTimeout(0);
    socket.pause();
    if (isPreface) probeGrpc(socket, seen.subarray(HTTP2_PREFACE.length), grpc, grpcHops);
    else handToHttp(socket, seen, http);
  };
  socket.on('data', onData);
}

function handToHttp(socket: Socket, seen: Buffer, http: HttpServer): void {
  socket.removeAllListeners('error');
  socket.unshift(seen);
  http.emit('connection', socket);
  socket.resume();
}

/** Reads a gRPC connection up to its first request, then hands it to grpc-js or to the hop (see the comment at the top). */
function probeGrpc(socket: Socket, afterPreface: Buffer, grpc: GrpcBackend, grpcHops: GrpcHops): void {
  const { probing, log } = grpcHops;
  const probe = new AuthorityProbe();
  probing.add(socket);
  const stop = (): void => {
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.setTimeout(0);
    socket.pause();
    probing.delete(socket);
  };
  const onClose = (): void => {
    stop();
  };
  const onData = (chunk: Buffer): void => {
    let replies: Buffer[];
    try {
      replies = probe.push(chunk);
    } catch (error) {
      log.debug('a gRPC connection failed its probe; closing it', { error: (error as Error).message });
      stop();
      socket.destroy();
      return;
    }
    for (const reply of replies) socket.write(reply);
    const decision = probe.decision;
    if (decision === undefined) return;
    stop();
    const bytes = Buffer.concat([HTTP2_PREFACE, probe.take()]);
    // Node's HTTP/2 server refuses a TLS socket without ALPN h2 (an h2 client with prior knowledge over TLS); the hop does
    // not mind. A reply still queued in the socket's JavaScript buffer could go out behind, or between, the frames
    // Node's HTTP/2 session writes natively; through the hop it goes first.
    if (decision === 'direct' && (socket as Partial<TLSSocket>).alpnProtocol !== false && socket.writableLength === 0) {
      grpcHops.counted('direct');
      adoptByGrpc(socket, bytes, grpc);
    } else {
      pipeToGrpc(socket, bytes, grpc.port, grpcHops);
    }
  };
  socket.setTimeout(GRPC_PROBE_TIMEOUT_MS, () => {
    stop();
    // The client acknowledged the port's SETTINGS (the probe holds nothing back that grpc-js must not see): the hop serves any client.
    if (probe.settingsAcknowledged) pipeToGrpc(socket, Buffer.concat([HTTP2_PREFACE, probe.take()]), grpc.port, grpcHops);
    else socket.destroy();
  });
  socket.on('close', onClose);
  socket.on('data', onData);
  socket.write(SERVER_SETTINGS_FRAME);
  if (afterPreface.length > 0) onData(afterPreface);
  if (probing.has(socket)) socket.resume();
}

/** grpc-js's HTTP/2 session takes the socket over and reads `seen` (put back into the socket's buffer) first. */
function adoptByGrpc(socket: Socket, seen: Buffer, grpc: GrpcBackend): void {
  socket.removeAllListeners('error'); // Node's HTTP/2 session handles errors from here on
  socket.unshift(seen);
  grpc.adopt(socket);
}

/** `seen`: the client's bytes so far, preface first, then the probe's kept frames. */
function pipeToGrpc(socket: Socket, seen: Buffer, port: number, { proxied, hops, log, counted }: GrpcHops): void {
  counted('hop');
  socket.removeAllListeners('error'); // the hop handles errors from here on
  const upstream = connect({ port, host: '127.0.0.1', noDelay: true });
  // The hop's identity is known to grpc-js handlers by the hop's local port (see auth/client-identity.ts). This
  // listener runs before the writes below are flushed (Node sends data written while connecting after 'connect').
  const identity = identityOfSocket(socket);
  let hopPort: number | undefined;
  upstream.once('connect', () => {
    hopPort = upstream.localPort;
    if (hopPort !== undefined) hops.register(hopPort, identity);
  });
  // The preface goes as it is; the frames after it pass the :authority rewriter (see h2/authority-rewrite.ts).
  upstream.write(seen.subarray(0, HTTP2_PREFACE.length));
  const rewriter = new AuthorityRewriter();
  if (seen.length > HTTP2_PREFACE.length) rewriter.write(seen.subarray(HTTP2_PREFACE.length));
  const hop = new GrpcHop(socket, upstream, {
    log,
    inbound: rewriter,
    onEnd: () => {
      if (hopPort !== undefined) hops.forget(hopPort, identity);
      proxied.delete(hop);
    },
  });
  proxied.add(hop);
}
