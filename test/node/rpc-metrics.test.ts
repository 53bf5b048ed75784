import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { RpcMetrics, grpcCodeName, type RpcTarget, type RpcType } from '../../src/node/rpc-metrics.js';

/** A registry with keel_api_requests_total wired as metrics.ts wires it (its collect hands the RPC tallies over). */
function tallied(): { registry: Registry; rpc: RpcMetrics } {
  const registry = new Registry();
  let rpc: RpcMetrics | undefined;
  const requests = new Counter({ name: 'keel_api_requests_total', help: 'h', labelNames: ['endpoint', 'code'] as const, registers: [registry], collect: () => rpc!.flush() });
  rpc = new RpcMetrics(registry, requests);
  return { registry, rpc };
}

/** The same series as prom-client called on every event, as rpc-metrics did before it tallied. */
function direct(): { registry: Registry; record: (target: RpcTarget, messages: number, grpcCode: number, keelCode: string) => void } {
  const registry = new Registry();
  const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
  const registers = [registry];
  const started = new Counter({ name: 'grpc_server_started_total', help: 'h', labelNames, registers });
  const handled = new Counter({ name: 'grpc_server_handled_total', help: 'h', labelNames: [...labelNames, 'grpc_code'] as const, registers });
  const received = new Counter({ name: 'grpc_server_msg_received_total', help: 'h', labelNames, registers });
  const sent = new Counter({ name: 'grpc_server_msg_sent_total', help: 'h', labelNames, registers });
  const requests = new Counter({ name: 'keel_api_requests_total', help: 'h', labelNames: ['endpoint', 'code'] as const, registers });
  return {
    registry,
    record: (target, messages, grpcCode, keelCode) => {
      const slash = target.method.lastIndexOf('/');
      const labels = { grpc_type: target.type, grpc_service: target.method.slice(1, slash), grpc_method: target.method.slice(slash + 1) };
      started.inc(labels);
      for (let i = 0; i < messages; i++) {
        received.inc(labels);
        sent.inc(labels);
      }
      handled.inc({ ...labels, grpc_code: grpcCodeName(grpcCode) });
      requests.inc({ endpoint: target.endpoint, code: keelCode });
    },
  };
}

async function samples(registry: Registry, name: string): Promise<string[]> {
  return (await registry.getSingleMetricAsString(name)).split('\n').filter((line) => !line.startsWith('#')).sort();
}

test('tallied RPC counts scrape as the same series as calling prom-client on every event, across scrapes', async () => {
  const { registry, rpc } = tallied();
  const plain = direct();
  const targets: RpcTarget[] = [
    { method: '/etcdserverpb.KV/Range', type: 'unary', endpoint: '/etcdserverpb.KV/Range' },
    { method: '/etcdserverpb.KV/Range', type: 'unary', endpoint: '/v3/kv/range' },
    { method: '/etcdserverpb.Watch/Watch', type: 'bidi_stream' as RpcType, endpoint: '/etcdserverpb.Watch/Watch' },
  ];
  const codes: [number, string][] = [[0, 'OK'], [11, 'KEEL_STORE_COMPACTED'], [14, 'KEEL_NODE_NO_LEADER'], [99, 'KEEL_X'], [-1, 'KEEL_Y']];
  let step = 0;
  for (const scrapeAfter of [5, 17, 30]) {
    for (; step < scrapeAfter; step++) {
      const target = targets[step % targets.length]!;
      const [grpcCode, keelCode] = codes[step % codes.length]!;
      const messages = step % 4;
      const call = rpc.start(target);
      for (let i = 0; i < messages; i++) {
        call.received();
        call.sent();
      }
      call.handled(grpcCode, keelCode);
      call.handled(0, 'OK'); // a second end path: not counted
      plain.record(target, messages, grpcCode, keelCode);
    }
    for (const name of ['keel_api_requests_total', 'grpc_server_started_total', 'grpc_server_handled_total', 'grpc_server_msg_received_total', 'grpc_server_msg_sent_total']) {
      assert.deepEqual(await samples(registry, name), await samples(plain.registry, name), `${name} after ${step} calls`);
    }
  }
  // Handling times depend on the clock: every handled call is in the histogram once, its buckets cumulative.
  const histogram = (await registry.getSingleMetricAsString('grpc_server_handling_seconds')).split('\n');
  const counts = histogram.filter((line) => line.startsWith('grpc_server_handling_seconds_count')).map((line) => Number(line.split(' ').at(-1)));
  assert.equal(counts.reduce((a, b) => a + b, 0), step);
  const rangeBuckets = histogram.filter((line) => line.startsWith('grpc_server_handling_seconds_bucket') && line.includes('grpc_method="Range"')).map((line) => Number(line.split(' ').at(-1)));
  assert.equal(rangeBuckets.at(-1), 20, 'le="+Inf" counts both Range endpoints\' calls');
});

test('a call that never ends counts as started only', async () => {
  const { registry, rpc } = tallied();
  rpc.start({ method: '/etcdserverpb.Lease/LeaseKeepAlive', type: 'bidi_stream', endpoint: '/etcdserverpb.Lease/LeaseKeepAlive' }).received();
  assert.match(await registry.getSingleMetricAsString('grpc_server_started_total'), /grpc_method="LeaseKeepAlive"} 1/);
  assert.match(await registry.getSingleMetricAsString('grpc_server_msg_received_total'), /grpc_method="LeaseKeepAlive"} 1/);
  assert.doesNotMatch(await registry.getSingleMetricAsString('grpc_server_handled_total'), /LeaseKeepAlive/);
});
