import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { addToHistogram, bucketIndex } from '../observe/histogram-record.js';

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
export const GRPC_HANDLING_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type RpcLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';

/** Where an RPC is counted: the gRPC method (`/etcdserverpb.KV/Range`) and keel's endpoint label (the gRPC path, or the JSON route). */
export interface RpcTarget {
  readonly method: string;
  readonly type: RpcType;
  readonly endpoint: string;
}

/**
 * One (endpoint, method, type)'s counts since the last scrape, kept as
 * plain numbers on the call path. prom-client hashes the label object on
 * every `inc` and `observe`, and a unary call made five such calls (about
 * 6% of a member's CPU per gRPC call in a profile of serializable ranges);
 * a slot is found once per call and the counts reach prom-client when the
 * registry is read (each metric's `collect`), as the gateway's
 * RequestTallies do. Bounded: targets are known routes and registered
 * methods, keel codes are the error table's.
 */
class RpcSlot {
  started = 0;
  received = 0;
  sent = 0;
  /** Handled calls by gRPC status number (index), since the last scrape. */
  readonly handled = new Array<number>(GRPC_CODE_NAMES.length).fill(0);
  handledPending = 0;
  /** keel_api_requests_total by keel code, since the last scrape. */
  readonly requests = new Map<string, number>();
  readonly buckets = new Array<number>(GRPC_HANDLING_BUCKETS.length).fill(0);
  durationSum = 0;
  durationCount = 0;

  constructor(
    readonly labels: Readonly<Record<RpcLabel, string>>,
    readonly target: RpcTarget,
  ) {}
}

export class RpcMetrics {
  readonly #started: Counter<RpcLabel>;
  readonly #handled: Counter<RpcLabel | 'grpc_code'>;
  readonly #received: Counter<RpcLabel>;
  readonly #sent: Counter<RpcLabel>;
  readonly #handlingSeconds: Histogram<RpcLabel>;
  readonly #requests: Counter<'endpoint' | 'code'>;
  /** Slots by endpoint; each endpoint has one target in practice (a short list otherwise). */
  readonly #slots = new Map<string, RpcSlot[]>();

  /** `requests` must call this object's flush() in its own `collect`, as the metrics here do. */
  constructor(registry: Registry, requests: Counter<'endpoint' | 'code'>) {
    const registers = [registry];
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    const collect = (): void => this.flush();
    this.#requests = requests;
    this.#started = new Counter({ name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames, registers, collect });
    this.#handled = new Counter({
      name: 'grpc_server_handled_total', help: 'Total number of RPCs completed on the server, regardless of success or failure.', labelNames: [...labelNames, 'grpc_code'] as const, registers, collect,
    });
    this.#received = new Counter({ name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', labelNames, registers, collect });
    this.#sent = new Counter({ name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', labelNames, registers, collect });
    this.#handlingSeconds = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames,
      buckets: [...GRPC_HANDLING_BUCKETS],
      registers,
      collect,
    });
  }

  /** Counts the call as started; the returned call counts its messages and its end. */
  start(target: RpcTarget): RpcCall {
    const slot = this.#slot(target);
    slot.started++;
    return new RpcCall(slot);
  }

  /** Hands every count kept since the last read to prom-client (each metric's `collect`; idempotent). */
  flush(): void {
    for (const slots of this.#slots.values()) {
      for (const slot of slots) {
        const labels = slot.labels;
        if (slot.started > 0) this.#started.inc(labels, slot.started);
        if (slot.received > 0) this.#received.inc(labels, slot.received);
        if (slot.sent > 0) this.#sent.inc(labels, slot.sent);
        slot.started = slot.received = slot.sent = 0;
        if (slot.handledPending > 0) {
          for (let code = 0; code < slot.handled.length; code++) {
            if (slot.handled[code]! > 0) this.#handled.inc({ ...labels, grpc_code: GRPC_CODE_NAMES[code]! }, slot.handled[code]!);
          }
          slot.handled.fill(0);
          slot.handledPending = 0;
        }
        for (const [code, count] of slot.requests) this.#requests.inc({ endpoint: slot.target.endpoint, code }, count);
        slot.requests.clear();
        if (slot.durationCount > 0) {
          addToHistogram(this.#handlingSeconds, labels, GRPC_HANDLING_BUCKETS, slot.buckets, slot.durationSum, slot.durationCount);
          slot.buckets.fill(0);
          slot.durationSum = slot.durationCount = 0;
        }
      }
    }
  }

  #slot(target: RpcTarget): RpcSlot {
    let slots = this.#slots.get(target.endpoint);
    if (slots === undefined) {
      slots = [];
      this.#slots.set(target.endpoint, slots);
    }
    for (const slot of slots) if (slot.target.method === target.method && slot.target.type === target.type) return slot;
    const slash = target.method.lastIndexOf('/');
    const labels = { grpc_type: target.type, grpc_service: target.method.slice(1, slash), grpc_method: target.method.slice(slash + 1) };
    const slot = new RpcSlot(labels, target);
    slots.push(slot);
    return slot;
  }
}

/** One RPC in flight. `handled` counts only the first end, so racing end paths (error vs close) cannot count a call twice. */
export class RpcCall {
  readonly #slot: RpcSlot;
  readonly #startedAt = performance.now();
  #done = false;

  constructor(slot: RpcSlot) {
    this.#slot = slot;
  }

  received(): void {
    this.#slot.received++;
  }

  sent(): void {
    this.#slot.sent++;
  }

  /** The call ended with this status (0 = OK) and keel code ('OK' on success). */
  handled(grpcCode: number, keelCode: string): void {
    if (this.#done) return;
    this.#done = true;
    const slot = this.#slot;
    // Status numbers outside the table count as Unknown (2), so the label stays bounded.
    slot.handled[grpcCode >= 0 && grpcCode < GRPC_CODE_NAMES.length ? grpcCode : 2]!++;
    slot.handledPending++;
    slot.requests.set(keelCode, (slot.requests.get(keelCode) ?? 0) + 1);
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const index = bucketIndex(GRPC_HANDLING_BUCKETS, seconds);
    if (index < GRPC_HANDLING_BUCKETS.length) slot.buckets[index]!++;
    slot.durationSum += seconds;
    slot.durationCount++;
  }
}
