import { assert } from './assert.js';
import { encodeConfChange } from './conf-change.js';
import type { RaftConfig } from './config.js';
import { Raft } from './raft.js';
import type { ProposalResult } from './raft.js';
import type { ConfChange, ConfState, HardState, Message, NodeId, Ready, SoftState } from './types.js';
import { EntryType, MessageType, Role, message } from './types.js';

/** A snapshot of a member's state for operators and tests. */
export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Leader only: each member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string; isLearner: boolean }>;
  readonly leadTransferee: NodeId;
}

/** Message types that may leave before the Ready that holds them is durable, at a durable term (see RawNode#splitMessages). */
const EARLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.Append,
  MessageType.Heartbeat,
  MessageType.Snapshot,
  MessageType.ReadIndexResponse,
  MessageType.HeartbeatResponse,
]);

/**
 * The synchronous API over the core, in etcd-io/raft's RawNode shape:
 * inputs (`tick`, `step`, `propose`, `proposeConfChange`, `readIndex`,
 * `transferLeader`), then `ready()` to collect the resulting work, then
 * `advance(ready)` once the caller has done it (see {@link Ready} for the
 * order). Exactly one Ready may be outstanding at a time.
 */
export class RawNode {
  protected readonly raft: Raft;
  #previousSoft: SoftState;
  #previousHard: HardState;
  #outstanding: Ready | undefined;

