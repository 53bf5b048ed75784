import { badSlo } from './errors.js';
import { parseSelector, type Selector } from './selector.js';

/**
 * Shorthands for keel's own metrics, so an SLO on a keel cluster or gateway
 * needs no PromQL (`metricSource: {type: keel, spec: {metric: grpc-errors}}`).
 * The names and buckets are the ones src/node/rpc-metrics.ts and
 * src/gateway/metrics.ts export (docs/metrics.md); a test holds them equal.
 */

/**
 * gRPC codes counted as the server failing, as etcd's mixin alert
 * etcdHighNumberOfFailedGRPCRequests counts them. Canceled, NotFound,
 * InvalidArgument and the like are the client's doing and spend no budget.
 */
export const GRPC_SERVER_ERROR_CODES = ['Unknown', 'FailedPrecondition', 'ResourceExhausted', 'Internal', 'Unavailable', 'DataLoss', 'DeadlineExceeded'] as const;

/** grpc_server_handling_seconds' buckets (GRPC_HANDLING_BUCKETS in src/node/rpc-metrics.ts). */
export const GRPC_LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** keel_gateway_request_duration_seconds' buckets (src/gateway/metrics.ts). */
export const GATEWAY_LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface CounterShorthand {
  readonly kind: 'counter';
  readonly selector: string;
  readonly description: string;
}
interface HistogramShorthand {
  readonly kind: 'histogram';
  readonly selector: string;
  readonly buckets: readonly number[];
  readonly description: string;
}

export const KEEL_METRICS: Readonly<Record<string, CounterShorthand | HistogramShorthand>> = Object.freeze({
  'grpc-requests': { kind: 'counter', selector: 'grpc_server_handled_total', description: 'member RPCs ended (gRPC and JSON API), any code' },
  'grpc-errors': {
    kind: 'counter', selector: `grpc_server_handled_total{grpc_code=~"${GRPC_SERVER_ERROR_CODES.join('|')}"}`, description: 'member RPCs that ended with a server-side error code',
  },
  'grpc-latency': {
    kind: 'histogram', selector: 'grpc_server_handling_seconds{grpc_type="unary"}', buckets: GRPC_LATENCY_BUCKETS, description: 'member unary RPC handling time (streams excluded: a Watch lives for minutes)',
  },
  'gateway-requests': { kind: 'counter', selector: 'keel_gateway_requests_total', description: 'requests the gateway answered, any status' },
  'gateway-errors': { kind: 'counter', selector: 'keel_gateway_requests_total{code_class="5xx"}', description: 'requests the gateway answered with a 5xx' },
  'gateway-latency': {
    kind: 'histogram', selector: 'keel_gateway_request_duration_seconds', buckets: GATEWAY_LATENCY_BUCKETS, description: 'time from request to response head at the gateway',
  },
});

/** The shorthand's selector with `labels` added as equality matchers; `kind` is what the SLI needs. */
export function keelMetric(name: string, labels: Readonly<Record<string, string>>, kind: 'counter' | 'histogram', field: string): { selector: Selector; buckets?: readonly number[] } {
  const shorthand = KEEL_METRICS[name];
  const names = Object.entries(KEEL_METRICS).filter(([, s]) => s.kind === kind).map(([n]) => n).join(', ');
  if (shorthand === undefined) throw badSlo(`${field}.metric: unknown keel metric '${name}' (one of ${names})`);
  if (shorthand.kind !== kind) throw badSlo(`${field}.metric: '${name}' is a ${shorthand.kind}; this SLI needs a ${kind} (one of ${names})`);
  const base = parseSelector(shorthand.selector, field);
  const extra = Object.entries(labels).map(([label, value]) => ({ label, op: '=' as const, value }));
  return { selector: { metric: base.metric, matchers: [...base.matchers, ...extra] }, ...(shorthand.kind === 'histogram' ? { buckets: shorthand.buckets } : {}) };
}
