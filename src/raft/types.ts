/**
 * The data the consensus core exchanges with its caller. Everything here is
 * plain data (no classes, no functions) so that it can be persisted, sent
 * over the wire and compared in tests.
 *
 * Indexes and terms are JavaScript numbers: they stay exact up to 2^53, which
 * at a million entries a second lasts 285 years.
 */

/** A member's identity. Stable for the member's lifetime; never reused after removal. */
export type NodeId = string;

/** Sentinel for "nobody" in `vote` and `leader` fields. */
export const NONE: NodeId = '';

export const EntryType = {
  /** Application data (or an empty entry a new leader appends to commit its term). */
  Normal: 0,
  /** A membership change; `data` is an encoded {@link ConfChange}. */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. `index` starts at 1; index 0 with term 0 is the empty log's sentinel. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * The state that must be durable before any message that depends on it is
 * sent: a node that forgets its vote can vote twice in a term; a node that
 * forgets its term can be led by a deposed leader.
 */
export interface HardState {
  readonly term: number;
  /** Whom this node voted for in `term`, or {@link NONE}. */
  readonly vote: NodeId;
  /** Highest index known committed. Losing it is harmless (it is re-learnt), so changing only it needs no fsync. */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** Membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const ConfChangeType = {
  /** Add a voter, or promote an existing learner to voter. */
  AddVoter: 0,
  /** Add a non-voting learner (a voter cannot be demoted this way). */
  AddLearner: 1,
  /** Remove a voter or a learner. */
  Remove: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-server membership change. At most one may be pending (in the log, not yet applied) at a time. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core: the application stores addresses or zones here. */
  readonly context?: Uint8Array;
}

export interface SnapshotMetadata {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

/**
 * A snapshot's bytes kept elsewhere than in memory (a member keeps them in
 * the snapshot file: at the full quota they are gigabytes). The core never
 * reads them; the transport streams them to a follower and the member reads
 * them to restore, each through its own sequential reader.
 */
export interface SnapshotSource {
  /** Bytes in all. */
  readonly length: number;
  open(): Promise<SnapshotReader>;
}

/** Reads a {@link SnapshotSource} front to back; rejects when the bytes cannot be read or fail their check. */
export interface SnapshotReader {
  /** The next bytes, at most `maxBytes` (at least one while any are left); an empty array at the end. */
  next(maxBytes: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A snapshot's state machine bytes: in memory, or a source read on demand. */
export type SnapshotData = Uint8Array | SnapshotSource;

/** A state machine image at `metadata.index`; `data` is opaque to the core. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: SnapshotData;
}

export const MessageType = {
  // Local messages: never sent over the network, produced by tick() and the API.
  /** Start an election (or pre-election). */
  Hup: 0,
  /** Leader: send heartbeats now. */
  Beat: 1,
  /** Leader: check that a quorum was heard from recently. */
  CheckQuorum: 2,
  /** A proposal: local from the API, or forwarded by a follower to the leader. */
  Propose: 3,
  /** Transport reports that a peer could not be reached. */
  Unreachable: 4,
  /** Transport reports the outcome of sending a snapshot (`reject` = failed). */
  SnapshotStatus: 5,
  // Network messages.
  Append: 10,
  AppendResponse: 11,
  Vote: 12,
  VoteResponse: 13,
  PreVote: 14,
  PreVoteResponse: 15,
  Heartbeat: 16,
  HeartbeatResponse: 17,
  /** InstallSnapshot. */
  Snapshot: 18,
  /** A ReadIndex request: local from the API, or forwarded by a follower. */
  ReadIndex: 19,
  ReadIndexResponse: 20,
  /** Leader transfer: the target campaigns at once, skipping PreVote and leases. */
  TimeoutNow: 21,
  /** A leader transfer request, local or forwarded to the leader; `context` holds the target's id (UTF-8). */
  TransferLeader: 22,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One protocol message. A single shape for every type, as in etcd-io/raft;
 * fields a type does not use are zero / empty.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; 0 for local messages. For PreVote, the term the sender *would* campaign at. */
  readonly term: number;
  /** Append: term of the entry at `index`. Vote: term of the candidate's last entry. */
  readonly logTerm: number;
  /** Append: index preceding `entries`. Vote: candidate's last index. AppendResponse: highest matching index, or the rejected index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  /** Leader's commit index (Append, Heartbeat). */
  readonly commit: number;
  readonly reject: boolean;
  /** On a rejected AppendResponse: the follower's best guess of the last index that might match (fast backtracking). */
  readonly rejectHint: number;
  /** On a rejected AppendResponse: the term of the follower's entry at `rejectHint`. */
  readonly logTermHint: number;
  readonly snapshot?: Snapshot;
  /** ReadIndex: the caller's request context. Vote: `CAMPAIGN_TRANSFER` for a leader transfer. Heartbeat: read context. TransferLeader: the target's id. */
  readonly context?: Uint8Array;
}

/** Builds a message with every unused field zeroed. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    logTermHint: 0,
    ...fields,
  };
}

/** A linearizable read is safe once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  /** The context given to `readIndex()`, returned unchanged so the caller can match it. */
  readonly context: Uint8Array;
}

export const Role = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * How the known leader won its term, as far as this node saw: `transfer` if
 * it campaigned because the previous leader handed over (a TimeoutNow; its
 * vote requests say so), `election` if it campaigned on its own (a timeout or
 * a forced campaign), `unknown` when no leader is known or this node saw no
 * vote request of its campaign (a learner, a restarted node, a lost message).
 *
 * It tells the host whether a proposal may still land after the new leader's
 * first entry: a transferring leader holds the proposals forwarded to it and
 * hands them to its successor (raft.ts, #held).
 */
export const LeaderElection = {
  Transfer: 'transfer',
  Election: 'election',
  Unknown: 'unknown',
} as const;
export type LeaderElection = (typeof LeaderElection)[keyof typeof LeaderElection];

/** Volatile state, reported when it changes; never persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
  /** How `leader` won its term (see {@link LeaderElection}); always `unknown` with no leader. */
  readonly leaderElection: LeaderElection;
}

/**
 * Work for the caller, returned by `RawNode.ready()`. Handle it in this order,
 * then call `advance()` with the same object:
 *
 * 1. Persist `snapshot` (if any), then `entries` (append; an entry at an index
 *    already stored replaces it and everything after it), then `hardState`
 *    (if any). If `mustSync`, fsync all of it before step 2. One fsync covers
 *    the whole Ready: that is the group commit.
 * 2. Send `messages`. Never before step 1: a vote or an append response sent
 *    before the state it promises is durable can be forgotten in a crash,
 *    which breaks election safety or loses committed entries.
 *    `earlyMessages` (only with `asyncStorageWrites`) may be sent at once,
 *    before or while step 1 runs: the leader's appends and heartbeats at a
 *    term already durable. The leader does not count its own copy of the
 *    entries toward a commit until `advance()` reports them durable.
 * 3. Install `snapshot` into the state machine (if any), then apply
 *    `committedEntries` in order. They may include entries from this Ready's
 *    `entries`, which is why step 1 comes first.
 * 4. Answer `readStates` once the state machine has applied each one's index.
 * 5. Call `advance(ready)`.
 */
export interface Ready {
  /** Present when leader, role or how the leader was elected changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  readonly hardState?: HardState;
  /** A snapshot to persist and install (the follower fell behind the leader's compacted log). */
  readonly snapshot?: Snapshot;
  /** Entries to append to stable storage. */
  readonly entries: readonly Entry[];
  /** True when step 1 must fsync: new entries, or a changed term or vote. */
  readonly mustSync: boolean;
  /** Messages to send after step 1. */
  readonly messages: readonly Message[];
  /** Messages that may be sent before step 1 completes (empty unless `asyncStorageWrites`). */
  readonly earlyMessages: readonly Message[];
  /** Committed entries to apply after step 1. */
  readonly committedEntries: readonly Entry[];
  /** Reads that became safe; serve each after applying up to its index. */
  readonly readStates: readonly ReadState[];
}

/** How the leader confirms it is still leader for a ReadIndex. */
export const ReadOnlyOption = {
  /** Confirm with a heartbeat round to a quorum. No clock assumptions. */
  Safe: 'safe',
  /**
   * Trust the leader lease kept by CheckQuorum: answer at once. Correct only
   * while clocks on the members run at close to the same rate: a leader whose
   * clock runs slow (or whose process is paused and resumed) may believe its
   * lease holds after the others elected a new leader. Requires `checkQuorum`.
   */
  LeaseBased: 'lease-based',
} as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

/** Vote context that marks a campaign started by a leader transfer. */
export const CAMPAIGN_TRANSFER: Uint8Array = new Uint8Array([0x74, 0x72, 0x61, 0x6e, 0x73, 0x66, 0x65, 0x72]); // "transfer"
