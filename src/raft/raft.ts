import { assert } from './assert.js';
import { decodeConfChange } from './conf-change.js';
import { resolveConfig } from './config.js';
import type { RaftConfig, ResolvedRaftConfig } from './config.js';
import { ConfChangeRejectedError, NotLeaderError, ProposalDroppedError, TransferRejectedError } from './errors.js';
import { RaftLog } from './log.js';
import { ProgressState } from './progress.js';
import type { Progress } from './progress.js';
import { VoteResult } from './quorum.js';
import { ReadOnly } from './read-only.js';
import { entrySizeBytes } from './storage.js';
import { ProgressTracker } from './tracker.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, ReadState, Snapshot, SoftState } from './types.js';
import {
  CAMPAIGN_TRANSFER,
  ConfChangeType,
  EntryType,
  LeaderElection,
  MessageType,
  NONE,
  ReadOnlyOption,
  Role,
  message,
} from './types.js';

/** A proposal to append: the core assigns index and term. */
export interface ProposedEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Where a local proposal went. */
export interface ProposalResult {
  /** Index assigned by the leader; 0 when forwarded (the index is unknown here). */
  readonly index: number;
  /** Term the entry was proposed in; the proposal succeeded if the entry applied at `index` has this term. */
  readonly term: number;
  /** Set when a follower forwarded the proposal to this leader. */
  readonly forwardedTo?: NodeId;
}

const CAMPAIGN_PRE = 'pre-election';
const CAMPAIGN_ELECTION = 'election';
const CAMPAIGN_TRANSFER_KIND = 'transfer';
/** Forwarded proposals a transferring leader holds at most (more are dropped, as without holding). */
const HELD_PROPOSALS_MAX = 4096;
/** Held proposals older than this many election timeouts are dropped (no leader emerged to take them). */
const HELD_TICKS_MAX_ELECTIONS = 2;
type CampaignKind = typeof CAMPAIGN_PRE | typeof CAMPAIGN_ELECTION | typeof CAMPAIGN_TRANSFER_KIND;

/**
 * The Raft protocol as a deterministic state machine. Inputs: `tick()`,
 * `step(message)` and the proposal/read/transfer calls; outputs accumulate in
 * `messages` and `readStates` and in the log, and are collected by RawNode
 * into a Ready. Role changes happen only in the `become*` methods.
 */
export class Raft {
  readonly id: NodeId;
  readonly config: ResolvedRaftConfig;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  /** Target of a leader transfer in progress, or NONE. */
  leadTransferee: NodeId = NONE;

  /** Outbound messages, drained by RawNode.ready(). */
  messages: Message[] = [];
  /** Reads that became safe, drained by RawNode.ready(). */
  readStates: ReadState[] = [];

  #readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before the leader committed an entry of its term. */
  #readsAwaitingCommit: Message[] = [];
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  /** Monotonic count of ticks since this instance started; the leader lease is measured in it. */
  #ticks = 0;
  /**
   * With lease-based reads, true until an election timeout has passed since
   * start. A restarted node does not remember when it last heard from a
   * leader, so it refuses votes for one timeout: otherwise it could help
   * elect a new leader while the old one still serves reads on its lease.
   */
  #quietAfterStart: boolean;
  #uncommittedBytes = 0;
  /** Leader: appends are owed to followers for entries proposed since the last Ready (batching). */
  #broadcastPending = false;
  /** Follower: proposals to forward to the leader in one message at the next Ready. */
  #forwardBuffer: Entry[] = [];
  /**
   * Proposals followers forwarded while this leader was handing off
   * leadership, or that reached it (or a candidate) while no leader was
   * known. Dropping them (as etcd's raft does) loses writes the followers
   * cannot know were never appended; held instead, they go to whoever leads
   * next (forwarded once this node follows it, or appended here if it leads).
   * Nothing held was appended, so delivering it once is no duplicate.
   * Bounded in count and age.
   */
  #held: ProposedEntry[] = [];
  #heldSinceTick = 0;
  /** The newest term in which this follower forwarded held proposals to its leader (0: never). */
  #heldForwardedTerm = 0;
  /**
   * The candidates this node saw campaign for the current term (itself
   * included), each with true if it campaigned by a leader transfer: what
   * softState().leaderElection reports once one of them leads. At most one
   * entry per voter (only voters are recorded); cleared when the term changes.
   */
  #campaigns = new Map<NodeId, boolean>();
  #configVersion = -1;

