import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandFailedError, InvalidFaultError, MountFailedError } from './errors.js';
import { buildFaultfs } from './faultfs-build.js';
import {
  COMMAND_TIMEOUT_MS, FAULTFS_DELAY_US_MAX, FAULTFS_EXIT_WAIT_MS, FAULTFS_MOUNT_TIMEOUT_MS, FAULTFS_NEXT_MAX, FAULTFS_POLL_MS, FAULTFS_STDERR_BYTES_MAX,
} from './limits.js';

/**
 * Disk faults for any process: faultfs (native/faultfs/faultfs.c) mirrors a
 * backing directory at a mount point and, on demand, slows fsync and write,
 * fails them with EIO, or fails growing writes with ENOSPC. Put a keel
 * member's (or etcd's) data dir under the mount point:
 *
 *     const disk = await mountFaultfs({ backingDir, mountPoint });
 *     try {
 *       await disk.setFaults({ fsyncDelayUs: 2_000 });
 *       // ... run members with --data-dir under mountPoint ...
 *       await disk.setFaults({ fsyncEioNext: 1 });
 *     } finally {
 *       await disk.unmount();
 *     }
 *
 * Faults change at run time through the mount's control file `/.faultfs`
 * (a write is in force when it returns). A mount cannot outlive this
 * process: faultfs runs with --die-with-parent (the kernel sends it SIGTERM
 * when this process dies, even by SIGKILL, and it unmounts), and an exit
 * hook unmounts whatever is still mounted. By hand: `fusermount3 -u <mp>`,
 * or `umount -l <mp>` when it is busy or its process is gone.
 */
export interface DiskFaults {
  /** fsync, fdatasync and a directory's fsync sync the backing file, then sleep this long. */
  readonly fsyncDelayUs?: number;
  /** Every write sleeps this long first. */
  readonly writeDelayUs?: number;
  /** The next n file fsyncs fail with EIO (and sync nothing). */
  readonly fsyncEioNext?: number;
  /** Each file fsync fails with EIO with this probability, drawn from `seed`. */
  readonly fsyncEioProbability?: number;
  /** The next n writes fail with EIO (and write nothing). */
  readonly writeEioNext?: number;
  /** Each write fails with EIO with this probability. */
  readonly writeEioProbability?: number;
  /**
   * A write that would grow the tree's apparent size (the sum of its regular
   * files' sizes) past this many bytes fails with ENOSPC; overwrites still
   * succeed, as on a full disk. null lifts the limit.
   */
  readonly spaceLimitBytes?: number | null;
  /** Seed of the generator the probabilities draw from. */
  readonly seed?: number;
}

/** What the control file reports: the faults in force and counters since the mount. */
export interface FaultfsState {
  readonly fsyncDelayUs: number;
  readonly writeDelayUs: number;
  readonly fsyncEioNext: number;
  readonly fsyncEioProbability: number;
  readonly writeEioNext: number;
  readonly writeEioProbability: number;
  readonly spaceLimitBytes: number | null;
  /** The apparent size faultfs accounts while a limit is set; null without one. */
  readonly spaceUsedBytes: number | null;
  readonly fsyncsTotal: number;
  readonly writesTotal: number;
  readonly fsyncEioInjectedTotal: number;
  readonly writeEioInjectedTotal: number;
  readonly enospcInjectedTotal: number;
}

/** The control file's name at the mount's root. */
export const FAULTFS_CONTROL_FILE = '.faultfs';

const KEYS: Record<keyof DiskFaults, { readonly key: string; readonly check: (value: number) => boolean; readonly range: string }> = {
  fsyncDelayUs: { key: 'fsync_delay_us', check: (value) => isCount(value, FAULTFS_DELAY_US_MAX), range: `an integer in [0, ${FAULTFS_DELAY_US_MAX}]` },
  writeDelayUs: { key: 'write_delay_us', check: (value) => isCount(value, FAULTFS_DELAY_US_MAX), range: `an integer in [0, ${FAULTFS_DELAY_US_MAX}]` },
  fsyncEioNext: { key: 'fsync_eio_next', check: (value) => isCount(value, FAULTFS_NEXT_MAX), range: `an integer in [0, ${FAULTFS_NEXT_MAX}]` },
  fsyncEioProbability: { key: 'fsync_eio_probability', check: isProbability, range: 'in [0, 1]' },
  writeEioNext: { key: 'write_eio_next', check: (value) => isCount(value, FAULTFS_NEXT_MAX), range: `an integer in [0, ${FAULTFS_NEXT_MAX}]` },
  writeEioProbability: { key: 'write_eio_probability', check: isProbability, range: 'in [0, 1]' },
  spaceLimitBytes: { key: 'space_limit_bytes', check: (value) => isCount(value, Number.MAX_SAFE_INTEGER), range: 'a non-negative integer or null' },
  seed: { key: 'seed', check: (value) => isCount(value, Number.MAX_SAFE_INTEGER), range: 'a non-negative integer' },
};

function isCount(value: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= max;
}

