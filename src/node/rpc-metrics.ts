import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * Per-RPC metrics under go-grpc-prometheus's names and labels (what etcd
 * exports and etcd's dashboard and alerts query): started, handled by code,
 * messages each way, and handling time. The JSON gateway records its routes
 * here too, under the gRPC method each one maps to, as etcd's grpc-gateway
 * does by calling the gRPC server. One RpcCall also counts the call in
 * keel's own `keel_api_requests_total`, so the two names come from one event.
 */

export type RpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** gRPC status names by number, as go-grpc-prometheus writes them in `grpc_code`. */
const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted',
  'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
] as const;

/** `grpc_code` for a status number; numbers outside the table are Unknown, so the label stays bounded. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown';
}

/** go-grpc-prometheus's default handling-time buckets (Prometheus's DefBuckets). */
export const GRPC_HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type RpcLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';

/** Where an RPC is counted: the gRPC method (`/etcdserverpb.KV/Range`) and keel's endpoint label (the gRPC path, or the JSON route). */
export interface RpcTarget {
  readonly method: string;
  readonly type: RpcType;
  readonly endpoint: string;
}

export class RpcMetrics {
  readonly #started: Counter<RpcLabel>;
  readonly #handled: Counter<RpcLabel | 'grpc_code'>;
  readonly #received: Counter<RpcLabel>;
  readonly #sent: Counter<RpcLabel>;
  readonly #handlingSeconds: Histogram<RpcLabel>;
  readonly #requests: Counter<'endpoint' | 'code'>;

  constructor(registry: Registry, requests: Counter<'endpoint' | 'code'>) {
    const registers = [registry];
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    this.#requests = requests;
    this.#started = new Counter({ name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames, registers });
    this.#handled = new Counter({
      name: 'grpc_server_handled_total', help: 'Total number of RPCs completed on the server, regardless of success or failure.', labelNames: [...labelNames, 'grpc_code'] as const, registers,
    });
    this.#received = new Counter({ name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', labelNames, registers });
    this.#sent = new Counter({ name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', labelNames, registers });
    this.#handlingSeconds = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames,
      buckets: GRPC_HANDLING_BUCKETS,
      registers,
    });
  }

  /** Counts the call as started; the returned call counts its messages and its end. */
  start(target: RpcTarget): RpcCall {
    const slash = target.method.lastIndexOf('/');
    const labels = { grpc_type: target.type, grpc_service: target.method.slice(1, slash), grpc_method: target.method.slice(slash + 1) };
    this.#started.inc(labels);
    return new RpcCall(labels, target.endpoint, {
      received: () => this.#received.inc(labels),
      sent: () => this.#sent.inc(labels),
      handled: (grpcCode, keelCode, seconds) => {
        this.#handled.inc({ ...labels, grpc_code: grpcCodeName(grpcCode) });
        this.#handlingSeconds.observe(labels, seconds);
        this.#requests.inc({ endpoint: target.endpoint, code: keelCode });
      },
    });
  }
}

interface RpcSinks {
  received(): void;
  sent(): void;
  handled(grpcCode: number, keelCode: string, seconds: number): void;
}

/** One RPC in flight. `handled` counts only the first end, so racing end paths (error vs close) cannot count a call twice. */
export class RpcCall {
  readonly labels: Readonly<Record<RpcLabel, string>>;
  readonly endpoint: string;
  readonly #sinks: RpcSinks;
  readonly #startedAt = performance.now();
  #done = false;

  constructor(labels: Record<RpcLabel, string>, endpoint: string, sinks: RpcSinks) {
    this.labels = labels;
    this.endpoint = endpoint;
    this.#sinks = sinks;
  }

  received(): void {
    this.#sinks.received();
  }

  sent(): void {
    this.#sinks.sent();
  }

  /** The call ended with this status (0 = OK) and keel code ('OK' on success). */
  handled(grpcCode: number, keelCode: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#sinks.handled(grpcCode, keelCode, (performance.now() - this.#startedAt) / 1000);
  }
}
