import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import type { Options } from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';

/**
 * Loads etcd's .proto files from the package's proto/ folder. The folder
 * sits at the package root both for src/ (tsx) and dist/src/ (the built
 * binary), at different depths, so it is found by walking up.
 */

/** How many parent folders to try before giving up (src/api/grpc and dist/src/api/grpc are 3 and 4 deep). */
const PROTO_SEARCH_DEPTH_MAX = 6;

/**
 * keepCase: field names as on the wire (snake_case), which is what etcd's
 * docs and grpc-gateway use. longs: String keeps int64/uint64 exact (lease
 * and member ids use all 64 bits). defaults + oneofs: every field is present
 * and a oneof names its set member, so handlers need no presence checks.
 */
export const PROTO_LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true };

export function protoDirectory(): string {
  let directory = import.meta.dirname;
  for (let depth = 0; depth < PROTO_SEARCH_DEPTH_MAX; depth++) {
    const candidate = join(directory, 'proto');
    if (existsSync(join(candidate, 'rpc.proto'))) return candidate;
    directory = dirname(directory);
  }
  throw new Error(`proto/rpc.proto not found above ${import.meta.dirname}`);
}

export interface EtcdServices {
  readonly KV: ServiceClientConstructor;
  readonly Watch: ServiceClientConstructor;
  readonly Lease: ServiceClientConstructor;
  readonly Cluster: ServiceClientConstructor;
  readonly Maintenance: ServiceClientConstructor;
  readonly Auth: ServiceClientConstructor;
  /** v3lockpb.Lock */
  readonly Lock: ServiceClientConstructor;
  /** v3electionpb.Election */
  readonly Election: ServiceClientConstructor;
}

let loaded: EtcdServices | undefined;

/** etcdserverpb's services (loaded once per process). */
export function etcdServices(): EtcdServices {
  if (loaded) return loaded;
  const definition = loadSync(['rpc.proto', 'v3lock.proto', 'v3election.proto'], { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDirectory()] });
  const root = loadPackageDefinition(definition);
  const etcd = root.etcdserverpb as GrpcObject;
  const service = (name: 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth'): ServiceClientConstructor => etcd[name] as ServiceClientConstructor;
  loaded = {
    KV: service('KV'),
    Watch: service('Watch'),
    Lease: service('Lease'),
    Cluster: service('Cluster'),
    Maintenance: service('Maintenance'),
    Auth: service('Auth'),
    Lock: (root.v3lockpb as GrpcObject).Lock as ServiceClientConstructor,
    Election: (root.v3electionpb as GrpcObject).Election as ServiceClientConstructor,
  };
  return loaded;
}
