import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { replaceFileDurably } from '../storage/index.js';
import { DataDirInvalidError, DataDirLockedError, DataDirMismatchError, MemberRemovedError } from './errors.js';
import { joiningRaftId } from './membership.js';

/**
 * A member's data directory: made ready with errors in plain words, and
 * locked for the life of the process.
 *
 * The lock is an advisory flock(2) on `<dataDir>/LOCK`, as etcd locks its
 * WAL. The kernel drops it when the holder's process dies, however it dies
 * (SIGKILL included), so there is no stale lock to clean up. flock locks
 * belong to an open file description, so a second opener in the same
 * process is refused as well, which keeps in-process test clusters honest.
 * The holder writes its pid into the file only once it holds the lock; a
 * refused opener changes no byte of the directory.
 */

/** The lock file's name inside a data dir. */
export const LOCK_FILE_NAME = 'LOCK';

interface FlockBinding {
  flockSync(fd: number, flags: 'exnb' | 'un'): void;
}

// fs-ext is the one small native addon that exposes flock(2) to Node; Node has no flock of its own.
const flock = (createRequire(import.meta.url)('fs-ext') as FlockBinding).flockSync;

/** A held lock on a data dir; `release()` is idempotent. */
export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/**
 * Makes sure `dataDir` is a writable directory (creating it if absent), or
 * throws DataDirInvalidError with a sentence that names the path and the fix.
 */
export function prepareDataDir(dataDir: string, flag = '--data-dir'): void {
  let stats;
  try {
    stats = statSync(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new DataDirInvalidError(`${dataDir}: a part of this path is a file, not a directory; give ${flag} a path made of directories`);
    if (code !== 'ENOENT') throw explain(dataDir, error, flag);
  }
  if (stats && !stats.isDirectory()) {
    throw new DataDirInvalidError(`${dataDir} is a file, not a directory; give ${flag} a directory (or move the file away)`);
  }
  try {
    if (!stats) mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw explain(dataDir, error, flag);
  }
}

function explain(dataDir: string, error: unknown, flag: string): DataDirInvalidError {
  const code = (error as NodeJS.ErrnoException).code;
  const user = typeof process.getuid === 'function' ? `user ${process.getuid()}` : 'this user';
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new DataDirInvalidError(`${dataDir} is not writable by ${user}; change its owner or permissions (chown/chmod), or give ${flag} another directory`);
    case 'EROFS':
      return new DataDirInvalidError(`${dataDir} is on a read-only file system; give ${flag} a directory on a writable one`);
    case 'ENOTDIR':
    case 'EEXIST':
      return new DataDirInvalidError(`${dataDir}: a part of this path is a file, not a directory; give ${flag} a path made of directories`);
    case 'ENOSPC':
      return new DataDirInvalidError(`${dataDir}: no space left on its device; free some space or give ${flag} another disk`);
    default:
      return new DataDirInvalidError(`${dataDir} cannot be used as a data directory (${code ?? (error as Error).message}); check the path or give ${flag} another one`);
  }
}

/**
 * Takes the exclusive lock on `dir`, or throws DataDirLockedError naming
 * the holder's pid. `dir` must exist (see prepareDataDir). `what` names the
 * holder kind in the message ("member", "keel up").
 */