  constructor(config: RaftConfig) {
    this.config = resolveConfig(config);
    this.id = this.config.id;
    this.#quietAfterStart = this.config.readOnlyOption === ReadOnlyOption.LeaseBased;
    const { storage } = this.config;
    const { hardState } = storage.initialState();
    this.log = new RaftLog(storage, this.config.applied);
    this.tracker = new ProgressTracker(this.config.maxInflightMessages, this.config.maxInflightBytes);
    if (hardState.term > 0 || hardState.commit > 0) {
      assert(
        hardState.commit <= this.log.lastIndex(),
        `hard state commit ${hardState.commit} is beyond the last index ${this.log.lastIndex()}`,
      );
      // A snapshot proves its index committed even if the commit mark was not synced.
      this.log.committed = Math.max(hardState.commit, this.log.committed);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    this.#syncConfig();
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- state views

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role, leaderElection: this.#leaderElection() };
  }

  #leaderElection(): LeaderElection {
    const byTransfer = this.lead === NONE ? undefined : this.#campaigns.get(this.lead);
    if (byTransfer === undefined) return LeaderElection.Unknown;
    return byTransfer ? LeaderElection.Transfer : LeaderElection.Election;
  }

  /** Latest membership in the log (committed or not). */
  confState(): ConfState {
    return this.log.config.latest();
  }

  /** True if this member may campaign: it is a voter in its latest configuration. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  /** Monotonic tick count, for callers that time things in ticks. */
  ticks(): number {
    return this.#ticks;
  }

  /** Leader: true when a majority acknowledged heartbeats recently enough that no other leader can exist. */
  leaseValid(): boolean {
    if (this.role !== Role.Leader || this.leadTransferee !== NONE) return false;
    const acked = this.tracker.quorumAckedTick();
    return this.#ticks < acked + this.config.electionTicks - this.config.leaseMarginTicks;
  }

  /** Broadcasts owed from batched proposals, sent when RawNode builds a Ready. */
  flushBatched(): void {
    if (this.#heldDeliverable()) this.#deliverHeld();
    if (this.#broadcastPending) {
      this.#broadcastPending = false;
      if (this.role === Role.Leader) this.#broadcastAppend(false);
    }
    if (this.#forwardBuffer.length > 0) {
      const entries = this.#forwardBuffer;
      this.#forwardBuffer = [];
      if (this.lead !== NONE && this.role === Role.Follower) {
        this.#send(message({ type: MessageType.Propose, to: this.lead, entries }));
      }
    }
  }

  /**
   * With async storage writes: the caller reports that every entry it was
   * handed up to now is durable (called by `RawNode.advance` after
   * `log.stableTo`). The leader's own progress moves to what is durable, and
   * that may commit: the leader's copy counts toward the quorum only from
   * here (Raft thesis §10.2.1), so a leader that crashes before its fsync
   * never counted a copy it lost.
   */
  selfPersisted(): void {
    if (!this.config.asyncStorageWrites || this.role !== Role.Leader) return;
    const self = this.tracker.progress.get(this.id);
    if (!self || !self.maybeUpdate(this.#selfDurableIndex())) return;
    if (this.#maybeCommit()) {
      this.#releaseReadsAwaitingCommit();
      // Tell the followers the new commit index (collected by the next Ready).
      this.#broadcastAppend(true);
    }
  }

  /**
   * The last index of this node's own log that it may count as held: every
   * index with async storage writes only up to what storage acknowledged
   * (the unstable tail starts after it); otherwise the whole log, which the
   * caller makes durable before any message leaves.
   */
  #selfDurableIndex(): number {
    if (!this.config.asyncStorageWrites) return this.log.lastIndex();
    return Math.min(this.log.lastIndex(), this.log.unstable.offset - 1);
  }

  /**
   * The newest term in which this follower forwarded proposals it held
   * through a leader change (0: never). They land after that term's first
   * entry, so a member waiting on one of them must not give it up as lost
   * when that entry applies (src/node/lost-writes.ts).
   */
  heldForwardedTerm(): number {
    return this.#heldForwardedTerm;
  }

  /** Proposals this node holds for a leader it does not know yet, or buffered for the next Ready: a stopping member lets them go first. */
  heldProposals(): number {
    return this.#held.length + this.#forwardBuffer.length;
  }

  hasBatched(): boolean {
    return this.#broadcastPending || this.#forwardBuffer.length > 0 || this.#heldDeliverable();
  }

  /** Held proposals can go now: this node leads with no transfer under way, or follows a known leader. */
  #heldDeliverable(): boolean {
    if (this.#held.length === 0) return false;
    return (this.role === Role.Leader && this.leadTransferee === NONE) || (this.role === Role.Follower && this.lead !== NONE && !this.config.disableProposalForwarding);
  }

  #deliverHeld(): void {
    const held = this.#held;
    this.#held = [];
    if (this.role === Role.Leader) {
      try {
        this.#leaderPropose(held);
      } catch {
        // dropped, as a forwarded proposal the leader cannot take (the followers' deadlines catch it)
      }
      return;
    }
    for (const entry of held) this.#forwardBuffer.push({ term: 0, index: 0, type: entry.type, data: entry.data });
    this.#heldForwardedTerm = this.term;
  }

  /** Called by RawNode once committed entries were applied: shrinks the uncommitted budget. */
  reduceUncommitted(entries: readonly Entry[]): void {
    if (this.role !== Role.Leader) return;
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.byteLength;
    this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes - bytes);
  }

