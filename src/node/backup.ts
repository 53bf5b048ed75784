import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapLog } from '../raft/bootstrap.js';
import { FileStorage, replaceFileDurably } from '../storage/index.js';
import { StoreError } from '../store/errors.js';
import { decodeSnapshot, encodeSnapshot } from '../store/snapshot.js';
import { SnapshotIntegrityError, SnapshotRestoreError } from './errors.js';
import { clusterIdOf } from './identity.js';

/**
 * Backups: what Maintenance.Snapshot streams and `keel snapshot save`
 * writes is
 *
 *     "KEELBAK1", u64 big-endian length n, the store's snapshot bytes (n:
 *     StoreStateMachine.snapshot(), itself magic "KEELKV", format, state,
 *     CRC-32C), zero padding to a multiple of 512 bytes,
 *     then the SHA-256 of everything before it (32 bytes)
 *
 * as etcd appends a SHA-256 to its bbolt snapshot stream. The padding is
 * there for etcdctl: `etcdctl snapshot save` (3.4.23) refuses a download
 * whose size is not 32 more than a multiple of 512 ("sha256 checksum not
 * found"), which bbolt's page-sized files always are.
 *
 * `restoreDataDir` seeds a new member's data directory from one, as
 * `etcdctl snapshot restore` does: a new cluster whose founding membership
 * is `peers`, whose log starts with the founding AddVoter entries (term 1)
 * and whose first snapshot, at the last of them, holds the restored state.
 * Every founding member restored from the same file with the same peers
 * gets the same log and snapshot, so they agree from the first election.
 */
export const BACKUP_HASH_BYTES = 32;
const BACKUP_MAGIC = Buffer.from('KEELBAK1', 'latin1');
const BACKUP_HEADER_BYTES = BACKUP_MAGIC.length + 8;
/** etcdctl's hasChecksum: (size % 512) == sha256.Size. */
const BACKUP_ALIGN_BYTES = 512;

/** The pieces of a backup's content before its hash, without copying the state: header, state, padding. */
export function backupContentParts(storeSnapshot: Uint8Array): Uint8Array[] {
  const header = Buffer.alloc(BACKUP_HEADER_BYTES);
  BACKUP_MAGIC.copy(header, 0);
  header.writeBigUInt64BE(BigInt(storeSnapshot.length), BACKUP_MAGIC.length);
  const unpadded = BACKUP_HEADER_BYTES + storeSnapshot.length;
  const padding = new Uint8Array((BACKUP_ALIGN_BYTES - (unpadded % BACKUP_ALIGN_BYTES)) % BACKUP_ALIGN_BYTES);
  return [header, storeSnapshot, padding];
}

/** The store snapshot inside a backup's content; throws SnapshotIntegrityError. */
function storeSnapshotOf(content: Uint8Array): Uint8Array {
  const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  if (bytes.length < BACKUP_HEADER_BYTES || !bytes.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw new SnapshotIntegrityError('not a keel snapshot file (no KEELBAK1 header)');
  const length = bytes.readBigUInt64BE(BACKUP_MAGIC.length);
  if (length > BigInt(bytes.length - BACKUP_HEADER_BYTES)) throw new SnapshotIntegrityError('snapshot file is truncated');
  const end = BACKUP_HEADER_BYTES + Number(length);
  if (bytes.subarray(end).some((byte) => byte !== 0)) throw new SnapshotIntegrityError('snapshot file has bytes after its content');
  return content.subarray(BACKUP_HEADER_BYTES, end);
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Checks the trailer and the content; returns the store snapshot bytes it holds. Throws SnapshotIntegrityError. */
export function verifyBackup(file: Uint8Array): Uint8Array {
  if (file.length <= BACKUP_HASH_BYTES) throw new SnapshotIntegrityError(`snapshot file is too short (${file.length} bytes) to hold a SHA-256 trailer`);
  const content = file.subarray(0, file.length - BACKUP_HASH_BYTES);
  const trailer = file.subarray(file.length - BACKUP_HASH_BYTES);
  if (!sha256(content).equals(trailer)) throw new SnapshotIntegrityError('snapshot file fails its SHA-256 check: it is damaged or not a keel snapshot');
  const state = storeSnapshotOf(content);
  try {
    decodeSnapshot(state);
  } catch (error) {
    if (StoreError.is(error)) throw new SnapshotIntegrityError(`snapshot content does not decode: ${error.message}`);
    throw error;
  }
  return state;
}

export interface RestoreOptions {
  readonly dataDir: string;
  /** This member's id; must be one of `peers`. */
  readonly id: string;
  /** The new cluster's founding members: id -> peer host:port. */
  readonly peers: Readonly<Record<string, string>>;
  /** The new cluster's name (with the founders, it fixes the cluster id: use a new one to keep the clusters apart, as etcd's --initial-cluster-token). */
  readonly clusterName: string;
}

export interface RestoreResult {
  readonly revision: number;
  readonly snapshotIndex: number;
  readonly clusterId: bigint;
}

export function restoreDataDir(file: Uint8Array, options: RestoreOptions): RestoreResult {
  const content = verifyBackup(file);
  if (!(options.id in options.peers)) throw new SnapshotRestoreError(`--peers must include this member (${options.id})`);
  if (existsSync(options.dataDir) && readdirSync(options.dataDir).length > 0) throw new SnapshotRestoreError(`data directory ${options.dataDir} exists and is not empty`);
  const founders = bootstrapLog(Object.keys(options.peers));
  const snapshotIndex = founders.entries.length;
  // The state continues at the new log's index; alarms named the old cluster's members, so the new one starts without them.
  const state = decodeSnapshot(content);
  const data = encodeSnapshot({ ...state, appliedIndex: snapshotIndex, alarms: [] });
  mkdirSync(options.dataDir, { recursive: true });
  const storage = new FileStorage(join(options.dataDir, 'raft'));
  try {
    storage.load();
    storage.save({ entries: founders.entries, hardState: founders.hardState }, true);
    storage.saveSnapshot({ metadata: { index: snapshotIndex, term: 1, confState: { voters: [...Object.keys(options.peers)].sort(), learners: [] } }, data });
  } finally {
    storage.close();
  }
  const clusterId = clusterIdOf(options.clusterName, Object.keys(options.peers));
  writeIdentity(options.dataDir, { id: options.id, cluster: options.clusterName, clusterId: clusterId.toString() });
  return { revision: state.currentRevision, snapshotIndex, clusterId };
}

/** member.json as KeelNode writes it on a first start: a member started with another identity is refused. */
function writeIdentity(dataDir: string, identity: { id: string; cluster: string; clusterId: string }): void {
  replaceFileDurably(join(dataDir, 'member.json'), `${JSON.stringify(identity)}\n`);
}
