/**
 * keel experiment: one file (Chaos Toolkit's format, extended with load,
 * faults, history, stop-conditions and seed) that runs load, faults and
 * checks together and gives one verdict. See docs/experiments.md.
 */
export { parseExperiment, experimentSchema, clusterProblem, etcdControlCluster, asksForNetworkFaults, ETCD_FAULT_KINDS, ETCD_NETNS_FAULT_KINDS, KEEL_FUNCTIONS, type ClusterSpec, type EtcdClusterSpec, type Experiment, type Activity, type Probe, type Provider, type Tolerance, type StopCondition, type ServicesSpec, type Variant } from './schema.js';
export { runExperiment, checkReferences, leaderChanges, served, type RunOptions, type ExperimentOutcome } from './runner.js';
export { decideVerdict, EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_COMPLETED, EXIT_DEVIATED, EXIT_INTERRUPTED, EXIT_NOT_LINEARIZABLE, type ExperimentStatus, type VerdictInputs, type VerdictResult } from './verdict.js';
export { withinTolerance } from './tolerance.js';
export { buildTimeline, type Timeline, type TimelineRow, type FaultImpact } from './timeline.js';
export { ExperimentError, EXPERIMENT_ERROR_CODES, type ExperimentErrorCode } from './errors.js';
export { OutcomeWindow } from './monitor.js';
export { decideVariantsVerdict, type VariantsJournal } from './variants.js';
export { backendSource, type BackendOptions } from './backend.js';