function isProbability(value: number): boolean {
  return Number.isFinite(value) && value >= 0 && value <= 1;
}

/**
 * The control-file text that sets `faults` (pure). Only the fields given
 * change; `clear` first turns every fault off. Throws InvalidFaultError
 * (KEEL_CHAOS_INVALID_FAULT) on an unknown field or a value out of range.
 */
export function faultsControlText(faults: DiskFaults, clear = false): string {
  const words = clear ? ['clear'] : [];
  for (const [field, value] of Object.entries(faults) as [keyof DiskFaults, number | null | undefined][]) {
    const spec = KEYS[field];
    if (spec === undefined) throw new InvalidFaultError(`unknown disk fault ${JSON.stringify(field)}; known: ${Object.keys(KEYS).join(', ')}`);
    if (value === undefined) continue;
    if (value === null && field === 'spaceLimitBytes') {
      words.push(`${spec.key}=off`);
      continue;
    }
    if (typeof value !== 'number' || !spec.check(value)) throw new InvalidFaultError(`${field} is ${spec.range}, not ${JSON.stringify(value)}`);
    words.push(`${spec.key}=${value}`);
  }
  return `${words.join('\n')}\n`;
}

/** Parses what the control file reads back (pure). */
export function parseFaultfsState(text: string): FaultfsState {
  const values = new Map(text.split('\n').filter((line) => line.includes('=')).map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1)] as const;
  }));
  const number = (key: string): number => Number(values.get(key) ?? 'NaN');
  const optional = (key: string): number | null => (/^\d+$/.test(values.get(key) ?? '') ? number(key) : null);
  return {
    fsyncDelayUs: number('fsync_delay_us'),
    writeDelayUs: number('write_delay_us'),
    fsyncEioNext: number('fsync_eio_next'),
    fsyncEioProbability: number('fsync_eio_probability'),
    writeEioNext: number('write_eio_next'),
    writeEioProbability: number('write_eio_probability'),
    spaceLimitBytes: optional('space_limit_bytes'),
    spaceUsedBytes: optional('space_used_bytes'),
    fsyncsTotal: number('fsyncs_total'),
    writesTotal: number('writes_total'),
    fsyncEioInjectedTotal: number('fsync_eio_injected_total'),
    writeEioInjectedTotal: number('write_eio_injected_total'),
    enospcInjectedTotal: number('enospc_injected_total'),
  };
}

/** Decodes the octal escapes (`\040` for a space) /proc/self/mountinfo writes in paths. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Whether `mountPoint` (a real path) is a mount point now, by /proc/self/mountinfo. */
export function isMountPoint(mountPoint: string): boolean {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.some((line) => {
    const path = line.split(' ')[4];
    return path !== undefined && unescapeMountPath(path) === mountPoint;
  });
}

export interface FaultfsMountOptions {
  /** The directory whose files the mount shows; it must exist. */
  readonly backingDir: string;
  /** An existing, empty directory to mount on (not already a mount point). */
  readonly mountPoint: string;
  /** Let other users (and their processes) use the mount (`-o allow_other,default_permissions`). */
  readonly allowOther?: boolean;
  /** Faults in force from the start. */
  readonly faults?: DiskFaults;
  /** Where the binary is cached (default `.keel/build` in the source tree). */
  readonly buildDir?: string;
}

/** Mounts that this process still holds: the exit hook unmounts them. */
const live = new Set<FaultfsMount>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous, as an exit hook must be: a lazy unmount detaches at once even when busy; the process then gets SIGKILL.
  process.once('exit', () => {
    for (const mount of live) mount.detachNow();
  });
}

/**
 * A mounted faultfs. Faults change through {@link setFaults} without a
 * remount; {@link unmount} is idempotent and always leaves nothing mounted
 * and the process gone (or throws saying what is left).
 */
export class FaultfsMount {
  readonly #child: ChildProcess;
  readonly #stderr: { text: string };
  #exited = false;
  #unmounted = false;

