import { Readable } from 'node:stream';
import { decodeResponse, encodeRequest, HEALTH_CHECK_METHOD, SERVING } from '../../observe/probe/grpc-health-codec.js';
import { H2Upstream } from '../h2-upstream.js';
import { HEALTH_CHECK_BODY_BYTES_MAX } from '../limits.js';
import type { Probe } from './active.js';

/**
 * gRPC's health-checking protocol as an active health check (Envoy's
 * grpc_health_check): a unary grpc.health.v1.Health/Check over HTTP/2
 * (cleartext with prior knowledge, or TLS with ALPN h2 and the cluster's
 * upstream TLS) asking about `service`. Healthy only on a SERVING answer
 * with grpc-status 0; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, any other
 * grpc-status (UNIMPLEMENTED from a server without the service, NOT_FOUND
 * for an unknown name), a non-200 HTTP status, a malformed message or no
 * answer within `timeoutMs` all fail. Each probe opens its own connection
 * and closes it after (as the TLS HTTP probe does): a probe never queues
 * behind the proxy's streams, and a rotated certificate is used at once.
 * The two protobuf messages are encoded by hand (grpc-health-codec.ts).
 */
export const grpcProbe: Probe = async (endpoint, config, tls) => {
  const upstream = new H2Upstream(endpoint.address, { maxSessions: 1, idleTimeoutMs: config.timeoutMs, connectTimeoutMs: config.timeoutMs }, tls);
  const signal = AbortSignal.timeout(config.timeoutMs);
  try {
    const response = await upstream.request({
      method: 'POST',
      path: HEALTH_CHECK_METHOD,
      headers: { host: endpoint.address, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${config.timeoutMs}m`, 'user-agent': 'keel-gateway-health' },
      body: Readable.from([grpcFrame(encodeRequest(config.service))]),
      signal,
      timeoutMs: config.timeoutMs,
    });
    if (response.statusCode !== 200) {
      response.body.resume();
      return false;
    }
    const body = await readBounded(response.body, HEALTH_CHECK_BODY_BYTES_MAX);
    // A Trailers-Only answer (an error) carries grpc-status in the head; otherwise it comes in the trailers.
    const trailers = response.endedWithHead ? response.headers : await response.trailers;
    if (trailers['grpc-status'] !== '0') return false;
    const message = grpcMessage(body);
    return message !== undefined && decodeResponse(message) === SERVING;
  } catch {
    return false;
  } finally {
    upstream.destroy();
  }
};

/** One uncompressed gRPC message: flag 0, a 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The one uncompressed message a unary answer's body holds; undefined when it holds anything else. */
export function grpcMessage(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const length = body.readUInt32BE(1);
  return body.length === 5 + length ? body.subarray(5) : undefined;
}

async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new Error(`health-check answer over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
