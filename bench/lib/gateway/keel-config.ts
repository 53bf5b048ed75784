import type { ServerTlsFiles } from './processes.js';

/**
 * The keel gateway config the gateway benches run (bench/gateway-wrk.ts, bench/gateway-profile.ts): one listener on
 * `port` in front of `backends`, with every protection on or off.
 */
export function keelBenchConfig(port: number, backends: readonly number[], engine: 'fast' | 'node', protections: boolean, tls: ServerTlsFiles | undefined): string {
  const endpoints = backends.map((b) => `{ address: "127.0.0.1:${b}" }`).join(', ');
  const tlsField = tls ? `, tls: { certificates: [{ certFile: "${tls.certFile}", keyFile: "${tls.keyFile}" }] }` : '';
  if (!protections) {
    return `
listeners: [{ port: ${port}, engine: ${engine}${tlsField} }]
routes: [{ name: all, match: { prefix: / }, cluster: app }]
clusters:
  app: { balancer: round-robin, endpoints: [${endpoints}], circuitBreakers: { maxConnections: 64 } }
limits: { maxConnectionsPerClientIp: 10000 }
`;
  }
  // Every protection on, none of them refusing at this load: routing, the balancer, active health checks and outlier
  // detection, a per-IP rate limit, criticality admission with adaptive concurrency, metrics (always on).
  return `
listeners: [{ port: ${port}, engine: ${engine}${tlsField} }]
routes: [{ name: all, match: { prefix: / }, cluster: app, retry: { maxAttempts: 2 } }]
clusters:
  app:
    balancer: least-request
    endpoints: [${endpoints}]
    circuitBreakers: { maxConnections: 64 }
    healthCheck: { path: /, intervalMs: 1000, timeoutMs: 500 }
    outlierDetection: { consecutive5xx: 5 }
    adaptiveConcurrency: { initialLimit: 200, minLimit: 64, maxLimit: 2000 }
rateLimits:
  - { name: per-ip, descriptor: { clientIp: true }, algorithm: gcra, limit: 10000000, windowMs: 1000, burst: 100000 }
limits: { maxConnectionsPerClientIp: 10000 }
`;
}
