import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { faultfsUnavailableReason, mountFaultfs, type FaultfsMount } from '../chaos/index.js';

/**
 * `keel up --faultfs`: each member's data dir on its own faultfs mount, so
 * `keel chaos disk` can slow or fail that member's disk alone. The member's
 * files live where they always do (`<data-dir>/<id>`, the backing dir); the
 * member runs with `--data-dir <data-dir>/faultfs/<id>`, the mount point, so
 * a cluster started with and without --faultfs keeps the same data. The
 * member's log stays in the backing dir, written beside faultfs rather than
 * through it: a disk fault hits the member's storage, and the member can
 * still log why it exits.
 *
 * Mounts come up before any member starts and outlive member restarts; they
 * go when keel up stops (and, if keel up is SIGKILLed, faultfs's
 * --die-with-parent unmounts them).
 */

/** Where member `id`'s faultfs is mounted under keel up's data dir. */
export function faultfsMountPointOf(dataDir: string, id: string): string {
  return join(dataDir, 'faultfs', id);
}

/** The mounts of a keel up, unmounted together. */
export interface MemberDisks {
  /** Unmounts every mount (each attempted even when one fails); returns what failed. */
  unmountAll(): Promise<string[]>;
}

/** Why keel up --faultfs cannot run here, or undefined. */
export function upFaultfsRefusal(): string | undefined {
  const reason = faultfsUnavailableReason();
  return reason === undefined ? undefined : `--faultfs: ${reason}; nothing was started`;
}

/**
 * Mounts each member's backing dir on its mount point; on a failure unmounts
 * what it mounted and throws (MountFailedError, UnsupportedError).
 */
export async function mountMemberDisks(members: readonly { readonly id: string; readonly dataDir: string; readonly faultfs?: string }[]): Promise<MemberDisks> {
  const mounts: FaultfsMount[] = [];
  const unmountAll = async (): Promise<string[]> => {
    const failures: string[] = [];
    for (const mount of mounts.splice(0)) {
      try {
        await mount.unmount();
      } catch (error) {
        failures.push(`${mount.mountPoint}: ${(error as Error).message}`);
      }
    }
    return failures;
  };
  try {
    for (const member of members) {
      if (member.faultfs === undefined) continue;
      mkdirSync(member.dataDir, { recursive: true });
      mkdirSync(member.faultfs, { recursive: true });
      mounts.push(await mountFaultfs({ backingDir: member.dataDir, mountPoint: member.faultfs }));
    }
  } catch (error) {
    await unmountAll();
    throw error;
  }
  return { unmountAll };
}
