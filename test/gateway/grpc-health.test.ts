import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { eventually } from '../node/cluster-harness.js';
import { closeAll, startGateway } from './helpers.js';

/**
 * gRPC health checks of an h2c cluster against real grpc-js servers that
 * implement grpc.health.v1.Health from the published .proto (protobufjs
 * encodes their answers, so the gateway's hand-written codec is checked
 * against it). Each server also has a unary Echo that names it, called
 * through the gateway to see where traffic goes.
 */

type Mode = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'not-found' | 'hang';

const identity = {
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
};
const echoService = { Echo: { path: '/keel.test.Echo/Echo', requestStream: false, responseStream: false, ...identity } };

interface HealthBackend {
  readonly name: string;
  readonly address: string;
  mode: Mode;
  /** Services the Health server was asked about. */
  readonly asked: Set<string>;
  close(): Promise<void>;
}

async function startHealthBackend(name: string): Promise<HealthBackend> {
  const definition = protoLoader.loadSync(join(import.meta.dirname, '../observe/probe/fixtures/health.proto'), { enums: String, defaults: true });
  const health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const server = new grpc.Server();
  const hanging: Array<grpc.sendUnaryData<unknown>> = [];
  const backend = { name, address: '', mode: 'SERVING' as Mode, asked: new Set<string>(), close: async () => {} };
  server.addService(health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      backend.asked.add(call.request.service);
      if (backend.mode === 'hang') hanging.push(callback);
      else if (backend.mode === 'not-found') callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      else callback(null, { status: backend.mode });
    },
  });
  server.addService(echoService, {
    Echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return Object.assign(backend, { address: `127.0.0.1:${port}`, close: async () => void server.forceShutdown() });
}

function echo(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(echoService.Echo.path, identity.requestSerialize, identity.responseDeserialize, Buffer.from('hi'), { deadline: Date.now() + 10_000 }, (error, value) => (error ? reject(error) : resolve(value!.toString())));
  });
}

test('gRPC health checks: NOT_SERVING, UNKNOWN, an error status and a hung check eject the endpoint (traffic goes to the other); SERVING readmits it', async (t) => {
  const a = await startHealthBackend('a');
  const b = await startHealthBackend('b');
  const gateway = await startGateway({
    listeners: [{ port: 0, protocol: 'h2c' }],
    routes: [{ name: 'grpc', match: { prefix: '/' }, cluster: 'echo' }],
    clusters: {
      echo: {
        protocol: 'h2c', endpoints: [{ address: a.address }, { address: b.address }],
        healthCheck: { type: 'grpc', service: 'keel.test.Echo', intervalMs: 50, jitter: 0, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
      },
    },
  });
  const client = new grpc.Client(`127.0.0.1:${gateway.ports[0]}`, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await closeAll(gateway, a, b);
  });
  const healthOf = (backend: HealthBackend): boolean => {
    const clusters = gateway.describe().clusters as Array<{ endpoints: Array<{ address: string; healthy: boolean }> }>;
    return clusters[0]!.endpoints.find((endpoint) => endpoint.address === backend.address)!.healthy;
  };
  await eventually(() => a.asked.size > 0 && b.asked.size > 0, 20_000, 'both endpoints to be checked');
  assert.deepEqual([...a.asked], ['keel.test.Echo'], 'HealthCheckRequest.service is the configured name');
  for (const failing of ['NOT_SERVING', 'UNKNOWN', 'not-found', 'hang'] as const) {
    a.mode = failing;
    await eventually(() => !healthOf(a), 20_000, `endpoint a to be ejected on ${failing}`);
    assert.equal(healthOf(b), true);
    const answers = new Set<string>();
    for (let index = 0; index < 6; index++) answers.add(await echo(client));
    assert.deepEqual([...answers], ['b'], `only b is routed to while a is ${failing}`);
    a.mode = 'SERVING';
    await eventually(() => healthOf(a), 20_000, `endpoint a to be readmitted after ${failing}`);
  }
  const answers = new Set<string>();
  for (let index = 0; index < 6; index++) answers.add(await echo(client));
  assert.deepEqual([...answers].sort(), ['a', 'b'], 'both take traffic again');
  const metrics = await gateway.metrics.registry.getSingleMetricAsString('keel_gateway_health_transitions_total');
  assert.match(metrics, /cluster="echo",to="unhealthy"} 4/);
  assert.match(metrics, /cluster="echo",to="healthy"} 4/);
});

test('gRPC health checks: refused on an http1 cluster (the protocol needs HTTP/2)', () => {
  assert.throws(
    () => parseGatewayConfig({ listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }], clusters: { c: { endpoints: [{ address: '127.0.0.1:1' }], healthCheck: { type: 'grpc' } } } }),
    (error: Error & { code?: string }) => error.code === 'KEEL_GW_CONFIG_INVALID' && /clusters\.c\.healthCheck\.type: grpc health checks need protocol h2c/.test(error.message),
  );
});
