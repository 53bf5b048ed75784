/**
 * keel gateway: an L7 load balancer built on keel/resilience. See docs/gateway.md.
 *
 * @packageDocumentation
 */
export { Gateway, type GatewayOptions, CLIENT_ZONE_HEADER } from './gateway.js';
export {
  type BalancerName, type ClusterConfig, defaults, type EndpointConfig, type GatewayConfig, loadGatewayConfig, parseGatewayConfig, parseGatewayYaml,
  type RouteConfig,
} from './config.js';
export { GATEWAY_ERROR_TABLE, GatewayConfigError, GatewayError, type GatewayErrorCode, REJECT_REASON_HEADER, statusFor } from './errors.js';
export { Cluster, priorityLoads, type PickRequest } from './cluster.js';
export { Endpoint } from './endpoint.js';
export { createBalancer, type Balancer, type PickContext } from './balancers/index.js';
export { OutlierDetector, type AttemptResult } from './health/outlier.js';
export { ActiveHealthChecker, httpProbe, type Probe } from './health/active.js';
export { compose, type Exchange, type Handler, type Interceptor } from './exchange.js';
export * as limits from './limits.js';
