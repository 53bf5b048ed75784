/**
 * `import 'keel'`: the client and the resilience library. The client's
 * names are exported directly (`import { KeelClient } from 'keel'`); both
 * parts are also namespaces (`client`, `resilience`), because some names
 * exist in both (ConfigError, AbortedError, DeadlineExceededError,
 * limits ...): take those from the namespace, or from `keel/client` and
 * `keel/resilience`.
 *
 * @packageDocumentation
 */
export * as client from './client/index.js';
export * as resilience from './resilience/index.js';
export * from './client/index.js';
