/**
 * A set of raw grpc-js connections to etcd's v3 gRPC API, the same client
 * for keel and etcd so the client's cost is identical on both sides. Like
 * etcd's `benchmark` tool (`--conns`, `--clients`), `conns` connections are
 * opened and client i multiplexes its calls on connection i mod conns;
 * connection j goes to endpoint j mod endpoints (spread over the members).
 *
 * Each connection is its own grpc-js Channel with a local subchannel pool:
 * grpc-js otherwise shares one TCP connection between every channel with
 * the same target and options, and `--conns` would be a no-op.
 *
 * With `tls`, every connection is gRPC over TLS (ALPN h2) presenting the
 * client certificate, for members that demand one (--client-cert-auth).
 */
import { Channel, type Client, type ClientDuplexStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdServices } from '../../src/api/grpc/proto.js';
import type { Message } from '../../src/api/grpc/codec.js';

/** Connections one set may open. */
export const CONNS_MAX = 1_024;

type UnaryMethod = (request: Message, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, response: Message) => void) => void;

interface Connection {
  readonly channel: Channel;
  readonly kv: Client;
  readonly watch: Client;
}

export interface GrpcConns {
  /** One unary KV call (Put, Range, Txn, ...) on client `client`'s connection; rejects on a gRPC error or after `timeoutMs`. */
  kv(client: number, method: 'Put' | 'Range' | 'Txn', request: Message, timeoutMs: number): Promise<Message>;
  /** A new Watch stream on client `client`'s connection. */
  watch(client: number): ClientDuplexStream<Message, Message>;
  readonly size: number;
  close(): void;
}

/** "http://127.0.0.1:2379" → "127.0.0.1:2379": keel's HTTP/2 stack resets streams whose :authority holds a '/' (see src/api/client-port.ts). */
export function grpcAddress(endpoint: string): string {
  const url = new URL(endpoint);
  return url.host;
}

/**
 * Over TLS, the name sent as SNI and checked against the certificate: the
 * bench certificates carry localhost (and 127.0.0.1), and grpc-js would
 * otherwise send the IP as SNI, which RFC 6066 forbids and Node warns about.
 * It changes neither the address dialled nor :authority.
 */
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost' };

/** The PEM material of a TLS client: the CA to trust, and the certificate and key to present. */
export interface GrpcTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function openConns(endpoints: readonly string[], conns: number, tls?: GrpcTls): GrpcConns {
  if (endpoints.length === 0) throw new Error('no endpoints');
  if (!Number.isInteger(conns) || conns < 1 || conns > CONNS_MAX) throw new Error(`conns must be an integer in [1, ${CONNS_MAX}]`);
  const services = etcdServices();
  const channelCredentials = tls === undefined ? credentials.createInsecure() : credentials.createSsl(tls.ca, tls.key, tls.cert);
  const connections: Connection[] = Array.from({ length: conns }, (_, index) => {
    const address = grpcAddress(endpoints[index % endpoints.length]!);
    const channel = new Channel(address, channelCredentials, { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...TLS_NAME });
    return { channel, kv: new services.KV(address, channelCredentials, { channelOverride: channel }), watch: new services.Watch(address, channelCredentials, { channelOverride: channel }) };
  });
  const connectionOf = (client: number): Connection => connections[client % connections.length]!;
  return {
    size: conns,
    kv: (client, method, request, timeoutMs) =>
      new Promise((resolve, reject) => {
        const kv = connectionOf(client).kv as unknown as Record<string, UnaryMethod>;
        kv[method]!.call(kv, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolve(response)));
      }),
    watch: (client) => (connectionOf(client).watch as unknown as { Watch(): ClientDuplexStream<Message, Message> }).Watch(),
    close: () => {
      for (const connection of connections) {
        connection.kv.close();
        connection.watch.close();
        connection.channel.close();
      }
    },
  };
}
