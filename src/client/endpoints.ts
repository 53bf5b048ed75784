/**
 * Which member each attempt goes to. Calls that the leader serves best
 * (writes, linearizable reads) go to the known leader; the others rotate
 * over the members. A member that just failed is "suspect" for a while and
 * tried last; within one call, retries avoid the members that already failed
 * it. Pure bookkeeping on an injected clock; no I/O here.
 */
import type { Clock } from '../resilience/index.js';
import { ConfigError } from './errors.js';
import { ENDPOINT_SUSPECT_MS, ENDPOINTS_MAX } from './limits.js';

/** `host:port` as etcd clients take it: a DNS name or IPv4 address, or a bracketed IPv6 address, and a port. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;

/**
 * `http://host:port` (or `https://`) with no path or trailing slash. Takes a
 * URL or, as etcd's clients do, a bare `host:port` (meaning http). Throws
 * ConfigError on anything else: another scheme, a path, credentials, a
 * missing or out-of-range port on a bare `host:port`.
 */
export function normalizeEndpoint(endpoint: string): string {
  if (typeof endpoint !== 'string' || endpoint.trim() === '') throw new ConfigError(`endpoint ${JSON.stringify(endpoint)} is empty`);
  const text = endpoint.trim();
  if (!text.includes('://')) {
    const match = HOST_PORT.exec(text);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) throw new ConfigError(`endpoint ${JSON.stringify(endpoint)} is neither a URL nor host:port`);
    return normalizeEndpoint(`http://${text}`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`endpoint ${endpoint} must be http:// or https://`);
  if (url.hostname === '' || url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`endpoint ${JSON.stringify(endpoint)} must be scheme://host:port with no path, query or credentials`);
  }
  return url.origin;
}

export class EndpointSet {
  readonly #configured: readonly string[];
  readonly #known: string[];
  readonly #suspectUntilMs = new Map<string, number>();
  readonly #clock: Clock;
  #leader: string | undefined;
  #next = 0;

  constructor(endpoints: readonly string[], clock: Clock) {
    if (endpoints.length === 0) throw new ConfigError('at least one endpoint is required');
    if (endpoints.length > ENDPOINTS_MAX) throw new ConfigError(`at most ${ENDPOINTS_MAX} endpoints`);
    this.#configured = [...new Set(endpoints.map(normalizeEndpoint))];
    this.#known = [...this.#configured];
    this.#clock = clock;
  }

  get configured(): readonly string[] {
    return this.#configured;
  }

  get leader(): string | undefined {
    return this.#leader;
  }

  /** True when `endpoint` is one of the configured members. */
  isConfigured(endpoint: string): boolean {
    return this.#configured.includes(endpoint);
  }

  /**
   * The endpoint for the next attempt: the leader when `preferLeader` and it
   * is known, healthy and not in `avoid`; else the next healthy configured
   * member not in `avoid` in rotation; else the member that failed longest ago.
   */
  pick(preferLeader: boolean, avoid: ReadonlySet<string>): string {
    const nowMs = this.#clock.now();
    const leader = this.#leader;
    if (preferLeader && leader !== undefined && !avoid.has(leader) && !this.#isSuspect(leader, nowMs)) return leader;
    const count = this.#configured.length;
    for (let step = 0; step < count; step++) {
      const candidate = this.#configured[(this.#next + step) % count]!;
      if (avoid.has(candidate) || this.#isSuspect(candidate, nowMs)) continue;
      this.#next = (this.#next + step + 1) % count;
      return candidate;
    }
    const fresh = this.#configured.filter((endpoint) => !avoid.has(endpoint));
    return this.#leastRecentlyFailed(fresh.length > 0 ? fresh : this.#configured);
  }

  #isSuspect(endpoint: string, nowMs: number): boolean {
    const until = this.#suspectUntilMs.get(endpoint);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.#suspectUntilMs.delete(endpoint);
    return false;
  }

  #leastRecentlyFailed(candidates: readonly string[]): string {
    let best = candidates[0]!;
    let bestUntil = Infinity;
    for (const candidate of candidates) {
      const until = this.#suspectUntilMs.get(candidate) ?? -Infinity;
      if (until < bestUntil) {
        best = candidate;
        bestUntil = until;
      }
    }
    return best;
  }

  /** The member failed in a way that says it may be down or partitioned: try it last for a while, and forget it as leader. */
  markFailed(endpoint: string): void {
    this.#suspectUntilMs.set(endpoint, this.#clock.now() + ENDPOINT_SUSPECT_MS);
    if (this.#leader === endpoint) this.#leader = undefined;
  }

  /** The member answered: it is healthy. */
  markHealthy(endpoint: string): void {
    this.#suspectUntilMs.delete(endpoint);
  }

  /** Records the leader's URL (from a not-leader hint or from discovery). A URL beyond the configured ones is kept within ENDPOINTS_MAX. */
  setLeader(endpoint: string): void {
    if (!this.#known.includes(endpoint)) {
      if (this.#known.length >= ENDPOINTS_MAX) return;
      this.#known.push(endpoint);
    }
    this.#leader = endpoint;
    this.#suspectUntilMs.delete(endpoint);
  }

  clearLeader(): void {
    this.#leader = undefined;
  }
}
