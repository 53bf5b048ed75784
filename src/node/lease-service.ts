import type { NodeId } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import { stamp, type Command } from '../store/command.js';
import { LeaseNotFoundError } from '../store/errors.js';
import type { CommandResponse } from '../store/state-machine.js';
import type { Lease, LeaseGrantResponse, LeaseRevokeResponse } from '../store/types.js';
import { LeaseTtlTooLargeError, NoLeaderError, NotLeaderError, OverloadedError, RequestTimeoutError } from './errors.js';
import { forwardKeepAlive, forwardTimeToLive, leaseIdOf, LEASE_TTL_MAX_SECONDS, type LeaseTimeToLive } from './lease-forward.js';
import { Lessor } from './lessor.js';
import type { Logger } from './logger.js';
import type { Reads } from './reads.js';

/** Revokes proposed per check (etcd revokes at most 1000 leases a second, so a mass expiry cannot flood the log). */
const LEASE_REVOKES_PER_CHECK = 250;
/** Leaders one forwarded keep-alive tries before it gives up (each leader change starts another try, within the request's deadline). */
const LEASE_FORWARD_ATTEMPTS_MAX = 8;

/** What the lease service needs of the member. */
export interface LeaseHost {
  isLeader(): boolean;
  /** The leader this member knows, or NONE. */
  leader(): NodeId;
  /** The known leader's client URL, from the replicated member records. */
  leaderClientUrl(): string | undefined;
  /** Aborted (and replaced) at every change of leader. */
  leaderChange(): AbortSignal;
  stopping(): boolean;
  checkAccepting(): void;
  propose(command: Command, timeoutMs?: number): Promise<CommandResponse>;
  /** The leases this member has applied. */
  leases(): Lease[];
  leaseKeys(id: bigint): Uint8Array[];
  /** A revoke the leader proposed for an expired lease has applied. */
  expiredRevoked(): void;
  requestTimeoutMs(): number;
  /** etcd's minimum TTL (see KeelNode.minLeaseTtlSeconds). */
  minLeaseTtlSeconds(): number;
}

/**
 * etcd's Lease service on a member: grants and revokes go through the log;
 * keep-alives and time-to-live are answered by the leader's deadlines (the
 * lessor), so a follower forwards them; the leader revokes what expired.
 */
export class LeaseService {
  readonly #host: LeaseHost;
  readonly #reads: Reads;
  readonly #log: Logger;
  /** The leader's lease deadlines, on the member's clock. */
  readonly lessor: Lessor;
  #revoking = false;
  /** The ReadIndex round keep-alives arriving now wait for (see #sharedRound). */
  #round: Promise<void> | undefined;

  constructor(host: LeaseHost, reads: Reads, clock: () => number, log: Logger) {
    this.#host = host;
    this.#reads = reads;
    this.#log = log;
    this.lessor = new Lessor(clock);
  }

