import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Files counted per directory; a data dir holds a handful of WAL segments and snapshots, so this only bounds a pathological one. */
const FILES_PER_DIRECTORY_MAX = 10_000;

/**
 * What the member's raft data takes on disk: WAL segments (preallocated, so
 * whole segment sizes) and snapshot files. Reported as etcd's `dbSize`, the
 * space the store holds on disk, which Defragment shrinks.
 */
export function raftDiskBytes(dataDir: string): number {
  let total = 0;
  for (const sub of ['raft/wal', 'raft/snap']) {
    const directory = join(dataDir, sub);
    let names: string[];
    try {
      names = readdirSync(directory).slice(0, FILES_PER_DIRECTORY_MAX);
    } catch {
      continue; // not created yet
    }
    for (const name of names) {
      try {
        total += statSync(join(directory, name)).size;
      } catch {
        // removed between readdir and stat (a concurrent release): not on disk any more
      }
    }
  }
  return total;
}
