import { createServer, type Server } from 'node:http';
import { parseSlos } from '../../../src/observe/index.js';

/**
 * A /metrics server whose counters the test sets: a real HTTP server serving
 * Prometheus text, standing in for a keel member's /metrics (not a mock of
 * anything keel owns: the evaluator under test only ever reads this text).
 * Series use keel's names (grpc_server_handled_total, grpc_server_handling_seconds).
 */
export interface MemberCounters {
  ok: number;
  unavailable: number;
  /** Unary KV calls handled within 100 ms (the le="0.1" bucket). */
  fast: number;
  /** Answer 503 instead of metrics (the member is going away). */
  down: boolean;
}

export function metricsText(counters: MemberCounters): string {
  const labels = 'grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"';
  const lines = [
    '# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.',
    '# TYPE grpc_server_handled_total counter',
    `grpc_server_handled_total{grpc_code="OK",${labels}} ${counters.ok}`,
  ];
  // prom-client creates a labelled series at its first increment: no Unavailable line until the first error.
  if (counters.unavailable > 0) lines.push(`grpc_server_handled_total{grpc_code="Unavailable",${labels}} ${counters.unavailable}`);
  const total = counters.ok + counters.unavailable;
  lines.push(
    '# TYPE grpc_server_handling_seconds histogram',
    `grpc_server_handling_seconds_bucket{${labels},le="0.05"} ${Math.floor(counters.fast / 2)}`,
    `grpc_server_handling_seconds_bucket{${labels},le="0.1"} ${counters.fast}`,
    `grpc_server_handling_seconds_bucket{${labels},le="+Inf"} ${total}`,
    `grpc_server_handling_seconds_sum{${labels}} ${total * 0.05}`,
    `grpc_server_handling_seconds_count{${labels}} ${total}`,
    '# a line that does not parse is skipped',
    'garbage{',
  );
  return `${lines.join('\n')}\n`;
}

export async function startMetricsServer(counters: MemberCounters): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics' || counters.down) {
      response.writeHead(counters.down ? 503 : 404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText(counters));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics` };
}

/** Availability (Occurrences), latency (threshold) and availability by 1-minute timeslices, on keel's shorthands. */
export const MEMBER_SLOS = `
apiVersion: openslo/v1
kind: SLI
metadata: { name: kv-errors }
spec:
  ratioMetric:
    counter: true
    bad: { metricSource: { type: keel, spec: { metric: grpc-errors, labels: { grpc_service: etcdserverpb.KV } } } }
    total: { metricSource: { type: keel, spec: { metric: grpc-requests, labels: { grpc_service: etcdserverpb.KV } } } }
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: availability }
spec:
  service: kv
  indicatorRef: kv-errors
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: latency }
spec:
  service: kv
  indicator:
    metadata: { name: kv-latency }
    spec:
      thresholdMetric: { metricSource: { type: keel, spec: { metric: grpc-latency } } }
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ op: lte, value: 0.1, target: 0.99 }]
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: minutes }
spec:
  service: kv
  indicatorRef: kv-errors
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Timeslices
  objectives: [{ target: 0.9, timeSliceTarget: 0.99, timeSliceWindow: 1m }]
`;

export function memberSlos() {
  return parseSlos(MEMBER_SLOS, 'member-slos.yaml');
}