  /** Grants a lease (id 0n: the member picks a random one); a TTL below the minimum is raised to it, as etcd does. */
  async grant(ttlSeconds: number, id: bigint, timeoutMs: number): Promise<LeaseGrantResponse> {
    if (ttlSeconds > LEASE_TTL_MAX_SECONDS) throw new LeaseTtlTooLargeError();
    const ttl = Math.max(ttlSeconds, this.#host.minLeaseTtlSeconds());
    const response = await this.#host.propose({ type: 'leaseGrant', request: { id: id === 0n ? leaseIdOf() : id, ttlSeconds: ttl } }, timeoutMs);
    return (response as Extract<CommandResponse, { type: 'leaseGrant' }>).response;
  }

  /** `authRevision`: the auth stamp of a client's revoke (the leader's own expiry revokes carry none). */
  async revoke(id: bigint, timeoutMs: number, authRevision?: number): Promise<LeaseRevokeResponse> {
    const response = await this.#host.propose({ type: 'leaseRevoke', request: { id }, ...stamp(authRevision) }, timeoutMs);
    return (response as Extract<CommandResponse, { type: 'leaseRevoke' }>).response;
  }

  /**
   * Renews a lease: answered by the leader's deadlines, so a follower
   * forwards it (once: `forwarded` requests are refused rather than passed on).
   * Returns the TTL, or 0 when the lease is unknown or expired.
   */
  async renew(id: bigint, forwarded: boolean, timeoutMs: number): Promise<number> {
    this.#host.checkAccepting();
    // As etcd's LeaseRenew: a forwarded keep-alive is abandoned when this
    // member sees the leader change, and retried with the new one (or answered
    // here, if this member now leads) within the same deadline. Bug it fixes:
    // a keep-alive sent through a follower while the leader was stopped or dead
    // waited out the whole request timeout (5 s) on it, longer than short TTLs,
    // so the new leader expired leases a client was renewing all along.
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 0; attempt < LEASE_FORWARD_ATTEMPTS_MAX; attempt++) {
      if (this.#host.isLeader()) {
        // A ReadIndex round first, as etcd 3.6's ensureLeadership and
        // waitAppliedIndex (etcd-io/etcd#15247). It confirms this member still
        // leads: a deposed leader that has not noticed yet would promise a
        // TTL its successor, promoted earlier, does not honour. And it waits
        // until this member applied everything committed before its term: a
        // revoke proposed in an earlier term (by the previous leader, or by
        // this member before it lost and won back leadership: the
        // simulator's seed 1932) may commit under this one, and renewing the
        // lease before applying it would promise a dead lease.
        // It also finds a lease granted through a follower that applied it
        // before this leader did. The deadline moves at once, from the
        // call's arrival: a keep-alive that came in time must not lose its
        // lease to the round's wait (a later revoke is always safe; the
        // answer below is what promises the client anything).
        this.lessor.renew(id);
        const caughtUp = await this.#leaderCaughtUp(deadline);
        if (caughtUp === 'timeout') break;
        if (caughtUp === 'applied' && this.#host.isLeader()) return this.lessor.renew(id);
        continue;
      }
      const remainingMs = Math.floor(deadline - performance.now());
      if (remainingMs <= 0) break;
      const leaderChanged = this.#host.leaderChange();
      if (this.#host.leader() === NONE && !forwarded) {
        // Mid-election: wait for the next leader within the deadline (etcd's waitLeader) rather than fail a keep-alive at once.
        if (!(await this.#reads.waitForLeader(remainingMs))) break;
        continue;
      }
      try {
        return await forwardKeepAlive(this.#leaderUrlFor(forwarded), id, remainingMs, leaderChanged);
      } catch (error) {
        if (!leaderChanged.aborted) throw error;
      }
    }
    throw new RequestTimeoutError(timeoutMs);
  }

  /** etcd's LeaseTimeToLive, from the leader's deadlines (TTL -1 when unknown or expired). */
  async timeToLive(id: bigint, keys: boolean, forwarded: boolean, timeoutMs: number): Promise<LeaseTimeToLive> {
    this.#host.checkAccepting();
    if (!this.#host.isLeader()) return forwardTimeToLive(this.#leaderUrlFor(forwarded), id, keys, timeoutMs, this.#host.leaderChange());
    let lease = this.#host.leases().find((candidate) => candidate.id === id);
    if (!lease) {
      // Perhaps granted through a follower that applied it before this leader did (see #leaderCaughtUp).
      const caughtUp = await this.#leaderCaughtUp(performance.now() + timeoutMs);
      if (caughtUp === 'timeout') throw new RequestTimeoutError(timeoutMs);
      if (caughtUp === 'deposed' || !this.#host.isLeader()) return forwardTimeToLive(this.#leaderUrlFor(forwarded), id, keys, timeoutMs, this.#host.leaderChange());
      lease = this.#host.leases().find((candidate) => candidate.id === id);
    }
    if (!lease) return { id, ttlSeconds: -1, grantedTtlSeconds: 0, keys: [] };
    return { id, ttlSeconds: this.lessor.remainingSeconds(id), grantedTtlSeconds: lease.ttlSeconds, keys: keys ? this.#host.leaseKeys(id) : [] };
  }

  /**
   * The leader revokes leases whose deadline passed, a bounded batch per
   * check, once a ReadIndex round confirms it still leads (a deposed leader
   * must not revoke what its successor keeps alive).
   */
  revokeExpired(): void {
    if (this.#revoking || !this.#host.isLeader() || !this.lessor.primary || this.#host.stopping()) return;
    const expired = this.lessor.expired(LEASE_REVOKES_PER_CHECK);
    if (expired.length === 0) return;
    this.#revoking = true;
    void (async () => {
      try {
        await this.#reads.round(this.#host.requestTimeoutMs());
        const still = expired.filter((id) => this.lessor.isExpired(id));
        if (still.length > 0) this.#log.info('revoking expired leases', { count: still.length });
        await Promise.all(
          still.map((id) =>
            this.#host.propose({ type: 'leaseRevoke', request: { id } }).then(
              () => this.#host.expiredRevoked(),
              (error: unknown) => {
                if (error instanceof LeaseNotFoundError) this.lessor.revoked(id);
              },
            ),
          ),
        );
      } catch {
        // Not confirmed as leader (or overloaded): the next check tries again if this member still leads.
      } finally {
        this.#revoking = false;
      }
    })();
  }

  /**
   * Keep-alives share one round at a time, as etcd's linearizable read loop
   * batches its waiters: 50 leases renewed together cost one quorum round,
   * not 50. Joining a round that started before the call is as safe as a new
   * one: what renew relies on is that a quorum acknowledged this member as
   * leader just before it answers (no successor can have promoted its lessor
   * yet) and that it applied this term's first entry (every revoke of an
   * earlier term with it), both true when any round of this term completes.
   */
  #sharedRound(timeoutMs: number): Promise<void> {
    if (this.#round) return this.#round;
    const round = this.#reads.round(timeoutMs).finally(() => {
      if (this.#round === round) this.#round = undefined;
    });
    this.#round = round;
    return round;
  }

  /**
   * One ReadIndex round: this member still leads, and has applied everything
   * committed when the call arrived. So "unknown" afterwards means unknown: with
   * a slow leader disk, followers learn a commit while the leader is still
   * writing, apply a grant and answer it, and the client's first keep-alive
   * reaches the leader before the grant does (a CI failure: etcdctl lock
   * dropped its session on the TTL 0 answer). Every keep-alive the leader
   * answers pays this quorum round (see renew); time-to-live calls pay it only
   * for leases the leader does not know.
   */
  async #leaderCaughtUp(deadline: number): Promise<'applied' | 'deposed' | 'timeout'> {
    const remainingMs = Math.floor(deadline - performance.now());
    if (remainingMs <= 0) return 'timeout';
    try {
      await this.#sharedRound(remainingMs);
      return 'applied';
    } catch (error) {
      if (error instanceof RequestTimeoutError) return 'timeout';
      if (error instanceof OverloadedError) throw error;
      return 'deposed';
    }
  }

  #leaderUrlFor(forwarded: boolean): string {
    const leader = this.#host.leader();
    if (leader === NONE) throw new NoLeaderError();
    // From the replicated member records, so a leader added by MemberAdd is reachable too.
    const url = this.#host.leaderClientUrl();
    if (forwarded || !url) throw new NotLeaderError(leader, url);
    return url;
  }
}
