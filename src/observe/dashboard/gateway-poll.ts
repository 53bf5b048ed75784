import { fetchJson, fetchText } from './fetch-bounded.js';
import { GATEWAY_ROWS_MAX, TEXT_CHARS_MAX } from './limits.js';
import { bucketsOf, parsePrometheusText, sumOf, type Buckets } from './prometheus-text.js';
import type { GatewayEndpointView, Health } from './state.js';

/**
 * One poll of a keel gateway's admin API: `/clusters` (endpoints with
 * health, ejection, in-flight and pending; adaptive concurrency) and
 * `/metrics` (requests, latency, refusals by reason and criticality).
 * The collector turns the counters into rates.
 */

interface EndpointJson {
  address?: unknown; zone?: unknown; healthy?: unknown; ejected?: unknown; ejectionCount?: unknown; draining?: unknown; inflight?: unknown; pending?: unknown;
}

interface ClustersJson {
  draining?: unknown;
  inflight?: unknown;
  clusters?: Array<{ name?: unknown; endpoints?: EndpointJson[] }>;
  concurrency?: unknown;
}

export interface GatewayPoll {
  readonly up: boolean;
  readonly error?: string;
  readonly draining?: boolean;
  readonly inflight?: number;
  readonly endpoints: readonly GatewayEndpointView[];
  readonly concurrency: Readonly<Record<string, unknown>>;
  readonly requests?: number;
  readonly errors?: number;
  readonly latencyBuckets?: Buckets;
  /** keel_gateway_rejections_total by "reason criticality". */
  readonly rejections: ReadonlyMap<string, { reason: string; criticality: string; total: number }>;
}

export async function pollGateway(adminUrl: string): Promise<GatewayPoll> {
  // The gateway reads its admin token from the same variable when its config names none (src/gateway/admin-auth.ts).
  const token = process.env.KEEL_GW_ADMIN_TOKEN;
  const options = token ? { headers: { authorization: `Bearer ${token}` } } : {};
  const [clusters, metrics] = await Promise.allSettled([fetchJson(`${adminUrl}/clusters`, options) as Promise<ClustersJson>, fetchText(`${adminUrl}/metrics`, options)]);
  if (clusters.status === 'rejected') {
    return { up: false, error: (clusters.reason as Error).message, endpoints: [], concurrency: {}, rejections: new Map() };
  }
  const body = clusters.value;
  const endpoints = (Array.isArray(body.clusters) ? body.clusters : []).flatMap((cluster) =>
    (Array.isArray(cluster.endpoints) ? cluster.endpoints : []).map((endpoint) => endpointView(String(cluster.name ?? ''), endpoint)),
  ).slice(0, GATEWAY_ROWS_MAX);
  const concurrency = typeof body.concurrency === 'object' && body.concurrency !== null ? (body.concurrency as Record<string, unknown>) : {};
  const base = {
    up: true,
    ...(typeof body.draining === 'boolean' ? { draining: body.draining } : {}),
    ...(typeof body.inflight === 'number' ? { inflight: body.inflight } : {}),
    endpoints,
    concurrency,
  };
  if (metrics.status === 'rejected') return { ...base, error: `metrics: ${(metrics.reason as Error).message}`, rejections: new Map() };
  const samples = parsePrometheusText(metrics.value);
  const rejections = new Map<string, { reason: string; criticality: string; total: number }>();
  for (const sample of samples) {
    if (sample.name !== 'keel_gateway_rejections_total' || rejections.size >= GATEWAY_ROWS_MAX) continue;
    const reason = sample.labels.reason ?? '';
    const criticality = sample.labels.criticality ?? '';
    const key = `${reason} ${criticality}`;
    rejections.set(key, { reason, criticality, total: (rejections.get(key)?.total ?? 0) + sample.value });
  }
  const requests = sumOf(samples, 'keel_gateway_requests_total');
  const errors = sumOf(samples, 'keel_gateway_requests_total', (labels) => labels.code_class === '5xx');
  const buckets = bucketsOf(samples, 'keel_gateway_request_duration_seconds');
  return {
    ...base,
    ...(requests === undefined ? {} : { requests, errors: errors ?? 0 }),
    ...(buckets.length > 0 ? { latencyBuckets: buckets } : {}),
    rejections,
  };
}

function endpointView(cluster: string, endpoint: EndpointJson): GatewayEndpointView {
  const healthy = endpoint.healthy === true;
  const ejected = endpoint.ejected === true;
  const draining = endpoint.draining === true;
  const health: Health = !healthy ? 'down' : ejected || draining ? 'warn' : 'ok';
  return {
    cluster: cluster.slice(0, TEXT_CHARS_MAX),
    address: String(endpoint.address ?? '').slice(0, TEXT_CHARS_MAX),
    zone: String(endpoint.zone ?? '').slice(0, TEXT_CHARS_MAX),
    health,
    healthy,
    ejected,
    ejections: numberOr0(endpoint.ejectionCount),
    draining,
    inflight: numberOr0(endpoint.inflight),
    pending: numberOr0(endpoint.pending),
  };
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
