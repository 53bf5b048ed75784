import { randomBytes } from 'node:crypto';
import { LeaderChangedError, RequestTimeoutError } from './errors.js';

/**
 * Lease calls that only the leader can answer (keep-alive and time-to-live
 * need its deadlines), forwarded from a follower to the leader's JSON
 * gateway, as etcd forwards them to its leader's peer URL. The forwarded
 * request is marked so that a member that is no longer leader refuses it
 * instead of forwarding it again: one hop at most.
 */

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const LEASE_TTL_MAX_SECONDS = 9_000_000_000;
/** Marks a request another member forwarded (lease calls, membership changes): the receiver never forwards it again, so members with stale leader views cannot loop. */
export const FORWARDED_HEADER = 'keel-forwarded';

export interface LeaseTimeToLive {
  id: bigint;
  /** Seconds left, -1 when the lease is unknown or expired. */
  ttlSeconds: number;
  /** The TTL it was granted with (0 when unknown). */
  grantedTtlSeconds: number;
  keys: Uint8Array[];
}

/** A random positive int64, as etcd's server picks lease ids. */
export function leaseIdOf(): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n) return id;
  }
}

/** `leaderChanged` aborts the call when the caller's member sees another leader: the one asked may be dead, and waiting out `timeoutMs` on it outlasts short lease TTLs. */
async function post(leaderUrl: string, path: string, body: unknown, timeoutMs: number, leaderChanged?: AbortSignal): Promise<Record<string, unknown>> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${leaderUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: '1' },
      body: JSON.stringify(body),
      signal: leaderChanged ? AbortSignal.any([AbortSignal.timeout(timeoutMs), leaderChanged]) : AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new RequestTimeoutError(timeoutMs);
    throw new LeaderChangedError();
  }
  if (response.status !== 200) throw new LeaderChangedError();
  try {
    // A keep-alive answers like grpc-gateway's stream: one {"result": ...} per line.
    const first = JSON.parse(text.split('\n')[0]!) as Record<string, unknown>;
    return (first.result as Record<string, unknown> | undefined) ?? first;
  } catch {
    throw new LeaderChangedError();
  }
}

/** Renews `id` on the leader; returns its TTL (0: unknown or expired). */
export async function forwardKeepAlive(leaderUrl: string, id: bigint, timeoutMs: number, leaderChanged?: AbortSignal): Promise<number> {
  const result = await post(leaderUrl, '/v3/lease/keepalive', { ID: id.toString() }, timeoutMs, leaderChanged);
  const ttl = Number(result.TTL ?? 0);
  return Number.isSafeInteger(ttl) ? ttl : 0;
}

export async function forwardTimeToLive(leaderUrl: string, id: bigint, keys: boolean, timeoutMs: number, leaderChanged?: AbortSignal): Promise<LeaseTimeToLive> {
  const result = await post(leaderUrl, '/v3/lease/timetolive', { ID: id.toString(), keys }, timeoutMs, leaderChanged);
  const list = Array.isArray(result.keys) ? (result.keys as unknown[]) : [];
  return {
    id,
    ttlSeconds: Number(result.TTL ?? -1),
    grantedTtlSeconds: Number(result.grantedTTL ?? 0),
    keys: list.filter((key): key is string => typeof key === 'string').map((key) => new Uint8Array(Buffer.from(key, 'base64'))),
  };
}
