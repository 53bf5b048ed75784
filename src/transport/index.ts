/** The peer transport (issue 3): TCP frames between keel nodes, bounded per-peer queues, reconnect, snapshot streaming, fault injection. */
export { PeerTransport, type TransportOptions, type PeerStats } from './transport.js';
export { FaultHook, systemTransportRandom, type TransportRandom } from './faults.js';
export type { TransportCounters, TransportLog, TransportLogLevel } from './context.js';
export * from './errors.js';
export * as transportLimits from './limits.js';
