/**
 * Keel's Raft consensus core: a pure, deterministic state machine in the shape
 * of etcd-io/raft. No I/O, no clock, no ambient randomness: the caller drives
 * it with ticks and messages and carries out the Ready it returns.
 */
export { RawNode } from './raw-node.js';
export { bootstrapLog } from './bootstrap.js';
export type { Status } from './raw-node.js';
export { Raft } from './raft.js';
export type { ProposalResult, ProposedEntry } from './raft.js';
export type { RaftConfig } from './config.js';
export { MemoryStorage, entrySizeBytes, type EntrySource } from './storage.js';
export type { LogStorage } from './storage.js';
export { SeededRandom } from './random.js';
export type { Random } from './random.js';
export { encodeConfChange, decodeConfChange, applyConfChange } from './conf-change.js';
export { majorityCommitted, voteResult, VoteResult } from './quorum.js';
export * from './errors.js';
export { AssertionError } from './assert.js';
export * from './types.js';
