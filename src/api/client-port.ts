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
import { hopsOf, identityOfSocket } from './auth/client-identity.js';
import type { HopIdentities } from './auth/client-identity.js';
import { GrpcHop } from './grpc-hop.js';

/**
 * The client port serves etcd's gRPC API and its JSON gateway on one
 * address, as etcd does on 2379. Each connection is classified by its first
 * bytes: the HTTP/2 connection preface (gRPC clients speak cleartext HTTP/2
 * with prior knowledge) goes to gRPC, anything else to the HTTP/1.1 server.
 *
 * Why gRPC runs in grpc-js on a loopback port and sniffed sockets are piped
 * to it, instead of serving gRPC ourselves on node:http2: grpc-js's Server
 * cannot adopt a socket, and re-implementing gRPC's server side (framing,
 * compression flags, deadlines, trailers, flow control, and the streaming
 * calls Watch and LeaseKeepAlive will need) would be a second protocol
 * stack to keep correct. The price is one loopback hop per gRPC connection
 * (not per call: HTTP/2 multiplexes calls on it), with TCP_NODELAY on both
 * legs so small frames are not held back. The hop (grpc-hop.ts) passes each
 * side's FIN on after its last byte and lets the other direction drain, as
 * a direct TCP connection would.
 *
 * Node's HTTP/2 stack (nghttp2) resets a stream whose :authority holds a
 * '/', which etcd's Go client sends when it dials one endpoint given as a
 * URL (`etcdctl --endpoints=http://h:p endpoint status`); grpc-go servers
 * ignore it. So the client-to-server direction of this hop passes an HPACK
 * rewriter (h2/authority-rewrite.ts) that fixes such authorities and leaves
 * every other byte alone.
 *
 * With TLS (etcd's --cert-file/--key-file) the port is a TLS server that
 * offers ALPN h2 and http/1.1; the decrypted stream goes through the same
 * classification, so gRPC over TLS (ALPN h2) and the JSON gateway over
 * HTTPS share the port as they do in cleartext. Client certificates, when
 * asked for, are verified during the handshake: an untrusted client never
 * gets a byte to the API.
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
  const proxied = new Set<GrpcHop>();
  const onSocket = (socket: Socket): void => classify(socket, http, grpc, { proxied, hops: hopsOf(node), log });
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
  return clientPort(listener, http, grpc, proxied, tls);
}

function secureListener(tls: ClientPortTls, onSecure: (socket: TLSSocket) => void): Server {
  // A failed or malformed handshake only ends that connection (Node emits tlsClientError and destroys the socket).
  const server = createTlsServer({ ...tls.options(), ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: true, handshakeTimeout: CLASSIFY_TIMEOUT_MS }, onSecure);
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket: TLSSocket) => socket.setNoDelay(true));
  return server;
}

function clientPort(listener: Server, http: HttpServer, grpc: GrpcBackend, proxied: Set<GrpcHop>, tls: ClientPortTls | undefined): ClientPort {
  return {
    address: listener.address() as AddressInfo,
    close: () => {
      listener.close();
      http.close();
      http.closeIdleConnections();
    },
    destroy: async () => {
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
  readonly hops: HopIdentities;
  readonly log: Logger;
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
    if (isPreface) pipeToGrpc(socket, seen, grpc.port, grpcHops);
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

function pipeToGrpc(socket: Socket, seen: Buffer, port: number, { proxied, hops, log }: GrpcHops): void {
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
