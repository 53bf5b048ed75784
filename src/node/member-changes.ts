import type { ConfChange, ConfState, NodeId } from '../raft/types.js';
import { ConfChangeType } from '../raft/types.js';
import { RaftError } from '../raft/errors.js';
import { MembershipError, OverloadedError, RequestTimeoutError } from './errors.js';
import {
  LEARNERS_MAX,
  LEARNER_READY_RATIO,
  addedMemberId,
  checkPeerUrls,
  encodeChangeContext,
  raftIdOf,
} from './membership.js';
import type { MemberRecord, MembershipCommand, MembershipEffect, MembershipTable } from './membership.js';
import { encodeMembershipEntry } from './entry-codec.js';
import { Wait } from './wait.js';

/** Membership changes waiting to apply on this member at once (etcd serialises them anyway). */
export const MEMBER_CHANGES_PENDING_MAX = 64;
/** Attempts to propose one change while the core refuses it for a transient reason (a change pending, a new leader's first commit). */
const PROPOSE_ATTEMPTS_MAX = 200;

/** What the member offers the membership logic (implemented by KeelNode). */
export interface MemberChangeHost {
  readonly clusterName: string;
  readonly strictReconfigCheck: boolean;
  readonly tickMs: number;
  readonly table: MembershipTable;
  selfId(): NodeId;
  /** Latest membership in the log. */
  confState(): ConfState;
  /** Leader only: replication progress by member. */
  progress(): ReadonlyMap<NodeId, { match: number }>;
  lastIndex(): number;
  /** True when this member's transport has an established connection to `peer` (etcd's "active" / started). */
  connected(peer: NodeId): boolean;
  proposeConfChange(change: ConfChange): void;
  proposeData(data: Uint8Array): void;
  newRequestId(): string;
}

/**
 * The leader's side of etcd's Cluster service: checks a request as etcd
 * does (with --strict-reconfig-check), proposes one single-server change,
 * and resolves once this member has applied it, so the answer lists the
 * members after the change.
 */
export class MemberChanges {
  readonly #host: MemberChangeHost;
  readonly #waiters = new Wait<void>();

  constructor(host: MemberChangeHost) {
    this.#host = host;
  }

