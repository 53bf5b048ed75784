/**
 * Durable storage for a keel node: the write-ahead log, snapshots, and the
 * failpoints at their boundaries. See {@link RaftStorage} for the contract.
 */
export type { PersistBatch, RaftStorage, RecoveredState, SnapshotRetention } from './raft-storage.js';
export { toMemoryStorage } from './raft-storage.js';
export { FileStorage, type FileStorageOptions, type RecoveryReport, type SnapshotChunks } from './file-storage.js';
export { MemoryDisk, MemoryRaftStorage } from './memory-raft-storage.js';
export { checkSnapshotFile, FileSnapshotSource, readSnapshotData, type SnapshotFileLayout } from './snapshot-source.js';
export { inMemoryData } from './snapshot-files.js';
export { type FileSystem, fsyncDirectory, nodeFileSystem, replaceFileDurably } from './file-system.js';
export { configureFailpoints, enableFailpointApi, failpoint, failpointApiEnabled, FAILPOINT_NAMES, listFailpoints, setFailpoint, type FailpointName } from './failpoints.js';
export * from './errors.js';
export * as storageLimits from './limits.js';