export function lockDataDir(dir: string, what = 'member'): DataDirLock {
  const path = join(dir, LOCK_FILE_NAME);
  let fd: number;
  try {
    // 'a+' creates the file if absent and never truncates it: a refused opener must change nothing.
    fd = openSync(path, 'a+');
  } catch (error) {
    throw explain(dir, error, '--data-dir');
  }
  try {
    flock(fd, 'exnb');
  } catch (error) {
    closeSync(fd);
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw explain(dir, error, '--data-dir');
    const holder = readHolder(path);
    throw new DataDirLockedError(
      `${dir} is in use by another ${holder ? `process (pid ${holder})` : 'process'}; stop it first, or give this ${what} another data dir`,
      holder,
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    path,
    release(): void {
      if (!held) return;
      held = false;
      try {
        flock(fd, 'un');
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The pid written by the lock's holder, if it wrote one. */
export function readHolder(lockPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(lockPath, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ identity (member.json)

/** What member.json says a data dir belongs to. */
export interface MemberIdentity {
  readonly id: string;
  readonly cluster: string;
  /** Decimal; empty while a joining member has not learned it. */
  readonly clusterId: string;
  /** Set for a member that joined: its id was assigned by MemberAdd. */
  readonly raftId?: string;
  /** Set once the member was removed from its cluster: the dir must not start again. */
  readonly removed?: boolean;
}

/** Who is starting on a data dir: its name, its cluster and the ids its flags give. */
export interface StartingMember {
  readonly dataDir: string;
  readonly id: string;
  readonly clusterName: string;
  /** This member's peer URL (from --peers), for a joiner's raft id. */
  readonly peerUrl: string;
  readonly initialClusterState: 'new' | 'existing';
  /** The cluster id the founding flags give. */
  readonly foundingClusterId: bigint;
}

/** The ids a member starts with, and whether it joins an existing cluster rather than founding one. */
export interface ResolvedIdentity {
  readonly raftId: string;
  /** 0n while a joining member has not learned it. */
  readonly clusterId: bigint;
  readonly joining: boolean;
}

export function readMemberIdentity(dataDir: string): MemberIdentity | undefined {
  const path = join(dataDir, 'member.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as MemberIdentity;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirMismatchError(`${path}: ${(error as Error).message}`);
    return undefined;
  }
}

/** Writes member.json atomically (temporary file, fsync, rename, directory fsync), keeping a joiner's raft id. */
export function writeMemberIdentity(dataDir: string, identity: { id: string; cluster: string; clusterId: bigint }, extra: { raftId?: string; removed?: boolean } = {}): void {
  const previous = readMemberIdentity(dataDir);
  const record: MemberIdentity = {
    id: identity.id,
    cluster: identity.cluster,
    clusterId: identity.clusterId === 0n ? '' : identity.clusterId.toString(),
    ...(previous?.raftId !== undefined ? { raftId: previous.raftId } : {}),
    ...extra,
  };
  replaceFileDurably(join(dataDir, 'member.json'), `${JSON.stringify(record)}\n`);
}

/**
 * Checks that the data dir belongs to this member and cluster, and settles
 * its ids: a joiner's from member.json (or derived from its peer URL on its
 * first start), a founder's from the flags, except that an existing data
 * dir's cluster id stands (etcd ignores its initial-cluster flags once it
 * has data). Writes member.json on a first start. `empty`: the raft state
 * holds nothing yet.
 */
export function resolveIdentity(member: StartingMember, empty: boolean): ResolvedIdentity {
  const existing = readMemberIdentity(member.dataDir);
  const mismatch = (found: MemberIdentity): DataDirMismatchError =>
    new DataDirMismatchError(`${member.dataDir} belongs to member ${found.id} of cluster ${found.cluster} (${found.clusterId}), not ${member.id} of ${member.clusterName}`);
  if (existing?.removed) throw new MemberRemovedError(`${member.dataDir} belongs to member ${existing.id}, which was removed from the cluster; start a new member with a new data dir`);
  if (existing && existing.id !== member.id) throw mismatch(existing);
  if (existing?.raftId !== undefined) {
    // A member that joined: its ids were assigned by MemberAdd and learned from the leader, not derived from these flags.
    return { raftId: existing.raftId, clusterId: existing.clusterId ? BigInt(existing.clusterId) : 0n, joining: empty };
  }
  if (existing) {
    // --peers may have changed since the founding (members added and removed): the data dir's cluster id stands.
    if (existing.cluster !== member.clusterName || !/^\d{1,20}$/.test(existing.clusterId)) throw mismatch(existing);
    // A founder whose raft state is gone: bootstrapping again would start a second cluster under the same name.
    return { raftId: member.id, clusterId: BigInt(existing.clusterId), joining: empty && member.initialClusterState === 'existing' };
  }
  if (member.initialClusterState === 'existing') {
    const raftId = joiningRaftId(member.clusterName, member.peerUrl);
    writeMemberIdentity(member.dataDir, { id: member.id, cluster: member.clusterName, clusterId: 0n }, { raftId });
    return { raftId, clusterId: 0n, joining: true };
  }
  writeMemberIdentity(member.dataDir, { id: member.id, cluster: member.clusterName, clusterId: member.foundingClusterId });
  return { raftId: member.id, clusterId: member.foundingClusterId, joining: false };
}
