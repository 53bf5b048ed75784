/**
 * A VU's gRPC client over grpc-js: unary calls to a service described by a
 * proto file, one channel per VU and address (a local subchannel pool, so
 * each VU holds its own HTTP/2 connection instead of grpc-js sharing one).
 * A failed call resolves with its status code and message; it is counted in
 * grpc_req_failed, never thrown.
 */
import { credentials, loadPackageDefinition, Metadata, status as grpcStatus, type Client, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { resolve } from 'node:path';
import { cachedOrCreated } from './bounded-cache.js';
import type { Clock } from './clock.js';
import { badInput } from './errors.js';
import type { MetricSink } from './sink.js';
import type { TargetGuard } from './targets.js';

/** Addresses one VU keeps channels to. */
const CHANNELS_PER_VU_MAX = 16;
/** Proto files one process keeps loaded. */
const PROTOS_MAX = 32;

export interface GrpcCall {
  /** host:port of the server (loopback unless --allow-remote names it). */
  readonly address: string;
  /** The proto file and the service's full name (`etcdserverpb.KV`). */
  readonly proto: string;
  readonly service: string;
  /** The method (`Range`). */
  readonly method: string;
  readonly request: Record<string, unknown>;
  readonly timeoutMs?: number;
  readonly metadata?: Record<string, string>;
  readonly tags?: Record<string, string>;
  /** Include paths for the proto's imports. */
  readonly includeDirs?: readonly string[];
}

export interface GrpcResponse {
  /** The gRPC status code (0 OK). */
  readonly code: number;
  readonly message: unknown;
  readonly error: string | undefined;
  readonly durationMs: number;
}

type ServiceConstructor = new (address: string, channelCredentials: ChannelCredentials, options: Record<string, unknown>) => Client;

const services = new Map<string, ServiceConstructor>();

function serviceConstructor(proto: string, service: string, includeDirs: readonly string[]): ServiceConstructor {
  const key = `${resolve(proto)}#${service}`;
  let constructor = services.get(key);
  if (constructor === undefined) {
    let definition: Record<string, unknown>;
    try {
      definition = loadPackageDefinition(loadSync(resolve(proto), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [...includeDirs] })) as Record<string, unknown>;
    } catch (error) {
      throw badInput(`grpc proto ${proto}: ${(error as Error).message}`);
    }
    const found = service.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], definition);
    if (typeof found !== 'function') throw badInput(`grpc proto ${proto}: no service ${service}`);
    if (services.size >= PROTOS_MAX) services.clear();
    constructor = found as ServiceConstructor;
    services.set(key, constructor);
  }
  return constructor;
}

const statusNames = new Map(Object.entries(grpcStatus).map(([name, code]) => [code as number, name]));

export class VuGrpc {
  readonly #clients = new Map<string, Client>();

  constructor(
    private readonly clock: Clock,
    private sink: MetricSink,
    private guard: TargetGuard,
    private readonly takeIntendedStart: () => number | undefined,
  ) {}

  /** @internal A pooled VU joins another run (see VuHttp.joinRun); its channels stay. */
  joinRun(sink: MetricSink, guard: TargetGuard): void {
    this.sink = sink;
    this.guard = guard;
  }

  unary(call: GrpcCall): Promise<GrpcResponse> {
    const [host, port] = splitAddress(call.address);
    this.guard.check(host, port);
    const client = this.#client(call);
    const method = (client as unknown as Record<string, unknown>)[call.method];
    if (typeof method !== 'function') throw badInput(`grpc: ${call.service} has no method ${call.method}`);
    const startMs = this.takeIntendedStart() ?? this.clock.nowMs();
    const metadata = new Metadata();
    for (const [name, value] of Object.entries(call.metadata ?? {})) metadata.set(name, value);
    return new Promise((resolveCall) => {
      (method as (request: unknown, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, response: unknown) => void) => void).call(
        client,
        call.request,
        metadata,
        { deadline: Date.now() + (call.timeoutMs ?? 60_000) },
        (error, response) => {
          const durationMs = this.clock.nowMs() - startMs;
          const code = error === null ? 0 : (error.code ?? grpcStatus.UNKNOWN);
          const tags = this.sink.tagged ? { ...(call.tags ?? {}), method: call.method } : undefined;
          this.sink.counter('grpc_reqs', 1, tags);
          this.sink.trend('grpc_req_duration', durationMs, tags);
          this.sink.rate('grpc_req_failed', code !== 0, tags);
          if (code !== 0) this.sink.error(`grpc ${statusNames.get(code) ?? code}`);
          resolveCall({ code, message: response, error: error === null ? undefined : error.details || error.message, durationMs });
        },
      );
    });
  }

  #client(call: GrpcCall): Client {
    const key = `${call.address}#${call.proto}#${call.service}`;
    return cachedOrCreated(this.#clients, key, CHANNELS_PER_VU_MAX, () => {
      const Service = serviceConstructor(call.proto, call.service, call.includeDirs ?? []);
      return new Service(call.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    }, (client) => client.close());
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

function splitAddress(address: string): [string, string] {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) throw badInput(`grpc address '${address}' is not host:port`);
  return [address.slice(0, colon), address.slice(colon + 1)];
}
