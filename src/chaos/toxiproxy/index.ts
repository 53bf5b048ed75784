/** The Toxiproxy-compatible TCP fault proxy (no privileges needed). */
export { ToxiproxyServer, TOXIPROXY_API_VERSION } from './server.js';
export { FaultProxy } from './proxy.js';
export { TOXIC_TYPES, type Toxic, type ToxicType, type Stream } from './toxics.js';
