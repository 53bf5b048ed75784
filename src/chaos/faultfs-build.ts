import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { shippedFile } from '../observe/stack/index.js';
import { CommandFailedError, UnsupportedError } from './errors.js';
import { COMMAND_TIMEOUT_MS, FAULTFS_BUILD_TIMEOUT_MS } from './limits.js';

/**
 * Builds faultfs (native/faultfs/faultfs.c, a passthrough FUSE filesystem
 * with injectable disk faults) on demand. The binary is cached under the
 * build dir as `faultfs-<hash>`, the hash taken over the source and the
 * compiler flags: a changed source (or libfuse) builds a new binary, an
 * unchanged one is reused, and two worktrees or test processes sharing a
 * build dir never run each other's build. A build writes a temporary file
 * and renames it, so concurrent builds are safe.
 */
export const FAULTFS_SOURCE = 'native/faultfs/faultfs.c';
/** The oldest libfuse3 faultfs compiles against (its loop config with a thread bound). */
const LIBFUSE_VERSION_MIN = '3.12';

const execFileAsync = promisify(execFile);

function commandWorks(argv: readonly string[]): boolean {
  const result = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
  return !result.error && result.status === 0;
}

/**
 * Why faultfs cannot be built or mounted on this host, or undefined when it
 * can: Linux, root, a usable /dev/fuse, fusermount3, gcc and libfuse3's
 * headers (Debian: `apt-get install fuse3 libfuse3-dev gcc pkg-config`).
 */
export function faultfsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `faultfs needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'faultfs mounts need root';
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/fuse is missing or not usable (in a container: --device /dev/fuse --cap-add SYS_ADMIN)';
  }
  if (!commandWorks(['fusermount3', '-V'])) return 'fusermount3 is not installed (apt-get install fuse3)';
  if (!commandWorks(['gcc', '--version'])) return 'gcc is not installed (apt-get install gcc)';
  if (!commandWorks(['pkg-config', '--version'])) return 'pkg-config is not installed (apt-get install pkg-config)';
  if (!commandWorks(['pkg-config', `--atleast-version=${LIBFUSE_VERSION_MIN}`, 'fuse3'])) {
    return `libfuse3 headers ${LIBFUSE_VERSION_MIN} or later are not installed (apt-get install libfuse3-dev)`;
  }
  if (shippedFile(FAULTFS_SOURCE) === undefined) return `${FAULTFS_SOURCE} is not shipped with this install`;
  return undefined;
}

function fuseFlags(): string[] {
  const result = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (result.status !== 0) throw new UnsupportedError(`pkg-config fuse3 failed: ${result.stderr ?? result.error?.message ?? ''}`);
  return result.stdout.trim().split(/\s+/).filter(Boolean);
}

/** Where binaries are cached unless told otherwise: `.keel/build` beside the source (git-ignored). */
export function defaultBuildDir(source: string): string {
  return join(dirname(source), '../../.keel/build');
}

/** Removes binaries of earlier sources (a running one keeps running: its file stays open until it exits). */
function pruneOtherBuilds(directory: string, keep: string): void {
  for (const name of readdirSync(directory)) {
    if (/^faultfs-[0-9a-f]{16}$/.test(name) && join(directory, name) !== keep) rmSync(join(directory, name), { force: true });
  }
}

/**
 * The faultfs binary for this source, built first when the cache has none.
 * Throws UnsupportedError (KEEL_CHAOS_UNSUPPORTED) when the host cannot
 * build or mount it, CommandFailedError when gcc fails.
 */
export async function buildFaultfs(buildDir?: string): Promise<string> {
  const reason = faultfsUnavailableReason();
  if (reason) throw new UnsupportedError(reason);
  const source = shippedFile(FAULTFS_SOURCE)!;
  const flags = fuseFlags();
  const compile = ['-O2', '-Wall', '-Wextra', '-std=gnu11'];
  const hash = createHash('sha256').update(readFileSync(source)).update(JSON.stringify([compile, flags])).digest('hex').slice(0, 16);
  const directory = buildDir ?? defaultBuildDir(source);
  const binary = join(directory, `faultfs-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(directory, { recursive: true });
  const temporary = `${binary}.${process.pid}.tmp`;
  const argv = ['gcc', ...compile, ...flags.filter((flag) => flag.startsWith('-I')), '-o', temporary, source, ...flags.filter((flag) => !flag.startsWith('-I'))];
  try {
    await execFileAsync(argv[0]!, argv.slice(1), { timeout: FAULTFS_BUILD_TIMEOUT_MS });
    renameSync(temporary, binary);
    pruneOtherBuilds(directory, binary);
  } catch (error) {
    rmSync(temporary, { force: true });
    const failure = error as { stderr?: string; message: string };
    throw new CommandFailedError(argv, failure.stderr || failure.message);
  }
  return binary;
}