  constructor(config: RaftConfig, raftFactory: (config: RaftConfig) => Raft = (c) => new Raft(c)) {
    this.raft = raftFactory(config);
    this.#previousSoft = this.raft.softState();
    this.#previousHard = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances the logical clock by one tick (election and heartbeat timers). */
  tick(): void {
    this.raft.tick();
  }

  /** Delivers a message from a peer. Local-only message types are refused. */
  step(m: Message): void {
    assert(!isLocalOnly(m.type), `message type ${m.type} cannot come from the network`);
    this.raft.step(m);
  }

  /** Starts an election now (tests, or an operator forcing a campaign). */
  campaign(): void {
    this.raft.step(message({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Proposes application data. See {@link Raft.propose} for the errors. */
  propose(data: Uint8Array): ProposalResult {
    return this.raft.propose([{ type: EntryType.Normal, data }]);
  }

  /** Proposes several entries at once; they are appended contiguously, in order. */
  proposeBatch(items: readonly Uint8Array[]): ProposalResult {
    return this.raft.propose(items.map((data) => ({ type: EntryType.Normal, data })));
  }

  /**
   * Proposes a membership change; leader only. It takes effect as soon as it
   * is appended and is durable once committed; the next may be proposed after
   * this one commits.
   */
  proposeConfChange(change: ConfChange): ProposalResult {
    return this.raft.propose([{ type: EntryType.ConfChange, data: encodeConfChange(change) }]);
  }

  /** Requests a linearizable read; a ReadState with the same context arrives in a later Ready. */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  /** Hands leadership to `target` once it has caught up (planned drains). */
  transferLeader(target: NodeId): void {
    this.raft.transferLeader(target);
  }

  /** Tells the core a peer could not be reached (the transport failed to send). */
  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.Unreachable, from: id }));
  }

  /** Tells the core whether a snapshot sent to `id` arrived. */
  reportSnapshot(id: NodeId, failed: boolean): void {
    this.raft.step(message({ type: MessageType.SnapshotStatus, from: id, reject: failed }));
  }

  /** True if `ready()` would return any work. */
  hasReady(): boolean {
    if (this.#outstanding) return false;
    const raft = this.raft;
    if (!softEqual(raft.softState(), this.#previousSoft)) return true;
    if (!hardEqual(raft.hardState(), this.#previousHard)) return true;
    if (raft.log.unstable.snapshot) return true;
    if (raft.messages.length > 0 || raft.readStates.length > 0 || raft.hasBatched()) return true;
    if (raft.log.unstable.entries.length > 0) return true;
    return raft.log.hasNextCommittedEntries();
  }

  /** Collects the work accumulated since the last Ready. Call `advance` with it when done. */
  ready(): Ready {
    assert(!this.#outstanding, 'ready() called again before advance()');
    const raft = this.raft;
    raft.flushBatched();
    const soft = raft.softState();
    const hard = raft.hardState();
    const entries = raft.log.unstableEntries();
    const snapshot = raft.log.unstable.snapshot;
    const softChanged = !softEqual(soft, this.#previousSoft);
    const hardChanged = !hardEqual(hard, this.#previousHard);
    const { early, late } = this.#splitMessages(raft.messages);
    const ready: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      ...(snapshot ? { snapshot } : {}),
      entries,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hard.term !== this.#previousHard.term ||
        hard.vote !== this.#previousHard.vote,
      earlyMessages: early,
      messages: late,
      committedEntries: raft.log.nextCommittedEntries(raft.config.maxCommittedSizePerReadyBytes),
      readStates: raft.readStates,
    };
    raft.messages = [];
    raft.readStates = [];
    this.#outstanding = ready;
    return ready;
  }

  /**
   * Acknowledges that `ready` was persisted, sent and applied. With async
   * storage writes this is also the durability acknowledgement: the leader
   * counts its own entries toward the commit quorum from here on.
   */
  advance(ready: Ready): void {
    assert(this.#outstanding === ready, 'advance() with a Ready that is not the outstanding one');
    this.#outstanding = undefined;
    const raft = this.raft;
    if (ready.softState) this.#previousSoft = ready.softState;
    if (ready.hardState) this.#previousHard = ready.hardState;
    if (ready.snapshot) {
      raft.log.stableSnapshotTo(ready.snapshot.metadata.index);
      if (raft.log.applied < ready.snapshot.metadata.index) raft.log.applied = ready.snapshot.metadata.index;
    }
    const lastEntry = ready.entries.at(-1);
    if (lastEntry) raft.log.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committedEntries.at(-1);
    if (lastCommitted) {
      raft.log.appliedTo(lastCommitted.index);
      raft.reduceUncommitted(ready.committedEntries);
    }
    raft.log.config.compactTo(raft.log.firstIndex() - 1);
    raft.selfPersisted();
  }

  /**
   * With async storage writes: removes and returns the messages that may
   * leave now (see #splitMessages), also while a Ready is outstanding. The
   * caller sends them at once. Without this, a heartbeat (or its answer)
   * generated while this member's write is on the disk would wait for the
   * write, and a disk slower than the election timeout would cost the
   * leader its followers (they campaign) or its quorum (check-quorum): a
   * slow disk must slow the writes, not the failure detector. etcd-io/raft
   * sends these from its raft goroutine while its storage goroutine writes.
   */
  takeEarlyMessages(): Message[] {
    const raft = this.raft;
    if (!raft.config.asyncStorageWrites || raft.messages.length === 0) return [];
    const { early, late } = this.#splitMessages(raft.messages);
    raft.messages = late;
    return early;
  }

  /**
   * With async storage writes, the leader's appends, heartbeats, snapshots
   * and read-index answers, and a follower's heartbeat answers, may leave
   * before this Ready is durable (they promise nothing about this node's
   * disk), but only at the term already durable: a node that became leader
   * in this very Ready (a single voter) has not persisted its term and vote
   * yet, and a crash would let it lead that term twice. Everything else
   * (votes, append responses, forwarded proposals and reads) waits.
   */
  #splitMessages(messages: readonly Message[]): { early: Message[]; late: Message[] } {
    if (!this.raft.config.asyncStorageWrites) return { early: [], late: [...messages] };
    const early: Message[] = [];
    const late: Message[] = [];
    const durableTerm = this.#previousHard.term;
    for (const m of messages) {
      (EARLY_TYPES.has(m.type) && m.term === durableTerm ? early : late).push(m);
    }
    return { early, late };
  }

  /** Membership as of `index` (>= the first index - 1); what a snapshot taken at `index` must record. */
  confStateAt(index: number): ConfState {
    return this.raft.log.config.at(index);
  }

  /** Latest membership in the log. */
  confState(): ConfState {
    return this.raft.confState();
  }

  /** Leader only: true while the leader lease holds (see ReadOnlyOption.LeaseBased). */
  leaseValid(): boolean {
    return this.raft.leaseValid();
  }

  /** Forwarded or own proposals not yet sent on (held through a leader change, or buffered for the next Ready). */
  heldProposals(): number {
    return this.raft.heldProposals();
  }

  /** The newest term in which this follower forwarded proposals it held through a leader change (0: never). */
  heldForwardedTerm(): number {
    return this.raft.heldForwardedTerm();
  }

  status(): Status {
    const raft = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: string; isLearner: boolean }>();
    if (raft.role === Role.Leader) {
      for (const [id, p] of raft.tracker.progress) {
        progress.set(id, { match: p.match, next: p.next, state: p.state, isLearner: p.isLearner });
      }
    }
    return {
      id: raft.id,
      hardState: raft.hardState(),
      softState: raft.softState(),
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      confState: raft.confState(),
      progress,
      leadTransferee: raft.leadTransferee,
    };
  }
}

function isLocalOnly(type: MessageType): boolean {
  return (
    type === MessageType.Hup ||
    type === MessageType.Beat ||
    type === MessageType.CheckQuorum ||
    type === MessageType.Unreachable ||
    type === MessageType.SnapshotStatus
  );
}

function softEqual(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.leaderElection === b.leaderElection;
}

function hardEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
