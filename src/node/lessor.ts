import type { Lease } from '../store/types.js';

/**
 * Lease deadlines, held by the leader only (as etcd's lessor "primary").
 *
 * The state machine replicates which leases exist and their granted TTLs;
 * *when* a lease expires is decided here, on the leader's monotonic clock,
 * and acted on by proposing a revoke, so every member deletes the keys at the
 * same point of the log. Followers hold no deadlines: keep-alives are
 * forwarded to the leader.
 *
 * Two rules keep leases from dying early:
 * - A new leader starts every deadline afresh at now + TTL (etcd's "extend
 *   on promotion"): it cannot know when the old leader last renewed them.
 * - After a stall of this process (a SIGSTOP, a long GC pause), `extendAll`
 *   does the same: while the leader was stopped, clients could not renew.
 * The caller also confirms its leadership with a quorum round before it
 * proposes any revoke, so a deposed leader waking up acts on nothing.
 */
export class Lessor {
  readonly #now: () => number;
  #deadlines = new Map<bigint, { ttlMs: number; deadline: number }>();
  #primary = false;

  constructor(now: () => number) {
    this.#now = now;
  }

  get primary(): boolean {
    return this.#primary;
  }

  /** This member became leader: every lease gets a full TTL from now. */
  promote(leases: readonly Lease[]): void {
    this.#primary = true;
    const now = this.#now();
    this.#deadlines = new Map(leases.map((lease) => [lease.id, { ttlMs: lease.ttlSeconds * 1000, deadline: now + lease.ttlSeconds * 1000 }]));
  }

  /** This member lost leadership: deadlines are the next leader's business. */
  demote(): void {
    this.#primary = false;
    this.#deadlines.clear();
  }

  /** The process stalled: give every lease a full TTL again (see the class comment). */
  extendAll(): void {
    const now = this.#now();
    for (const entry of this.#deadlines.values()) entry.deadline = now + entry.ttlMs;
  }

  /** A grant was applied. */
  granted(id: bigint, ttlSeconds: number): void {
    if (this.#primary) this.#deadlines.set(id, { ttlMs: ttlSeconds * 1000, deadline: this.#now() + ttlSeconds * 1000 });
  }

  /** A revoke was applied. */
  revoked(id: bigint): void {
    this.#deadlines.delete(id);
  }

  /** The state was replaced by a snapshot: rebuild from its leases (only a leader keeps deadlines). */
  reset(leases: readonly Lease[]): void {
    if (this.#primary) this.promote(leases);
  }

  /** Renews a lease; returns its TTL in seconds, or 0 when it is unknown or already expired (etcd answers a keep-alive with TTL 0 then). */
  renew(id: bigint): number {
    const entry = this.#deadlines.get(id);
    if (!entry) return 0;
    const now = this.#now();
    if (entry.deadline <= now) return 0;
    entry.deadline = now + entry.ttlMs;
    return Math.round(entry.ttlMs / 1000);
  }

  /**
   * Whole seconds left, truncated as etcd's LeaseTimeToLive does
   * (int64(Remaining().Seconds())): a 5 s lease just renewed reads 4, and
   * one with less than a second left reads 0 while it is still alive. -1
   * when unknown or expired. (It used to round up, so etcdctl lease
   * timetolive -w json printed ttl 5 where etcd prints 4.)
   */
  remainingSeconds(id: bigint): number {
    const entry = this.#deadlines.get(id);
    if (!entry) return -1;
    const left = entry.deadline - this.#now();
    return left <= 0 ? -1 : Math.floor(left / 1000);
  }

  /** Leases past their deadline, oldest first, at most `max`. */
  expired(max: number): bigint[] {
    const now = this.#now();
    const out: { id: bigint; deadline: number }[] = [];
    for (const [id, entry] of this.#deadlines) if (entry.deadline <= now) out.push({ id, deadline: entry.deadline });
    out.sort((a, b) => a.deadline - b.deadline);
    return out.slice(0, max).map((entry) => entry.id);
  }

  /** Whether `id` is still past its deadline (a keep-alive may have arrived meanwhile). */
  isExpired(id: bigint): boolean {
    const entry = this.#deadlines.get(id);
    return entry !== undefined && entry.deadline <= this.#now();
  }
}
