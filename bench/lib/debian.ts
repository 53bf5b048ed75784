/**
 * The anchors the benchmarks compare against come from Debian packages
 * (etcd-server, nginx-light, haproxy). Where one is missing and we are root,
 * install it with apt-get, as .ci/run does for etcd; otherwise say what to
 * install.
 */
import { accessSync, constants } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** How long one apt-get step may take. */
const APT_TIMEOUT_MS = 300_000;

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure `binary` exists, installing Debian's `pkg` with apt-get when
 * it does not and we are root. Returns whether it exists afterwards.
 */
export function ensureDebianBinary(binary: string, pkg: string, log: (line: string) => void = () => {}): boolean {
  if (isExecutable(binary)) return true;
  if (process.getuid?.() !== 0) return false;
  log(`${binary} not found; installing ${pkg} with apt-get`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: APT_TIMEOUT_MS });
    execFileSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', env, timeout: APT_TIMEOUT_MS });
  } catch (error) {
    log(`apt-get install ${pkg} failed: ${(error as Error).message}`);
    return false;
  }
  return isExecutable(binary);
}
