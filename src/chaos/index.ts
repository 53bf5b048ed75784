/**
 * keel chaos: fault injection for keel clusters (and any process), from the
 * CLI (`keel chaos ...`) or from TypeScript tests:
 *
 *     import { createChaos } from '../src/chaos/index.js';
 *     const chaos = createChaos({ dataDir, seed: 1 });
 *     const fault = await chaos.inject({ kind: 'pause', target: 'leader', durationMs: 3000 });
 *     await fault.heal();
 */
export { Chaos, createChaos, FAULT_KINDS, type ChaosOptions, type Fault, type FaultSpec, type HealReport } from './controller.js';
export { ChaosError } from './errors.js';
export { findLeader, readClusterView, type ClusterView, type MemberView } from './cluster-view.js';
export { createNetns, destroyNetns, inNetns, netnsUnavailableReason, planNetns, subnetInUse, type NetnsCluster, type NetnsMember } from './netns.js';
export { parseSelector, type Selector, type Target } from './targets.js';
export { defaultStateDir, FaultStore, type FaultRecord } from './state.js';
export type { UndoReport } from './undo.js';
export type { PlannedFault } from './plan.js';
export { FAULTFS_CONTROL_FILE, FaultfsMount, faultsControlText, isMountPoint, mountFaultfs, parseFaultfsState, type DiskFaults, type FaultfsMountOptions, type FaultfsState } from './faultfs.js';
export { buildFaultfs, faultfsUnavailableReason } from './faultfs-build.js';
