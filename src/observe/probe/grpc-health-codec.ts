/**
 * grpc.health.v1's two messages, encoded by hand: HealthCheckRequest (a
 * string field) and HealthCheckResponse (an enum field). A leaf with no
 * imports, shared by `keel probe`'s gRPC check and the gateway's gRPC
 * active health checks (which must not load grpc-js to use it).
 */

/** The method both callers invoke. */
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
/** HealthCheckResponse.ServingStatus, by number. */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export const SERVING = 1;

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
