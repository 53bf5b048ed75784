/**
 * Which targets a run may send to: loopback always; anything else only when
 * named with --allow-remote (a host, or host:port). A load generator pointed
 * at the wrong address is an attack, so the default refuses.
 */
import { isIP } from 'node:net';
import { LoadError } from './errors.js';

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

export class TargetGuard {
  readonly #allowed: ReadonlySet<string>;
  readonly #checked = new Set<string>();

  /** `allowRemote`: hosts or host:port pairs the user named. */
  constructor(allowRemote: readonly string[] = []) {
    this.#allowed = new Set(allowRemote.map((entry) => entry.trim().toLowerCase()).filter((entry) => entry.length > 0));
  }

  /** Throws KEEL_LOAD_TARGET_REFUSED unless `host:port` is loopback or named. */
  check(host: string, port: string | number): void {
    const key = `${host}:${port}`.toLowerCase();
    if (this.#checked.has(key)) return;
    const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (!isLoopbackHost(host) && !this.#allowed.has(bare) && !this.#allowed.has(key) && !this.#allowed.has(`${bare}:${port}`)) {
      throw new LoadError('KEEL_LOAD_TARGET_REFUSED', `target ${host}:${port} is not on loopback: name it with --allow-remote ${bare} to send load there`);
    }
    if (this.#checked.size < 1_000) this.#checked.add(key);
  }

  checkUrl(url: URL): void {
    this.check(url.hostname, url.port || (url.protocol === 'https:' ? '443' : '80'));
  }
}