  /** MemberAdd: returns the new member's record (unstarted: no name, no client URLs). */
  async add(peerUrls: unknown, isLearner: boolean, timeoutMs: number): Promise<MemberRecord> {
    const urls = checkPeerUrls(peerUrls);
    const host = this.#host;
    const conf = host.confState();
    const members = [...conf.voters, ...conf.learners];
    for (const url of urls) {
      if (host.table.byPeerUrl(url, members)) throw new MembershipError('KEEL_MEMBER_PEER_URL_EXISTS', `a member already has peer URL ${url}`);
    }
    const memberId = addedMemberId(host.clusterName, urls[0]!);
    const raftId = raftIdOf(memberId);
    if (members.includes(raftId)) throw new MembershipError('KEEL_MEMBER_EXISTS', `member ${raftId} already exists`);
    if (host.table.isRemoved(raftId)) throw new MembershipError('KEEL_MEMBER_ID_REMOVED', `member ${raftId} (peer URL ${urls[0]}) was removed; its id is not reused`);
    // etcd's isConnectedFullySince: a new member is added only while every voter is reachable (etcd also wants 5 s of it; keel asks for a live connection now).
    if (host.strictReconfigCheck && this.#startedVoters(conf, undefined) < conf.voters.length) {
      throw new MembershipError('KEEL_MEMBER_UNHEALTHY', 'not every voting member is connected to the leader');
    }
    if (isLearner && conf.learners.length >= LEARNERS_MAX) throw new MembershipError('KEEL_MEMBER_TOO_MANY_LEARNERS', `at most ${LEARNERS_MAX} learner(s)`);
    if (!isLearner) this.#checkStartedFor(conf.voters.length + 1, this.#startedVoters(conf, undefined));
    const record: MemberRecord = { raftId, memberId, name: '', peerUrls: urls, clientUrls: [] };
    await this.#propose(timeoutMs, (requestId) =>
      host.proposeConfChange({ type: isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, nodeId: raftId, context: encodeChangeContext(requestId, record) }),
    );
    return record;
  }

  async remove(memberId: bigint, timeoutMs: number): Promise<void> {
    const host = this.#host;
    const conf = host.confState();
    const record = this.#find(memberId, conf);
    const isVoter = conf.voters.includes(record.raftId);
    if (isVoter && conf.voters.length === 1) throw new MembershipError('KEEL_MEMBER_LAST_VOTER', 'cannot remove the last voting member');
    if (isVoter && host.strictReconfigCheck) this.#checkRemoveVoter(record.raftId, conf);
    await this.#propose(timeoutMs, (requestId) =>
      host.proposeConfChange({ type: ConfChangeType.Remove, nodeId: record.raftId, context: encodeChangeContext(requestId, undefined) }),
    );
  }

  async promote(memberId: bigint, timeoutMs: number): Promise<void> {
    const host = this.#host;
    const conf = host.confState();
    const record = this.#find(memberId, conf);
    if (!conf.learners.includes(record.raftId)) throw new MembershipError('KEEL_MEMBER_NOT_LEARNER', `member ${record.raftId} is not a learner`);
    // etcd's isLearnerReady: the learner's match index is at least 90% of the leader's.
    const learnerMatch = host.progress().get(record.raftId)?.match ?? 0;
    const leaderMatch = host.lastIndex();
    if (learnerMatch < leaderMatch * LEARNER_READY_RATIO) {
      throw new MembershipError('KEEL_MEMBER_LEARNER_NOT_READY', `learner ${record.raftId} has ${learnerMatch} of ${leaderMatch} entries`);
    }
    // etcd's isReadyToPromoteMember: the promoted learner counts as started.
    this.#checkStartedFor(conf.voters.length + 1, this.#startedVoters(conf, undefined) + 1);
    await this.#propose(timeoutMs, (requestId) =>
      host.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: record.raftId, context: encodeChangeContext(requestId, undefined) }),
    );
  }

  async update(memberId: bigint, peerUrls: unknown, timeoutMs: number): Promise<void> {
    const urls = checkPeerUrls(peerUrls);
    const host = this.#host;
    const conf = host.confState();
    const record = this.#find(memberId, conf);
    const members = [...conf.voters, ...conf.learners].filter((id) => id !== record.raftId);
    for (const url of urls) {
      if (host.table.byPeerUrl(url, members)) throw new MembershipError('KEEL_MEMBER_PEER_URL_EXISTS', `another member has peer URL ${url}`);
    }
    await this.#propose(timeoutMs, (requestId) => host.proposeData(encodeMembershipEntry({ op: 'update', raftId: record.raftId, peerUrls: urls, requestId })));
  }

  /** A joining member announces its name and client URLs (etcd's publish); answered when applied. */
  async publish(command: Omit<Extract<MembershipCommand, { op: 'publish' }>, 'requestId'>, timeoutMs: number): Promise<void> {
    await this.#propose(timeoutMs, (requestId) => this.#host.proposeData(encodeMembershipEntry({ ...command, requestId })), false);
  }

  /** Called by the member for every applied membership effect: answers the request that proposed it, if it was ours. */
  applied(effect: MembershipEffect): void {
    if (effect.requestId) this.#waiters.trigger(effect.requestId, undefined);
  }

  /** Fails every waiting request (the member is stopping). */
  rejectAll(error: unknown): void {
    this.#waiters.failAll(() => error);
  }

  #find(memberId: bigint, conf: ConfState): MemberRecord {
    const record = this.#host.table.byMemberId(memberId, [...conf.voters, ...conf.learners]);
    if (!record) throw new MembershipError('KEEL_MEMBER_NOT_FOUND', `no member with id ${memberId.toString(16)}`);
    return record;
  }

  /** Voters this leader hears from: itself and every voter its transport is connected to (etcd counts started members). */
  #startedVoters(conf: ConfState, excluding: NodeId | undefined): number {
    const self = this.#host.selfId();
    return conf.voters.filter((id) => id !== excluding && (id === self || this.#host.connected(id))).length;
  }

  #checkStartedFor(votersAfter: number, started: number): void {
    if (!this.#host.strictReconfigCheck) return;
    const quorum = Math.floor(votersAfter / 2) + 1;
    if (started < quorum) throw new MembershipError('KEEL_MEMBER_NOT_ENOUGH_STARTED', `${started} started voters, ${quorum} needed after the change`);
  }

  /** etcd's mayRemoveMember: the remaining started voters keep a quorum; a down member may always go. */
  #checkRemoveVoter(raftId: NodeId, conf: ConfState): void {
    const remaining = conf.voters.length - 1;
    this.#checkStartedFor(remaining, this.#startedVoters(conf, raftId));
    const self = this.#host.selfId();
    if (raftId !== self && !this.#host.connected(raftId)) return;
    const active = this.#startedVoters(conf, undefined);
    if (active - 1 < Math.floor(remaining / 2) + 1) throw new MembershipError('KEEL_MEMBER_UNHEALTHY', `${active} active voters: removing one would leave no quorum`);
  }

  /**
   * Proposes and waits until this member applied the entry. The core refuses
   * a change while another is uncommitted or before a new leader committed in
   * its term; both pass within a few ticks, so the proposal is retried until
   * the deadline (bounded attempts).
   */
  async #propose(timeoutMs: number, propose: (requestId: string) => void, retryRejected = true): Promise<void> {
    if (this.#waiters.size >= MEMBER_CHANGES_PENDING_MAX) throw new OverloadedError('too many membership changes pending', 1);
    const requestId = this.#host.newRequestId();
    const deadline = performance.now() + timeoutMs;
    const applied = this.#waiters.register(requestId, timeoutMs, () => new RequestTimeoutError(timeoutMs), {});
    for (let attempt = 1; ; attempt++) {
      try {
        propose(requestId);
        break;
      } catch (error) {
        const transient = retryRejected && RaftError.is(error) && error.code === 'KEEL_RAFT_CONF_CHANGE_REJECTED';
        if (!transient || attempt >= PROPOSE_ATTEMPTS_MAX || performance.now() + this.#host.tickMs > deadline) {
          this.#waiters.cancel(requestId);
          applied.catch(() => {});
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, this.#host.tickMs));
      }
    }
    await applied;
  }
}
