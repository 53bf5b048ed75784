/**
 * A gRPC health check: grpc.health.v1.Health/Check, the protocol
 * Kubernetes' gRPC probes and grpc_health_probe speak. Its two messages are
 * tiny (a string field and an enum field), so they are encoded by hand
 * (grpc-health-codec.ts) rather than loading a .proto at run time.
 *
 * keel's own members and gateway do not serve this service today (their
 * gRPC servers carry etcd's services only); this check is for the services
 * behind keel's gateway and anything else that implements the protocol.
 */
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { GrpcHealthCheckSpec } from './config.js';
import { decodeResponse, encodeRequest, HEALTH_CHECK_METHOD, SERVING, SERVING_STATUS } from './grpc-health-codec.js';
import { describeError, fail, pass, type Outcome } from './result.js';

export { decodeResponse, encodeRequest } from './grpc-health-codec.js';

const METHOD = HEALTH_CHECK_METHOD;

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
