/**
 * Keel's replicated state machine: an MVCC key-value store with etcd's data
 * model (revisions, versions, ranges, txns, compaction, leases on keys, a
 * watch feed), pure and deterministic.
 */
export { isApplySteps, StoreStateMachine } from './state-machine.js';
export type { ApplySteps, StoreRestore } from './state-machine.js';
export type { ApplyResult, CommandResponse, StoreOptions } from './state-machine.js';
export { encodeCommand, decodeCommand, commandScalesWithData } from './command.js';
export type { Command } from './command.js';
export type * from './types.js';
export type { WatchEvent, EventBatch, EventListener, HistoryQuery, HistoryResult } from './events.js';
export type { KvHash } from './hash.js';
export { releaseSnapshotState, SnapshotEncoder } from './snapshot.js';
export type { SnapshotState } from './snapshot.js';
export { ALARM_TYPES, AlarmSet, txnPuts } from './alarms.js';
export type { AlarmMember, AlarmRequest, AlarmResponse, AlarmType } from './alarms.js';
export { prefixRangeEnd } from './bytes.js';
export {
  validateCommand,
  validateRange,
  validatePut,
  validateDeleteRange,
  validateTxn,
  checkTxnIntervals,
  isReadOnlyTxn,
} from './validate.js';
export * from './errors.js';
export { StoreAssertionError } from './assert.js';
export * as limits from './limits.js';