  // ---------------------------------------------------------------- role changes

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  becomePreCandidate(): void {
    assert(this.role !== Role.Leader, 'leader cannot become pre-candidate');
    // A pre-candidate changes neither term nor vote: that is the point of PreVote.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'leader cannot become candidate');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, `${this.role} cannot become leader`);
    this.#reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.tracker.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.ackedTick = Number.POSITIVE_INFINITY;
    }
    // An empty entry of the new term: committing it commits everything before it (§5.4.2)
    // and makes ReadIndex and membership changes safe.
    this.#appendEntries([{ type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
      this.#campaigns.clear();
    }
    this.lead = NONE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTimeout = this.config.electionTicks + this.config.random.int(this.config.electionTicks);
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, progress] of this.tracker.progress) {
      progress.match = id === this.id ? this.#selfDurableIndex() : 0;
      progress.becomeProbe();
      progress.next = next;
      progress.recentActive = false;
      progress.ackedTick = Number.NEGATIVE_INFINITY;
    }
    this.#uncommittedBytes = 0;
    this.#readOnly = new ReadOnly();
    this.#readsAwaitingCommit = [];
    this.#broadcastPending = false;
    // Proposals buffered for the old leader were never sent: a term change in the same turn (a transfer's
    // vote, a new leader's append) used to drop them, failing writes across a planned restart. Held
    // instead, they go to whoever leads this term, once (nothing buffered had left this node).
    if (this.#forwardBuffer.length > 0) {
      const unsent = this.#forwardBuffer;
      this.#forwardBuffer = [];
      this.#hold(unsent);
    }
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.#ticks++;
    if (this.#held.length > 0 && this.#ticks - this.#heldSinceTick > HELD_TICKS_MAX_ELECTIONS * this.config.electionTicks) this.#held = [];
    if (this.role === Role.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.config.electionTicks) this.#quietAfterStart = false;
    if (this.promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.step(message({ type: MessageType.Hup, from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.config.electionTicks) {
      this.#electionElapsed = 0;
      this.#quietAfterStart = false;
      if (this.config.checkQuorum) this.step(message({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === Role.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== Role.Leader) return;
    if (this.#heartbeatElapsed >= this.config.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.step(message({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---------------------------------------------------------------- local API

  /**
   * Proposes entries. Returns where they went; throws ProposalDroppedError
   * (no leader, transfer in progress, too much uncommitted data),
   * NotLeaderError (follower with forwarding disabled) or
   * ConfChangeRejectedError.
   */
  propose(entries: readonly ProposedEntry[]): ProposalResult {
    assert(entries.length > 0, 'propose needs at least one entry');
    if (this.role === Role.Leader) return this.#leaderPropose(entries);
    if (entries.some((entry) => entry.type === EntryType.ConfChange)) throw new NotLeaderError(this.lead);
    if (this.lead === NONE) throw new ProposalDroppedError('no leader is known', true);
    if (this.config.disableProposalForwarding) throw new NotLeaderError(this.lead);
    if (this.role !== Role.Follower) throw new ProposalDroppedError(`this node is a ${this.role}`, true);
    for (const entry of entries) {
      this.#forwardBuffer.push({ term: 0, index: 0, type: entry.type, data: entry.data });
    }
    if (!this.config.batchAppends) this.flushBatched();
    return { index: 0, term: this.term, forwardedTo: this.lead };
  }

  #leaderPropose(entries: readonly ProposedEntry[]): ProposalResult {
    if (!this.tracker.progress.has(this.id)) throw new ProposalDroppedError('this node was removed from the cluster');
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError(`leader transfer to ${this.leadTransferee} in progress`, true);
    const confChanges = entries.filter((entry) => entry.type === EntryType.ConfChange);
    if (confChanges.length > 1) throw new ConfChangeRejectedError('one membership change at a time');
    if (confChanges.length === 1) this.#checkConfChange(decodeConfChange(confChanges[0]!.data));
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.byteLength;
    // An oversized batch is still accepted when nothing is outstanding, so that progress is always possible.
    if (this.#uncommittedBytes > 0 && this.#uncommittedBytes + bytes > this.config.maxUncommittedEntriesBytes) {
      throw new ProposalDroppedError('too many uncommitted bytes at the leader');
    }
    this.#uncommittedBytes += bytes;
    const first = this.#appendEntries(entries);
    if (this.config.batchAppends) this.#broadcastPending = true;
    else this.#broadcastAppend(false);
    return { index: first, term: this.term };
  }

  /** The rules that keep single-server membership changes safe and the cluster available. */
  #checkConfChange(change: ConfChange): void {
    if (this.log.config.latestIndex() > this.log.committed) {
      throw new ConfChangeRejectedError('another membership change is not committed yet');
    }
    // Ongaro's fix for single-server changes: a new leader must commit an entry of
    // its own term first, or a change from a deposed leader's term can be lost
    // while a conflicting one commits.
    if (!this.#committedEntryInCurrentTerm()) {
      throw new ConfChangeRejectedError('the leader has not committed an entry in its term yet');
    }
    const conf = this.confState();
    const isVoter = conf.voters.includes(change.nodeId);
    const isLearner = conf.learners.includes(change.nodeId);
    switch (change.type) {
      case ConfChangeType.AddVoter: {
        if (isVoter) throw new ConfChangeRejectedError(`${change.nodeId} is already a voter`);
        if (isLearner) {
          const progress = this.tracker.progress.get(change.nodeId);
          const lag = this.log.lastIndex() - (progress?.match ?? 0);
          if (lag > this.config.learnerPromotionLagMax) {
            throw new ConfChangeRejectedError(`learner ${change.nodeId} is ${lag} entries behind; promote it once it has caught up`);
          }
        }
        break;
      }
      case ConfChangeType.AddLearner:
        if (isVoter) throw new ConfChangeRejectedError(`${change.nodeId} is a voter; a voter cannot become a learner`);
        if (isLearner) throw new ConfChangeRejectedError(`${change.nodeId} is already a learner`);
        break;
      case ConfChangeType.Remove:
        if (!isVoter && !isLearner) throw new ConfChangeRejectedError(`${change.nodeId} is not a member`);
        if (isVoter && conf.voters.length === 1) throw new ConfChangeRejectedError('cannot remove the last voter');
        break;
    }
  }

  /** Requests a linearizable read; the answer arrives as a ReadState carrying `context`. */
  readIndex(context: Uint8Array): void {
    this.step(message({ type: MessageType.ReadIndex, from: this.id, context }));
  }

  /** Asks the leader (this node or, forwarded, the known leader) to hand leadership to `target`. */
  transferLeader(target: NodeId): void {
    if (this.role !== Role.Leader && this.lead === NONE) throw new TransferRejectedError('no leader is known');
    if (this.role === Role.Leader) {
      if (!this.tracker.isVoter(target)) throw new TransferRejectedError(`${target} is not a voter`);
    }
    this.step(message({ type: MessageType.TransferLeader, from: this.id, to: this.id, context: encodeNodeId(target) }));
  }

  // ---------------------------------------------------------------- step

  /** Feeds one message (from the network or local) into the state machine. */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message, or one that carries no term (forwarded proposals and reads).
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = equalBytes(m.context, CAMPAIGN_TRANSFER);
        if (!force && this.#inLease()) {
          // We heard from a leader within the election timeout (or just started):
          // refuse to be disrupted by a node that cannot hear that leader.
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
        // Granted pre-votes carry the term we would campaign at; the term moves once we win.
      } else if (
        m.type === MessageType.Append ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snapshot
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      this.#stepStale(m);
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.#hup(this.config.preVote ? CAMPAIGN_PRE : CAMPAIGN_ELECTION);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.#stepVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case Role.Leader:
        this.#stepLeader(m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.#stepCandidate(m);
        return;
      case Role.Follower:
        this.#stepFollower(m);
        return;
    }
  }

  #inLease(): boolean {
    if (!this.config.checkQuorum) return false;
    if (this.#quietAfterStart) return true;
    return this.lead !== NONE && this.#electionElapsed < this.config.electionTicks;
  }

  #stepStale(m: Message): void {
    if (m.type === MessageType.Heartbeat || m.type === MessageType.Append) {
      // Tell the sender our term. A deposed leader steps down on it; and a
      // leader whose follower advanced its term while cut off learns the term
      // and can win it back. etcd answers only with CheckQuorum or PreVote on,
      // counting otherwise on the follower's vote requests reaching the
      // leader, but a follower that missed membership changes may send its
      // votes only to members that are gone (found by the simulator, seed 55).
      this.#send(message({ type: MessageType.AppendResponse, to: m.from }));
    } else if (m.type === MessageType.PreVote) {
      this.#send(message({ type: MessageType.PreVoteResponse, to: m.from, term: this.term, reject: true }));
    } else if (m.type === MessageType.Vote) {
      // Refuse with our term, as the Raft paper's RequestVote does (etcd
      // ignores it). Else a candidate below our term never learns it when we
      // never send to it ourselves: a member that missed membership changes
      // campaigns only among members that are gone or cannot elect it, and
      // the others' campaigns stay below its term for ever (found by the
      // simulator, seed 936 with leases forced).
      this.#send(message({ type: MessageType.VoteResponse, to: m.from, term: this.term, reject: true }));
    }
    // Anything else from an older term is ignored.
  }

  #stepVoteRequest(m: Message): void {
    // step() moved this node to a higher term first, so a vote request here is for the current term.
    if (m.type === MessageType.Vote && this.tracker.isVoter(m.from)) this.#campaigns.set(m.from, equalBytes(m.context, CAMPAIGN_TRANSFER));
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    if (canVote && this.candidateIsUpToDate(m.index, m.logTerm)) {
      // Answer at the request's term: a granted pre-vote must be counted at the term being campaigned for.
      this.#send(message({ type: responseType, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.#electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.#send(message({ type: responseType, to: m.from, term: this.term, reject: true }));
    }
  }

  // ---------------------------------------------------------------- elections

  #hup(kind: CampaignKind): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    this.#campaign(kind);
  }

  #campaign(kind: CampaignKind): void {
    let voteType: MessageType;
    let term: number;
    if (kind === CAMPAIGN_PRE) {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
      this.#campaigns.set(this.id, kind === CAMPAIGN_TRANSFER_KIND);
    }
    if (this.#poll(this.id, true) === VoteResult.Won) {
      // A single-voter cluster wins at once.
      if (kind === CAMPAIGN_PRE) this.#campaign(CAMPAIGN_ELECTION);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of [...this.tracker.voters].sort()) {
      if (id === this.id) continue;
      const context = kind === CAMPAIGN_TRANSFER_KIND ? CAMPAIGN_TRANSFER : undefined;
      this.#send(message({ type: voteType, to: id, term, index: lastIndex, logTerm: lastTerm, ...(context ? { context } : {}) }));
    }
  }

  #poll(id: NodeId, granted: boolean): VoteResult {
    if (this.tracker.isVoter(id)) this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes();
  }

  // ---------------------------------------------------------------- leader

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.#broadcastHeartbeat(this.#readOnly.lastPendingContext());
        return;
      case MessageType.CheckQuorum:
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, progress] of this.tracker.progress) {
          if (id !== this.id) progress.recentActive = false;
        }
        return;
      case MessageType.Propose:
        // Forwarded by a follower: errors cannot be reported back, so the proposal is dropped
        // and the client's deadline catches it; during a leader transfer it is held (see #held).
        if (m.entries.some((entry) => entry.type === EntryType.ConfChange)) return;
        if (this.leadTransferee !== NONE) {
          this.#hold(m.entries);
          return;
        }
        try {
          this.#leaderPropose(m.entries.map((entry) => ({ type: entry.type, data: entry.data })));
        } catch {
          // dropped
        }
        return;
      case MessageType.ReadIndex:
        this.#leaderReadIndex(m);
        return;
      case MessageType.TransferLeader:
        this.#leaderTransfer(transferTarget(m));
        return;
      default:
        break;
    }
    const progress = this.tracker.progress.get(m.from);
    if (!progress) return; // not a member (any more)
    switch (m.type) {
      case MessageType.AppendResponse:
        this.#handleAppendResponse(m, progress);
        return;
      case MessageType.HeartbeatResponse:
        this.#handleHeartbeatResponse(m, progress);
        return;
      case MessageType.SnapshotStatus:
        if (progress.state !== ProgressState.Snapshot) return;
        if (m.reject) progress.pendingSnapshot = 0;
        progress.becomeProbe();
        // Wait for the follower's append response (or the next heartbeat) before probing again.
        progress.probeSent = true;
        return;
      case MessageType.Unreachable:
        if (progress.state === ProgressState.Replicate) progress.becomeProbe();
        return;
      default:
        return;
    }
  }

  #handleAppendResponse(m: Message, progress: Progress): void {
    progress.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTermHint > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTermHint).index;
      if (progress.maybeDecrTo(m.index, nextProbe)) {
        if (progress.state === ProgressState.Replicate) progress.becomeProbe();
        this.#sendAppend(m.from, false);
      }
      return;
    }
    if (!progress.maybeUpdate(m.index)) return;
    switch (progress.state) {
      case ProgressState.Probe:
        progress.becomeReplicate();
        break;
      case ProgressState.Snapshot:
        if (progress.match >= progress.pendingSnapshot) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case ProgressState.Replicate:
        progress.inflights.freeLE(m.index);
        break;
    }
    if (this.#maybeCommit()) {
      this.#releaseReadsAwaitingCommit();
      this.#broadcastAppend(true);
    } else {
      // Flow control freed room: send what is waiting, several messages if allowed.
      while (this.#sendAppend(m.from, false));
    }
    if (m.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.#send(message({ type: MessageType.TimeoutNow, to: m.from }));
    }
  }

  #handleHeartbeatResponse(m: Message, progress: Progress): void {
    progress.recentActive = true;
    progress.probeSent = false;
    // The follower is alive, yet a full window means its acks (or our appends)
    // were lost: free a slot so the next append can find out (seed 345).
    if (progress.state === ProgressState.Replicate && progress.inflights.full()) progress.inflights.freeFirst();
    if (m.index > progress.ackedTick) progress.ackedTick = m.index;
    if (progress.state === ProgressState.Snapshot && this.#ticks - progress.snapshotSentTick > this.config.electionTicks) {
      // The snapshot (or its status report) was lost: fall back to probing, which resends it.
      progress.pendingSnapshot = 0;
      progress.becomeProbe();
    }
    // Send even an empty append: in pipelined mode a lost append or a lost ack
    // is only noticed when the follower answers one (seed 98).
    if (progress.match < this.log.lastIndex()) this.#sendAppend(m.from, true);
    if (this.config.readOnlyOption !== ReadOnlyOption.Safe || !m.context || m.context.length === 0) return;
    const acks = this.#readOnly.recordAck(m.from, m.context);
    if (!acks) return;
    let count = this.tracker.isVoter(this.id) ? 1 : 0;
    for (const id of acks) if (this.tracker.isVoter(id) && id !== this.id) count++;
    if (count < Math.floor(this.tracker.voters.size / 2) + 1) return;
    for (const done of this.#readOnly.advance(m.context)) this.#answerRead(done.request, done.index);
  }

  #leaderReadIndex(m: Message): void {
    if (this.tracker.voters.size === 1 && this.tracker.isVoter(this.id)) {
      this.#answerRead(m, this.log.committed);
      return;
    }
    if (!this.#committedEntryInCurrentTerm()) {
      // Until the leader commits an entry of its term it does not know the
      // commit index for certain (§6.4): park the request.
      if (this.#readsAwaitingCommit.length < this.config.maxPendingReads) this.#readsAwaitingCommit.push(m);
      return;
    }
    this.#serveReadIndex(m);
  }

  /**
   * True if a read may be answered from the commit index without a heartbeat
   * round: only under a valid lease. Overridable only to plant bugs in tests.
   */
  protected readsWithoutRoundTrip(): boolean {
    return this.config.readOnlyOption === ReadOnlyOption.LeaseBased && this.leaseValid();
  }

  #serveReadIndex(m: Message): void {
    if (this.readsWithoutRoundTrip()) {
      this.#answerRead(m, this.log.committed);
      return;
    }
    if (this.#readOnly.size() >= this.config.maxPendingReads) return; // bounded: the caller times out and retries
    this.#readOnly.add(this.log.committed, m);
    this.#readOnly.recordAck(this.id, m.context);
    this.#broadcastHeartbeat(m.context);
  }

  #releaseReadsAwaitingCommit(): void {
    if (this.#readsAwaitingCommit.length === 0 || !this.#committedEntryInCurrentTerm()) return;
    const waiting = this.#readsAwaitingCommit;
    this.#readsAwaitingCommit = [];
    for (const request of waiting) this.#serveReadIndex(request);
  }

  #answerRead(request: Message, index: number): void {
    const context = request.context ?? new Uint8Array(0);
    if (request.from === NONE || request.from === this.id) {
      this.readStates.push({ index, context });
    } else {
      this.#send(message({ type: MessageType.ReadIndexResponse, to: request.from, index, context }));
    }
  }

  #hold(entries: readonly Entry[]): void {
    if (entries.some((entry) => entry.type === EntryType.ConfChange)) return; // membership changes are never forwarded
    if (this.#held.length + entries.length > HELD_PROPOSALS_MAX) return; // dropped, as before
    if (this.#held.length === 0) this.#heldSinceTick = this.#ticks;
    for (const entry of entries) this.#held.push({ type: entry.type, data: entry.data });
  }

  #leaderTransfer(target: NodeId): void {
    const progress = this.tracker.progress.get(target);
    if (!progress || progress.isLearner) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === target) return;
      this.leadTransferee = NONE;
    }
    if (target === this.id) return;
    // The transfer must finish within one election timeout.
    this.#electionElapsed = 0;
    this.leadTransferee = target;
    if (progress.match === this.log.lastIndex()) {
      this.#send(message({ type: MessageType.TimeoutNow, to: target }));
    } else {
      // Even empty: the answer repairs a pipelined progress whose appends were lost.
      this.#sendAppend(target, true);
    }
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /**
   * Advances the commit index to what a majority has, but only by counting
   * replicas of an entry from the current term (§5.4.2): an older entry
   * counted onto a majority can still be overwritten (Figure 8).
   */
  #maybeCommit(): boolean {
    const index = this.tracker.committed();
    if (index <= this.log.committed || !this.canCommitByCounting(index)) return false;
    this.log.commitTo(index);
    this.#afterCommit();
    return true;
  }

  /**
   * The election restriction (§5.4.1): vote only for a candidate whose log is
   * at least as up to date as ours. Overridable only to plant bugs in tests.
   */
  protected candidateIsUpToDate(lastIndex: number, lastTerm: number): boolean {
    return this.log.isUpToDate(lastIndex, lastTerm);
  }

  /** True if `index` may be committed because a majority holds it. Overridable only to plant bugs in tests. */
  protected canCommitByCounting(index: number): boolean {
    return this.log.term(index) === this.term;
  }

  /** A leader removed from the configuration steps down once that removal is committed (§4.2.2). */
  #afterCommit(): void {
    if (this.role === Role.Leader && !this.tracker.isVoter(this.id) && this.log.committed >= this.log.config.latestIndex()) {
      this.becomeFollower(this.term, NONE);
    }
  }

  #appendEntries(proposed: readonly ProposedEntry[]): number {
    const first = this.log.lastIndex() + 1;
    const entries: Entry[] = proposed.map((entry, offset) => ({
      term: this.term,
      index: first + offset,
      type: entry.type,
      data: entry.data,
    }));
    const last = this.log.append(entries);
    this.#syncConfig();
    this.tracker.progress.get(this.id)?.maybeUpdate(Math.min(last, this.#selfDurableIndex()));
    // A single-voter cluster commits on append (with async storage writes: once durable, in selfPersisted).
    if (this.#maybeCommit()) this.#releaseReadsAwaitingCommit();
    return first;
  }

  #broadcastAppend(sendIfEmpty: boolean): void {
    if (this.role !== Role.Leader) return; // a removed leader may have just stepped down
    for (const id of this.tracker.progress.keys()) {
      if (id === this.id) continue;
      if (this.#sendAppend(id, sendIfEmpty)) while (this.#sendAppend(id, false));
    }
  }

  #broadcastHeartbeat(context: Uint8Array | undefined): void {
    for (const [id, progress] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(progress.match, this.log.committed);
      this.#send(
        message({
          type: MessageType.Heartbeat,
          to: id,
          commit,
          index: this.#ticks,
          ...(context && context.length > 0 ? { context } : {}),
        }),
      );
    }
  }

  /**
   * Sends the next append (or a snapshot) to `to`, respecting flow control.
   * Returns true if a message carrying entries was sent.
   */
  #sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.tracker.progress.get(to);
    if (!progress || progress.isPaused()) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.#sendSnapshot(to, progress);
    let entries: Entry[] = [];
    try {
      entries = this.log.entriesFrom(progress.next, this.config.maxSizePerMessageBytes);
    } catch (error) {
      if ((error as { code?: string }).code === 'KEEL_RAFT_LOG_COMPACTED') return this.#sendSnapshot(to, progress);
      throw error;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const entry of entries) bytes += entrySizeBytes(entry);
    this.#send(
      message({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed }),
    );
    progress.sentEntries(entries.length, bytes);
    return entries.length > 0;
  }

  #sendSnapshot(to: NodeId, progress: Progress): boolean {
    if (!progress.recentActive) return false; // do not ship a snapshot to a member that may be down
    const snapshot = this.log.snapshot();
    assert(snapshot.metadata.index > 0, 'need a snapshot but none is available');
    this.#send(message({ type: MessageType.Snapshot, to, snapshot }));
    progress.becomeSnapshot(snapshot.metadata.index, this.#ticks);
    return false;
  }

  // ---------------------------------------------------------------- candidate and follower

  #stepCandidate(m: Message): void {
    const myResponse = this.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    switch (m.type) {
      case MessageType.Propose:
        // Local proposals never get here (RawNode.propose reports the drop to its caller); a forwarded one
        // is held for the next leader, this node included.
        if (m.from !== this.id && m.from !== NONE) this.#hold(m.entries);
        return;
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case MessageType.PreVoteResponse:
      case MessageType.VoteResponse: {
        if (m.type !== myResponse) return;
        const result = this.#poll(m.from, !m.reject);
        if (result === VoteResult.Won) {
          if (this.role === Role.PreCandidate) {
            this.#campaign(CAMPAIGN_ELECTION);
          } else {
            this.becomeLeader();
            this.#broadcastAppend(true);
          }
        } else if (result === VoteResult.Lost) {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Propose:
        if (this.config.disableProposalForwarding) return;
        if (this.lead === NONE) {
          // A forward that reached a leader which has just stepped down (mid-transfer, before it hears the
          // new leader): held for whoever leads next, like those it held while transferring. It lands after
          // that leader's first entry, and the member that sent it waits for it only if it saw the leader
          // win by transfer (softState().leaderElection; src/node/lost-writes.ts). After a step-down of
          // another kind (CheckQuorum, a higher term) that member may already have failed it as "leader
          // changed", outcome unknown, and it applies all the same: ambiguous for the client, never unsafe.
          this.#hold(m.entries);
          return;
        }
        this.#send({ ...m, from: this.id, to: this.lead, term: 0 });
        return;
      case MessageType.Append:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return;
        this.#send(message({ type: MessageType.TransferLeader, to: this.lead, context: encodeNodeId(transferTarget(m)) }));
        return;
      case MessageType.TimeoutNow:
        // Leader transfer: campaign at once, skipping PreVote and the lease check.
        this.#hup(CAMPAIGN_TRANSFER_KIND);
        return;
      case MessageType.ReadIndex:
        // Only our own requests go on (a peer's request that reached us after
        // we stopped leading is dropped, and that peer retries): every message
        // leaves with `from` = this member, which the transport enforces.
        if (this.lead === NONE || m.from !== this.id) return;
        this.#send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.ReadIndexResponse:
        this.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  #handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.#send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.#syncConfig();
      this.#send(message({ type: MessageType.AppendResponse, to: m.from, index: lastNew }));
      return;
    }
    // Fast backtracking: point the leader at the last entry that could match,
    // skipping whole terms instead of one index per round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.#send(
      message({ type: MessageType.AppendResponse, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTermHint: hint.term }),
    );
  }

  #handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#send(
      message({ type: MessageType.HeartbeatResponse, to: m.from, index: m.index, ...(m.context ? { context: m.context } : {}) }),
    );
  }

  #handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (!snapshot) return;
    if (this.#restore(snapshot)) {
      this.#send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.#send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a snapshot unless the log already covers it. Returns true if installed. */
  #restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: just commit up to it.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.#syncConfig();
    return true;
  }

  // ---------------------------------------------------------------- plumbing

  /** Adopts the latest configuration in the log whenever the log changed it. */
  #syncConfig(): void {
    const version = this.log.config.version();
    if (version === this.#configVersion) return;
    this.#configVersion = version;
    this.tracker.setConfig(this.log.config.latest(), this.log.lastIndex() + 1);
    const self = this.tracker.progress.get(this.id);
    if (self && this.role === Role.Leader) {
      self.maybeUpdate(this.#selfDurableIndex());
      self.ackedTick = Number.POSITIVE_INFINITY;
    }
    if (this.role === Role.Leader) {
      if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
      // The quorum may have shrunk: something may now be committed.
      if (this.#maybeCommit()) this.#broadcastPending = true;
    } else if (this.role !== Role.Follower && !this.promotable()) {
      this.becomeFollower(this.term, NONE);
    }
  }

  #send(m: Message): void {
    let out = m.from === NONE ? { ...m, from: this.id } : m;
    // Votes and their answers carry their own term; local-only types never go out.
    const keepsTerm =
      m.type === MessageType.Vote ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.VoteResponse ||
      m.type === MessageType.PreVoteResponse;
    if (!keepsTerm && m.type !== MessageType.Propose && m.type !== MessageType.ReadIndex && m.type !== MessageType.TransferLeader) {
      out = { ...out, term: this.term };
    }
    this.messages.push(out);
  }
}

const nodeIdEncoder = new TextEncoder();
const nodeIdDecoder = new TextDecoder();

/** A TransferLeader request names its target in `context` (every message's `from` is its sender). */
function encodeNodeId(id: NodeId): Uint8Array {
  return nodeIdEncoder.encode(id);
}

function transferTarget(m: Message): NodeId {
  return m.context && m.context.length > 0 ? nodeIdDecoder.decode(m.context) : m.from;
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