  /** @internal built by {@link mountFaultfs} */
  constructor(readonly backingDir: string, readonly mountPoint: string, readonly pid: number, child: ChildProcess, stderr: { text: string }) {
    this.#child = child;
    this.#stderr = stderr;
    child.once('exit', () => (this.#exited = true));
  }

  /** The control file's path. */
  get controlFile(): string {
    return join(this.mountPoint, FAULTFS_CONTROL_FILE);
  }

  /** What faultfs printed on standard error (its last FAULTFS_STDERR_BYTES_MAX bytes). */
  get stderr(): string {
    return this.#stderr.text;
  }

  /** Changes the faults given (others stay as they are); in force when the promise resolves. */
  async setFaults(faults: DiskFaults): Promise<void> {
    await writeFile(this.controlFile, faultsControlText(faults));
  }

  /** Turns every fault off, then sets `faults` (none by default). */
  async clearFaults(faults: DiskFaults = {}): Promise<void> {
    await writeFile(this.controlFile, faultsControlText(faults, true));
  }

  /** The faults in force and the counters since the mount. */
  async state(): Promise<FaultfsState> {
    return parseFaultfsState(await readFile(this.controlFile, 'utf8'));
  }

  /**
   * Unmounts: `fusermount3 -u`, falling back to a lazy `umount -l` and
   * SIGTERM when the mount is busy (files still open on it then fail with
   * ENOTCONN); waits for faultfs to exit, then SIGTERM and SIGKILL by its
   * pid. Throws CommandFailedError if the mount point is still mounted.
   */
  async unmount(): Promise<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    try {
      if (isMountPoint(this.mountPoint)) {
        const polite = spawnSync('fusermount3', ['-u', this.mountPoint], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
        if (polite.status !== 0) {
          // Busy: detach now; files still open on it fail with ENOTCONN once faultfs is gone, which it is at once.
          spawnSync('umount', ['-l', this.mountPoint], { timeout: COMMAND_TIMEOUT_MS });
          this.#child.kill('SIGTERM');
        }
      }
      await this.#stop();
    } finally {
      live.delete(this);
    }
    if (isMountPoint(this.mountPoint)) {
      const last = spawnSync('umount', ['-l', this.mountPoint], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      if (isMountPoint(this.mountPoint)) throw new CommandFailedError(['umount', '-l', this.mountPoint], `${last.stderr ?? ''}${last.error?.message ?? ''}`);
    }
  }

  /** Synchronous last resort (exit hook): lazy unmount and SIGKILL. */
  detachNow(): void {
    if (isMountPoint(this.mountPoint)) spawnSync('fusermount3', ['-u', '-z', this.mountPoint], { timeout: COMMAND_TIMEOUT_MS });
    if (!this.#exited) this.#child.kill('SIGKILL');
    live.delete(this);
  }

  async #waitExit(timeoutMs: number): Promise<boolean> {
    for (let waitedMs = 0; !this.#exited && waitedMs < timeoutMs; waitedMs += FAULTFS_POLL_MS) await sleep(FAULTFS_POLL_MS);
    return this.#exited;
  }

  async #stop(): Promise<void> {
    if (await this.#waitExit(FAULTFS_EXIT_WAIT_MS)) return;
    this.#child.kill('SIGTERM');
    if (await this.#waitExit(FAULTFS_EXIT_WAIT_MS)) return;
    this.#child.kill('SIGKILL');
    await this.#waitExit(FAULTFS_EXIT_WAIT_MS);
  }
}

async function controlAnswers(mountPoint: string): Promise<boolean> {
  try {
    return (await stat(join(mountPoint, FAULTFS_CONTROL_FILE))).isFile();
  } catch {
    return false;
  }
}

/**
 * Builds faultfs if needed and mounts `backingDir` at `mountPoint`,
 * resolving once the mount answers. Throws UnsupportedError
 * (KEEL_CHAOS_UNSUPPORTED) when this host cannot, MountFailedError when the
 * mount does not come up (nothing is left mounted or running then).
 */
export async function mountFaultfs(options: FaultfsMountOptions): Promise<FaultfsMount> {
  const binary = await buildFaultfs(options.buildDir);
  const backingDir = realpathSync(options.backingDir);
  const mountPoint = realpathSync(options.mountPoint);
  if (isMountPoint(mountPoint)) throw new MountFailedError(mountPoint, 'already a mount point (a leftover? fusermount3 -u or umount -l it)');
  const fuseOptions = ['fsname=faultfs', 'subtype=faultfs', ...(options.allowOther ? ['allow_other', 'default_permissions'] : [])];
  const child = spawn(binary, ['--die-with-parent', '-o', fuseOptions.join(','), backingDir, mountPoint], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = { text: '' };
  child.stderr!.on('data', (chunk: Buffer) => (stderr.text = `${stderr.text}${chunk.toString()}`.slice(-FAULTFS_STDERR_BYTES_MAX)));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const mount = new FaultfsMount(backingDir, mountPoint, child.pid!, child, stderr);
  live.add(mount);
  installExitHook();
  try {
    await waitMounted(mount, child);
    if (options.faults) await mount.setFaults(options.faults);
  } catch (error) {
    await mount.unmount();
    throw error;
  }
  return mount;
}

async function waitMounted(mount: FaultfsMount, child: ChildProcess): Promise<void> {
  for (let waitedMs = 0; waitedMs < FAULTFS_MOUNT_TIMEOUT_MS; waitedMs += FAULTFS_POLL_MS) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new MountFailedError(mount.mountPoint, `faultfs exited (${child.exitCode ?? child.signalCode}): ${mount.stderr.trim() || 'no output'}`);
    }
    if (isMountPoint(mount.mountPoint) && (await controlAnswers(mount.mountPoint))) return;
    await sleep(FAULTFS_POLL_MS);
  }
  throw new MountFailedError(mount.mountPoint, `not mounted after ${FAULTFS_MOUNT_TIMEOUT_MS} ms: ${mount.stderr.trim() || 'no output'}`);
}
