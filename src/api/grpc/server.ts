import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { KeelNode } from '../../node/keel-node.js';
import { REQUEST_BYTES_MAX } from '../../store/limits.js';
import { etcdServices } from './proto.js';
import { serviceImplementations } from './services.js';
import { recipeImplementations } from './recipes.js';

/**
 * The grpc-js server behind the client port. The client port hands it most
 * gRPC connections as they are, through grpc-js's connection injector
 * (Server.createConnectionInjector, public since grpc-js 1.10); it also
 * listens on an ephemeral 127.0.0.1 port that only client-port.ts connects
 * to, for the connections that need the :authority rewriter (see there).
 */

/**
 * etcd accepts gRPC messages up to --max-request-bytes plus 512 KiB of
 * overhead, so a request just over 1.5 MiB reaches the server and gets
 * "etcdserver: request is too large" (InvalidArgument) rather than
 * grpc's own RESOURCE_EXHAUSTED; keel draws the same two lines.
 */
export const GRPC_RECEIVE_BYTES_MAX = REQUEST_BYTES_MAX + 512 * 1024;
/** How long a graceful shutdown waits for in-flight calls before cutting them (deployment stop timeouts allow for it: deploy/, test/deploy). */
export const SHUTDOWN_GRACE_MS = 5_000;

export interface GrpcBackend {
  /** The loopback port grpc-js listens on. */
  readonly port: number;
  /**
   * Serves HTTP/2 on a connection the client port accepted, as if grpc-js had
   * accepted it: a socket (TCP or TLS) whose JavaScript read buffer may hold
   * bytes already read (the client preface and more), which Node's HTTP/2
   * session reads first.
   */
  adopt(connection: Duplex): void;
  /** Finishes in-flight calls (bounded by SHUTDOWN_GRACE_MS), refusing new ones. */
  shutdown(): Promise<void>;
  /** Cuts every call now. */
  forceShutdown(): void;
}

export async function startGrpcBackend(node: KeelNode): Promise<GrpcBackend> {
  const server = new Server({
    'grpc.max_receive_message_length': GRPC_RECEIVE_BYTES_MAX,
    'grpc.max_send_message_length': -1,
  });
  const services = etcdServices();
  const implementations = serviceImplementations(node);
  server.addService(services.KV.service, implementations.KV);
  server.addService(services.Maintenance.service, implementations.Maintenance);
  server.addService(services.Cluster.service, implementations.Cluster);
  server.addService(services.Watch.service, implementations.Watch);
  server.addService(services.Lease.service, implementations.Lease);
  server.addService(services.Auth.service, implementations.Auth);
  const recipes = recipeImplementations(node);
  server.addService(services.Lock.service, recipes.Lock);
  server.addService(services.Election.service, recipes.Election);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  return {
    port,
    adopt: (connection) => injector.injectConnection(connection),
    shutdown: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
    forceShutdown: () => server.forceShutdown(),
  };
}
