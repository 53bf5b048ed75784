/**
 * A gRPC health check: grpc.health.v1.Health/Check, the protocol
 * Kubernetes' gRPC probes and grpc_health_probe speak. Its two messages are
 * tiny (a string field and an enum field), so they are encoded here by hand
 * rather than loading a .proto at run time.
 *
 * keel's own members and gateway do not serve this service today (their
 * gRPC servers carry etcd's services only); this check is for the services
 * behind keel's gateway and anything else that implements the protocol.
 */
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { GrpcHealthCheckSpec } from './config.js';
import { describeError, fail, pass, type Outcome } from './result.js';

const METHOD = '/grpc.health.v1.Health/Check';
/** HealthCheckResponse.ServingStatus, by number. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
const SERVING = 1;

export async function runGrpcHealthCheck(spec: GrpcHealthCheckSpec, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  const client = new Client(spec.address, credentials.createInsecure());
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const call = client.makeUnaryRequest(
        METHOD,
        encodeRequest,
        decodeResponse,
        spec.service,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, value?: number) => (error !== null ? reject(error) : resolve(value ?? 0)),
      );
      signal.addEventListener('abort', () => call.cancel(), { once: true });
    });
    const name = SERVING_STATUS[status] ?? `status ${status}`;
    const what = spec.service === '' ? 'server' : `service ${JSON.stringify(spec.service)}`;
    return status === SERVING ? pass() : fail(`${spec.address}: ${what} is ${name}`);
  } catch (error) {
    if (signal.aborted) throw signal.reason as Error;
    return fail(`${spec.address} ${METHOD}: ${describeError(error)}`);
  } finally {
    client.close();
  }
}

/** HealthCheckRequest { string service = 1; } */
export function encodeRequest(service: string): Buffer {
  if (service.length === 0) return Buffer.alloc(0);
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), encodeVarint(bytes.length), bytes]);
}

/** HealthCheckResponse { ServingStatus status = 1; }: the status, skipping any other field. */
export function decodeResponse(buffer: Buffer): number {
  let status = 0;
  let offset = 0;
  while (offset < buffer.length) {
    const tag = readVarint(buffer, offset);
    offset = tag.next;
    const field = tag.value >>> 3;
    const wireType = tag.value & 7;
    if (wireType === 0) {
      const value = readVarint(buffer, offset);
      offset = value.next;
      if (field === 1) status = value.value;
    } else if (wireType === 2) {
      const length = readVarint(buffer, offset);
      offset = length.next + length.value;
    } else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else throw new Error(`HealthCheckResponse: unsupported wire type ${wireType}`);
  }
  if (offset !== buffer.length) throw new Error('HealthCheckResponse: truncated message');
  return status;
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A varint of up to 5 bytes (32 bits are all these messages hold). */
function readVarint(buffer: Buffer, start: number): { value: number; next: number } {
  let value = 0;
  for (let index = 0; index < 5; index++) {
    const byte = buffer[start + index];
    if (byte === undefined) throw new Error('HealthCheckResponse: truncated varint');
    value |= (byte & 0x7f) << (7 * index);
    if ((byte & 0x80) === 0) return { value: value >>> 0, next: start + index + 1 };
  }
  throw new Error('HealthCheckResponse: varint longer than 32 bits');
}
