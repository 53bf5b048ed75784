import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bootstrapLog } from '../raft/bootstrap.js';
import { decodeConfChange } from '../raft/conf-change.js';
import { RaftError } from '../raft/errors.js';
import { SeededRandom } from '../raft/random.js';
import { RawNode } from '../raft/raw-node.js';
import { entrySizeBytes, type MemoryStorage } from '../raft/storage.js';
import type { ConfChange, Entry, Message, NodeId, Snapshot, SnapshotData, SoftState } from '../raft/types.js';
import { ConfChangeType, EntryType, NONE, Role } from '../raft/types.js';
import { staleReadsOn, staleRevision } from './test-stale-reads.js';
import { FileStorage, readSnapshotData } from '../storage/index.js';
import { decodeCommand, stamp } from '../store/command.js';
import type { Command } from '../store/command.js';
import type { CommandResponse } from '../store/state-machine.js';
import { StoreStateMachine } from '../store/state-machine.js';
import type { RangeRequest, RangeResponse, TxnRequest } from '../store/types.js';
import { checkTxnIntervals, isReadOnlyTxn, validateCommand, validateRange } from '../store/validate.js';
import { WatchHub } from '../store/watch-hub.js';
import type { LeaseGrantResponse, LeaseRevokeResponse } from '../store/types.js';
import { PeerTransport } from '../transport/index.js';
import type { PeerTlsOptions } from '../transport/transport.js';
import { clientOptions, loadTlsMaterial, peerTlsFiles, serverOptions, tlsCommon, verifiesClients } from './tls-material.js';
import type { TlsMaterial } from './tls-material.js';
import { InterruptedError, LeaderChangedError, NoLeaderError, NotLeaderError, OverloadedError, RequestTimeoutError, StoppingError } from './errors.js';
import type { AlarmMember, AlarmRequest, AlarmResponse } from '../store/alarms.js';
import { Maintenance, yieldToLoop } from './maintenance.js';
import type { DefragmentResult } from './maintenance.js';
import type { HeaderContext } from './identity.js';
import type { NodeConfig } from './config.js';
import { decodeEntry, encodeStoreCommandEntry } from './entry-codec.js';
import { MemberRemovedError } from './errors.js';
import type { Logger } from './logger.js';
import { clusterIdOf, memberIdOf } from './identity.js';
import { NodeMetrics } from './metrics.js';
import { LeaseService } from './lease-service.js';
import { SkewableClock } from './clock.js';
import { Wait } from './wait.js';
import { SNAPSHOT_CATCH_UP_BYTES_MAX, snapshotWanted } from './snapshot-policy.js';
import { LostWrites } from './lost-writes.js';
import type { LostWriteNote } from './lost-writes.js';
import { initialPeers, PeerBook } from './peers.js';
import { Reads } from './reads.js';
import { Applier, type EntryInSteps, entryScalesWithData } from './apply.js';
import { RaftLoop } from './raft-loop.js';
import type { ApplyUnderWay, ReadyHost } from './raft-loop.js';
import type { LeaseTimeToLive } from './lease-forward.js';
import { MemberChanges } from './member-changes.js';
import type { MemberRecord, MembershipEffect } from './membership.js';
import { SnapshotSaver, type SnapshotSaved } from './snapshot-saver.js';
import { RESTORE_SLICE_MS, RESTORE_STEP_WORK, restoreInSlices, type RestoreReport } from './snapshot-restorer.js';
import { lockDataDir, prepareDataDir, resolveIdentity, writeMemberIdentity } from './data-dir.js';
import { AuthTokens, parseAuthTokenOption } from './auth-tokens.js';
import type { AuthResponse, AuthState } from '../store/auth-state.js';
import type { DataDirLock } from './data-dir.js';
import {
  MembershipTable,
  decodeChangeContext,
  encodeChangeContext,
  peerAddressOf,
  unwrapSnapshot,
  wrapSnapshot,
} from './membership.js';

/**
 * Ticks one timer callback runs at most. A timer a tick or so late (a busy
 * turn) catches up; after a longer stall (GC, a long apply, SIGSTOP) the
 * rest are dropped, as Go's time.Ticker drops them under etcd's raft loop.
 * Running them all at once, in the timers phase before the poll phase reads
 * the peer messages that arrived meanwhile, made a stall shared by every
 * member (they apply the same entry) an election: the followers' election
 * timers and the leader's quorum check jumped past their timeouts with the
 * heartbeats and acknowledgements still unread in the sockets. Raft's
 * safety does not rest on ticks; leases' deadlines follow the clock
 * (#onTimer extends them after a stall).
 */
const TICKS_PER_TIMER_MAX = 2;
/** Keys and values (plus RECORD_OVERHEAD_BYTES per record, store/hash.ts) a HashKV covers per event-loop turn. */
const HASH_STEP_BYTES = 4 * 1024 * 1024;
/** Log positions a compaction walks per event-loop turn (KvStore.compactStep): about 7 ms here, from bench/store.ts's compaction after its 500,000-key delete (~1,050,000 positions in 0.71 s). */
const COMPACT_STEP_RECORDS = 10_000;
/**
 * Keys a DeleteRange walks per event-loop turn (StoreStateMachine.applyInSteps):
 * about 7 ms here (`node --expose-gc --import tsx bench/store.ts 1000000`:
 * a DeleteRange of a million keys took 0.68 s in one call).
 */
const DELETE_STEP_KEYS = 10_000;
/** Ready rounds per scheduled turn; each round makes progress. */
const READY_ROUNDS_MAX = 64;
/**
 * Bytes of committed entries per Ready, and applied per turn of the raft
 * loop: a few ms of applying (a 10 KB Txn of 100 puts takes ~0.3 ms) between
 * other events. The core's default, 64 MiB, let a restart apply its whole
 * log tail past the snapshot in its first turn (1.0-1.4 s at ~2,000 such
 * Txns, bench/startup-stall.ts).
 */
const COMMITTED_BYTES_PER_READY_MAX = 256 * 1024;
const APPLIED_BYTES_PER_TURN_MAX = 256 * 1024;

/** How often the leader looks for expired leases. */
const LEASE_CHECK_INTERVAL_MS = 250;
/** Times one write is proposed again after a transient drop (each waits for a leader change, within the request's deadline). */
const PROPOSE_ATTEMPTS_MAX = 8;
/** A member whose published name or client URLs are out of date proposes them again at most this often. */
const PUBLISH_RETRY_MS = 2_000;
/**
 * Election timeouts a write marked at a leader change is given to land before
 * it fails as lost, when the new leader may have been handed it (lost-writes.ts).
 */
const LOST_WRITE_GRACE_ELECTIONS = 1;
/** An entry whose apply holds the loop this long is logged (etcd warns at 100 ms too: "apply request took too long"). */
const SLOW_APPLY_WARN_MS = 100;

/** What the member notes on a waiting write: only what LostWrites keeps. */
type WriteNote = LostWriteNote;


/**
 * How long a stopping leader waits for its successor to take over and for
 * its writes in flight to settle there: two election timeouts (600 ms at
 * the defaults; a handoff takes a round trip or two). Deployment stop timeouts
 * allow for it (deploy/, test/deploy).
 */
export function leaderTransferOnStopMsMax(config: Pick<NodeConfig, 'tickMs' | 'electionTicks'>): number {
  return config.tickMs * config.electionTicks * 2;
}

/** What /v3/maintenance/status and operators see. */
export interface MemberStatus {
  readonly id: NodeId;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly leader: NodeId;
  readonly role: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly dbSizeBytes: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** One member as etcd's Cluster.MemberList reports it (etcdserverpb.Member). */
export interface MemberInfo {
  readonly id: NodeId;
  /** '' until the member has started and published it (as etcd's unstarted members). */
  readonly name: string;
  readonly memberId: bigint;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/**
 * A keel member: the raft core driven by a real clock, persisted through the
 * WAL, talking to peers over TCP, applying committed entries to the MVCC
 * store, and serving requests. Every Ready is carried out in the order
 * documented on the type: the leader's appends at once, persist off the
 * event loop (one fsync per group), then send, apply, answer reads.
 */
export class KeelNode {
  readonly config: NodeConfig;
  readonly metrics = new NodeMetrics();
  /** This member's raft id: its name for founders, the id MemberAdd assigned for members that joined (see membership.ts). */
  #raftId: NodeId;
  #clusterId: bigint;
  #table: MembershipTable;
  #memberChanges: MemberChanges;
  /** Which address the transport dials for each peer (peers.ts). */
  #peers!: PeerBook;
  #publishAttemptAt = Number.NEGATIVE_INFINITY;
  #log: Logger;
  /** The raft core, its log and the Ready order (raft-loop.ts). */
  #loop!: RaftLoop;
  #raw!: RawNode;
  #memory!: MemoryStorage;
  #storage!: FileStorage;
  /** Writes periodic and defragment snapshots off the event loop (snapshot-saver.ts). */
  #snapshots: SnapshotSaver | undefined;
  /** Bytes of the entries applied since the newest snapshot was captured, and that snapshot's size: the snapshot policy's inputs (snapshot-policy.ts). */
  #logBytesSinceSnapshot = 0;
  #lastSnapshotBytes = 0;
  /** True while #driveCompaction steps a compaction. */
  #compactionDriven = false;
  /** Set while #applyInSteps steps an entry (a snapshot's capture waits for it); settles once it is applied. */
  #applyingInSteps: Promise<void> | undefined;
  /** Held from the start until stop: no second process may open this data dir. */
  #dataDirLock: DataDirLock | undefined;
  #store!: StoreStateMachine;
  #authTokens: AuthTokens | undefined;
  #transport!: PeerTransport;
  #tickTimer: NodeJS.Timeout | undefined;
  /** The peer certificate in use; replaced by reloadTls(). */
  #peerTlsMaterial: TlsMaterial | undefined;
  /** Member time (this.clock) up to which ticks have run. */
  #lastTickAt = 0;
  /** Host time (performance.now()) of the last timer callback: a stall is measured on the host, not on a skewed clock. */
  #lastTimerAt = 0;
  #stopping = false;
  #stopped = false;
  #failed: Error | undefined;
  /** Writes waiting for their entry to apply; leaving, each keeps #lostWrites' count and the gauge right. */
  readonly #pendingWrites = new Wait<CommandResponse, WriteNote>((note) => {
    this.#lostWrites.removed(note);
    this.metrics.proposalsPendingNow(this.#pendingWrites.size);
  });
  /** Writes in flight at a leader change, failed with "leader changed" once they cannot land any more (lost-writes.ts). */
  readonly #lostWrites = new LostWrites<WriteNote>({
    notes: () => this.#pendingWrites.notes(),
    now: () => this.clock.now(),
    graceMs: () => LOST_WRITE_GRACE_ELECTIONS * this.config.electionTicks * this.config.tickMs,
    lost: (id) => {
      this.metrics.proposalFailed();
      this.#pendingWrites.fail(id, new LeaderChangedError());
    },
    heldForwardedTerm: () => this.#raw.heldForwardedTerm(),
  });
  /** Armed while marked writes wait out their grace (#recheckLostWrites). */
  #lostWriteTimer: NodeJS.Timeout | undefined;
  /** Linearizable reads: ReadIndex rounds, retried across leader changes (reads.ts). */
  readonly #reads: Reads = new Reads({
    leader: () => this.#leader,
    stopping: () => this.#stopping || this.#stopped,
    checkAccepting: () => this.#checkAccepting(),
    leaderChange: () => this.#leaderChange.signal,
    full: (): boolean => this.#pendingWrites.size + this.#reads.size >= this.config.pendingRequestsMax,
    readIndex: (context) => {
      this.#raw.readIndex(context);
      this.#scheduleReady();
    },
  });
  #requestSequence = 0;
  readonly #requestTag = randomBytes(6).toString('hex');
  #leader: NodeId = NONE;
  #role: string = Role.Follower;
  #term = 0;
  #commit = 0;
  /**
   * The member's sense of elapsed time (ticks, lease deadlines, graces);
   * `keel chaos clock` skews it through POST /debug/clock. See clock.ts.
   */
  readonly clock = new SkewableClock();
  /** etcd's Lease service: grants and revokes through the log, keep-alives on the leader's deadlines (lease-service.ts). */
  readonly #leases: LeaseService;
  #lastLeaseCheckAt = 0;
  #watchHub!: WatchHub;
  /** Aborted (and replaced) whenever this member sees the leader change. */
  #leaderChange = new AbortController();
  #catchUpScheduled = false;
  #progressTimer: NodeJS.Timeout | undefined;
  readonly #stopHooks = new Set<() => void>();
  /** Called after an applied auth command moved the auth revision (one per open watch stream, so bounded by WATCH_STREAMS_MAX). */
  readonly #authChangeHooks = new Set<() => void>();
  #authRevisionSeen = 1;
  /** Set by drain(): readiness fails while requests are still served. */
  #draining = false;
  /** Committed entries to the store, membership and the waiting writes (apply.ts). */
  readonly #applier = new Applier<WriteNote>({
    store: () => this.#store,
    pending: this.#pendingWrites,
    confChange: (change) => this.#onMembershipApplied(this.#table.applyConfChange(change)),
    membershipCommand: (command) => this.#onMembershipApplied(this.#table.applyCommand(command)),
    commandApplied: (response) => {
      if (response.type === 'leaseGrant') this.#leases.lessor.granted(response.response.id, response.response.ttlSeconds);
      else if (response.type === 'leaseRevoke') this.#leases.lessor.revoked(response.response.id);
      else if (response.type === 'auth') this.#authApplied(response.response);
    },
    answered: (outcome, error) => {
      if (outcome === 'applied') {
        this.metrics.proposalCommitted();
        return;
      }
      this.metrics.proposalFailed();
      if (error?.code === 'KEEL_STORE_NO_SPACE') this.#maintenance.raiseNoSpaceAlarm();
    },
  });
  /** etcd's Maintenance service and the housekeeping behind it (maintenance.ts). */
  readonly #maintenance: Maintenance;

  readonly #onFatal: (error: Error) => void;

  /** `onFatal` runs after the member stopped itself on an unrecoverable error (a failed disk); the CLI exits 1. */
  constructor(config: NodeConfig, log: Logger, onFatal: (error: Error) => void = () => {}) {
    this.config = config;
    this.#log = log;
    this.#onFatal = onFatal;
    this.#clusterId = clusterIdOf(config.clusterName, Object.keys(config.peers));
    this.#raftId = config.id;
    this.#table = new MembershipTable(config.clusterName, config.peers, config.clientUrls);
    this.#memberChanges = this.#newMemberChanges();
    this.#maintenance = this.#newMaintenance();
    this.#leases = new LeaseService(
      {
        isLeader: () => this.#role === Role.Leader,
        leader: () => this.#leader,
        leaderClientUrl: () => this.leaderClientUrl(),
        leaderChange: () => this.#leaderChange.signal,
        stopping: () => this.#stopping,
        checkAccepting: () => this.#checkAccepting(),
        propose: (command, timeoutMs) => this.propose(command, timeoutMs),
        leases: () => this.#store.leases(),
        leaseKeys: (id) => this.#store.leaseKeys(id),
        expiredRevoked: () => this.metrics.leasesExpired.inc(),
        requestTimeoutMs: () => this.config.requestTimeoutMs,
        minLeaseTtlSeconds: () => this.minLeaseTtlSeconds,
      },
      this.#reads,
      () => this.clock.now(),
      log,
    );
  }

  /** The cluster id: derived from the founders for a founding member, learned from the leader's handshake by a joining one. */
  get clusterId(): bigint {
    return this.#clusterId;
  }

  get memberId(): bigint {
    return this.memberIdOf(this.#raftId);
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    // Lock before reading anything: recovery may truncate a torn tail or delete temporary files, which must never happen under a live member.
    void this.authTokens; // a bad --auth-token (unknown type, unreadable key file) stops the start here
    prepareDataDir(this.config.dataDir);
    this.#dataDirLock = lockDataDir(this.config.dataDir);
    try {
      await this.#startLocked();
    } catch (error) {
      this.#storage?.close();
      this.#dataDirLock.release();
      throw error;
    }
  }

  async #startLocked(): Promise<void> {
    this.#storage = this.#openStorage();
    // The snapshot file is read and checksummed in chunks off the loop (FileStorage.loadAsync): ~100 MB read whole held the loop for seconds.
    let recovered = await this.#storage.loadAsync();
    const empty = recovered.hardState.term === 0 && recovered.entries.length === 0 && recovered.snapshot.metadata.index === 0;
    const identity = resolveIdentity(
      { dataDir: this.config.dataDir, id: this.config.id, clusterName: this.config.clusterName, peerUrl: this.config.peers[this.config.id]!, initialClusterState: this.config.initialClusterState, foundingClusterId: this.#clusterId },
      empty,
    );
    this.#raftId = identity.raftId;
    this.#clusterId = identity.clusterId;
    const joining = identity.joining;
    if (empty && !joining) {
      // A founding member's first start: the founding membership goes into the log, each founder's record in its entry's context.
      const founders = bootstrapLog(Object.keys(this.config.peers), (id) => encodeChangeContext(undefined, this.#table.founderRecord(id)));
      this.#storage.save({ entries: founders.entries, hardState: founders.hardState }, true);
      this.#storage.close();
      this.#storage = this.#openStorage();
      recovered = await this.#storage.loadAsync();
      this.#log.info('bootstrapped a new cluster', { voters: Object.keys(this.config.peers) });
    } else if (empty) {
      this.#log.info('joining an existing cluster: waiting for the leader', { raftId: this.#raftId, clusterId: this.#clusterId === 0n ? null : this.#clusterId.toString() });
    }
    this.#store = new StoreStateMachine({ quotaBytes: this.config.quotaBytes, compactInSteps: true });
    const snapshotIndex = recovered.snapshot.metadata.index;
    this.#lastSnapshotBytes = recovered.snapshot.data.length;
    if (snapshotIndex > 0) {
      const report = await this.#restoreSnapshot(recovered.snapshot.data);
      if (!report.done) throw new InterruptedError();
      this.#log.info('restored the snapshot', { index: snapshotIndex, ...restoreFields(report) });
    }
    this.#watchHub = new WatchHub(this.#store, () => this.#scheduleCatchUp());
    this.#store.subscribe((batch) => this.#watchHub.onBatch(batch));
    this.#loop = new RaftLoop({
      raft: {
        id: this.#raftId,
        random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
        electionTicks: this.config.electionTicks,
        heartbeatTicks: this.config.heartbeatTicks,
        checkQuorum: true,
        preVote: true,
        asyncStorageWrites: true,
        maxCommittedSizePerReadyBytes: COMMITTED_BYTES_PER_READY_MAX,
      },
      recovered,
      storage: this.#storage,
      send: (message) => this.#transport.send(message),
      defer: setImmediate,
      // grpc-js sends a unary answer's trailers (which complete the client's call) from 'wantTrailers', and Node's
      // http2 submits them from a setImmediate, so they are flushed in the next turn's check phase, one turn after
      // the message: a single turn's wait put the commit index's two peer socket writes, and the poll phase that
      // follows, ahead of them. Two turns cost followers' learning the commit a turn, and took about 7% off a single
      // client's put p50 (bench/paired-latency.ts rounds; docs/persistence.md).
      deferPastAnswers: (turn) => setImmediate(() => setImmediate(turn)),
      write: (batch, mustSync, done) => {
        const started = performance.now();
        this.#storage.saveAsync(batch, mustSync).then(() => {
          if (mustSync) this.metrics.walSynced((performance.now() - started) / 1000);
          done();
        }, done);
      },
      // A snapshot from the leader: its file written off the loop in chunks (file-storage.ts), its restore in slices (#installSnapshot).
      writeSnapshot: (batch, mustSync, done) => {
        this.#storage.saveAsync(batch, mustSync).then(() => done(), done);
      },
      readyRoundsMax: READY_ROUNDS_MAX,
      appliedBytesPerTurnMax: APPLIED_BYTES_PER_TURN_MAX,
      catchUpBytesMax: SNAPSHOT_CATCH_UP_BYTES_MAX,
      logCacheBytes: this.config.logCacheBytes,
      host: this.#readyHost(),
    });
    this.#raw = this.#loop.raw;
    this.#memory = this.#loop.memory;
    this.#snapshots = new SnapshotSaver({ storage: this.#storage, saved: (result) => this.#snapshotSaved(result) });
    const [host, port] = splitHostPort(this.config.listenPeer);
    const firstPeers = initialPeers(this.config.peers, { name: this.config.id, raftId: this.#raftId, clusterName: this.config.clusterName }, joining);
    this.#transport = new PeerTransport({
      id: this.#raftId,
      listenHost: host,
      listenPort: port,
      peers: firstPeers,
      clusterId: this.#clusterId === 0n ? '' : this.#clusterId.toString(),
      ...(this.#clusterId === 0n ? { onClusterIdLearned: (clusterId: string) => this.#onClusterIdLearned(clusterId) } : {}),
      isRemoved: (peer) => this.#table.isRemoved(peer),
      onHandshakeRejected: (peer, reason) => {
        if (reason === 'removed') this.#onRemoved(`peer ${peer} says this member was removed from the cluster`);
      },
      deliver: (message) => this.#receive(message),
      onUnreachable: (peer) => {
        this.metrics.peerUnreachable(peer);
        this.#raw.reportUnreachable(peer);
      },
      onSnapshotStatus: (peer, failed) => {
        this.#raw.reportSnapshot(peer, failed);
        this.#scheduleReady();
      },
      onRoundTrip: (peer, seconds) => this.metrics.peerRoundTrip(peer, seconds),
      ...this.#peerTlsOptions(),
      // Warnings (refused certificates and handshakes, malformed frames) and errors are what an operator must see.
      log: (level, message, fields) => this.#log[level](message, fields),
    });
    this.#peers = new PeerBook(this.#transport, () => this.#raftId, this.#log);
    this.#peers.started(firstPeers);
    this.#syncPeers();
    await this.#transport.listen();
    this.#lastTickAt = this.clock.now();
    this.#lastTimerAt = performance.now();
    this.#tickTimer = setInterval(() => this.#onTimer(), this.config.tickMs);
    this.#progressTimer = setInterval(() => this.#watchHub.progress(), this.config.watchProgressNotifyIntervalMs);
    this.#maintenance.startAutoCompaction();
    this.#log.info('member started', {
      id: this.config.id,
      raftId: this.#raftId,
      applied: snapshotIndex,
      lastIndex: this.#memory.lastIndex(),
      term: recovered.hardState.term,
    });
    this.#scheduleReady();
  }

  /**
   * Graceful stop: refuse new requests, hand leadership to the most
   * caught-up voter if this member leads (so a planned restart costs clients
   * almost nothing), flush, close.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopping = true;
    for (const hook of [...this.#stopHooks]) hook();
    this.#stopHooks.clear();
    if (this.#role === Role.Leader) {
      const deadline = performance.now() + leaderTransferOnStopMsMax(this.config);
      if (await this.#transferLeadershipAway(deadline)) await this.#settleAfterTransfer(deadline);
    }
    this.#pendingWrites.failAll(() => new InterruptedError());
    this.#reads.failAll(() => new InterruptedError());
    this.#memberChanges.rejectAll(new InterruptedError());
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    clearTimeout(this.#lostWriteTimer);
    this.#maintenance.stop();
    this.#stopped = true;
    await this.#loop?.stop(); // never rejects: the write's failure goes to #fail
    await this.#snapshots?.stop(); // an unfinished snapshot's temporary file goes; the older snapshot stands
    await this.#transport?.close();
    this.#storage?.close();
    this.#dataDirLock?.release();
    this.#log.info('member stopped', { id: this.config.id });
  }

  #openStorage(): FileStorage {
    return new FileStorage(join(this.config.dataDir, 'raft'), {
      snapshotIntervalEntries: this.config.snapshotEntries,
      retainSnapshots: 2,
      segmentSizeBytes: this.config.walSegmentBytes,
    });
  }

  /**
   * After handing off leadership on stop: the writes this member proposed
   * as leader are in the successor's log and commit there, and the
   * forwards it held during the handoff go to the successor once it is
   * known. Waits for both until `deadline` (no new write is taken while
   * stopping), so a planned stop fails none of them.
   */
  async #settleAfterTransfer(deadline: number): Promise<void> {
    while ((this.#raw.heldProposals() > 0 || this.#pendingWrites.size > 0) && performance.now() < deadline) {
      this.#scheduleReady();
      await delay(this.config.tickMs);
    }
  }

  /** Hands leadership to the most caught-up voter; true once this member no longer leads. */
  async #transferLeadershipAway(deadline = performance.now() + leaderTransferOnStopMsMax(this.config)): Promise<boolean> {
    const status = this.#raw.status();
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const [id, progress] of status.progress) {
      if (id === this.#raftId || progress.isLearner || !status.confState.voters.includes(id)) continue;
      if (progress.match > bestMatch) {
        best = id;
        bestMatch = progress.match;
      }
    }
    if (best === NONE) return false;
    this.#log.info('transferring leadership before stopping', { to: best });
    try {
      this.#raw.transferLeader(best);
    } catch {
      return false;
    }
    this.#scheduleReady();
    while (this.#role === Role.Leader && performance.now() < deadline) await delay(this.config.tickMs);
    return this.#role !== Role.Leader;
  }

  /**
   * A data directory remembers which member and cluster it belongs to;
   * starting it as another is refused, and so is starting a member that was
   * removed. Decides this member's raft id and whether it joins (never
   * bootstraps): an empty data dir started with --initial-cluster-state
   * existing, or one that already joined. Returns true when joining.
   */
  #writeIdentity(extra: { raftId?: string; removed?: boolean }): void {
    writeMemberIdentity(this.config.dataDir, { id: this.config.id, cluster: this.config.clusterName, clusterId: this.#clusterId }, extra);
  }

  /** Set when the loop hit an unrecoverable error (disk failure); the process should exit. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  // ------------------------------------------------------------------ the raft loop

  /**
   * Ticks follow a monotonic clock, so a late timer callback still ticks for
   * the time that passed; after a stall of more than TICKS_PER_TIMER_MAX
   * ticks the rest are dropped (see there).
   */
  #onTimer(): void {
    const hostNow = performance.now();
    const stalledMs = hostNow - this.#lastTimerAt;
    this.#lastTimerAt = hostNow;
    if (stalledMs >= this.config.electionTicks * this.config.tickMs) {
      // This process was stopped or starved for an election timeout or more:
      // nobody could renew a lease with it meanwhile. Measured on the host's
      // clock, so a skewed member clock (keel chaos clock) is not mistaken
      // for a stall: its jumps and drift reach the ticks and leases below.
      this.#leases.lessor.extendAll();
      this.#log.warn('the event loop stalled; lease deadlines extended', { stalledMs: Math.round(stalledMs) });
    }
    const now = this.clock.now();
    const missed = Math.floor((now - this.#lastTickAt) / this.config.tickMs);
    if (missed <= 0) return;
    let due = missed;
    if (missed > TICKS_PER_TIMER_MAX) {
      // The phase restarts from now: the dropped ticks are not owed.
      due = TICKS_PER_TIMER_MAX;
      this.#lastTickAt = now;
      this.metrics.ticksDropped.inc(missed - due);
    } else {
      this.#lastTickAt += missed * this.config.tickMs;
    }
    for (let i = 0; i < due; i++) this.#raw.tick();
    this.#refreshPeerMetrics();
    this.#maybePublish();
    this.#scheduleReady();
    if (now - this.#lastLeaseCheckAt >= LEASE_CHECK_INTERVAL_MS) {
      this.#lastLeaseCheckAt = now;
      this.#leases.revokeExpired();
      const watches = this.#watchHub.stats();
      this.metrics.watchStreams.set(watches.streams);
      this.metrics.watchers.set({ state: 'synced' }, watches.watchers - watches.unsynced);
      this.metrics.watchers.set({ state: 'unsynced' }, watches.unsynced);
      this.metrics.watchPendingBytes.set(watches.pendingBytes);
    }
  }

  /**
   * Proposes revokes for expired leases, but only after a ReadIndex round
   * confirmed that this member still leads *now*: a leader that was paused
   * and has been replaced must find out before it acts (the round fails
   * once it hears the higher term). Bounded per check.
   */
  #scheduleCatchUp(): void {
    if (this.#catchUpScheduled || this.#stopped) return;
    this.#catchUpScheduled = true;
    setImmediate(() => {
      this.#catchUpScheduled = false;
      if (this.#stopped) return;
      if (this.#watchHub.catchUp()) this.#scheduleCatchUp();
    });
  }

  #receive(message: Message): void {
    if (this.#stopped) return;
    this.#loop.step(message);
  }

  /** Coalesces: everything that arrives in one event-loop turn shares one Ready, hence one fsync. */
  #scheduleReady(): void {
    if (!this.#stopped) this.#loop.schedule();
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#log.error('member failed; stopping', { error: error.message, code: (error as { code?: string }).code });
    void this.stop().finally(() => this.#onFatal(error));
  }

  /**
   * The member's part of each Ready (raft-loop.ts carries out the order:
   * the leader's appends first, the write off the event loop, then send,
   * apply, serve reads, advance).
   */
  #readyHost(): ReadyHost {
    return {
      stored: (ready) => {
        if (ready.hardState) {
          this.#term = ready.hardState.term;
          this.#commit = ready.hardState.commit;
        }
        if (ready.softState) this.#onSoftState(ready.softState);
        // A member added by an appended (not yet committed) entry must be reachable at once: a leader of one voter needs the new voter's ack to commit its addition.
        for (const entry of ready.entries) if (entry.type === EntryType.ConfChange) this.#learnAddress(decodeConfChange(entry.data));
      },
      // The storage layer's snapshot-*-install failpoints bracket persisting it (step 1); the restore runs in slices (the loop holds applies meanwhile).
      installSnapshot: (snapshot, done) => {
        this.#installSnapshot(snapshot).then(() => done(), (error: unknown) => done(error ?? new Error('snapshot restore failed')));
      },
      applyCommitted: (entries) => {
        const applyStarted = performance.now();
        let entryStarted = applyStarted;
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!;
          this.#logBytesSinceSnapshot += entrySizeBytes(entry);
          const underWay = this.#applier.apply(entry, DELETE_STEP_KEYS);
          if (underWay !== undefined) {
            this.metrics.batchApplied((performance.now() - applyStarted) / 1000);
            this.#driveCompaction();
            return this.#applyInSteps(entry, underWay, entries.slice(i + 1));
          }
          const entryEnded = performance.now();
          if (entryEnded - entryStarted >= SLOW_APPLY_WARN_MS) this.#warnSlowApply(entry, entryEnded - entryStarted);
          entryStarted = entryEnded;
          const recheckMs = this.#lostWrites.applied(entry.term);
          if (recheckMs !== undefined) this.#recheckLostWrites(recheckMs);
        }
        this.metrics.batchApplied((performance.now() - applyStarted) / 1000);
        this.#driveCompaction();
      },
      // Peeks at each committed entry's command tag; only a DeleteRange, a txn or a lease revoke is decoded.
      applyMayStall: (entries) => entries.some(entryScalesWithData),
      readStates: (states) => {
        this.#reads.confirmed(states);
        this.#answerReads();
        if (this.#peers.guessing && this.#commit > 0 && this.#store.appliedIndex >= this.#commit) this.#syncPeers();
      },
      advanced: () => {
        this.metrics.raftProgress(this.#term, this.#commit, this.#store.appliedIndex);
        this.metrics.logObserved(this.#memory.heldBytes, this.#memory.entriesReadBack);
        this.metrics.storeObserved(this.#store.usedBytes, this.#store.quotaBytes, this.#store.keyCount);
        this.#maintenance.observeQuota();
        this.#maybeSnapshot();
      },
      failed: (error) => this.#fail(error instanceof Error ? error : new Error(String(error))),
    };
  }

  /**
   * Steps an entry the applier left under way (a DeleteRange or a lease
   * revoke of more than DELETE_STEP_KEYS keys), DELETE_STEP_KEYS keys a turn of the event loop,
   * so heartbeats, votes, peer messages and serializable reads go on
   * meanwhile; the raft loop holds the entries after it, and linearizable
   * reads, until it is applied (RaftLoop's ApplyUnderWay). Applied in one
   * call, 160,000 keys held every member's loop for 0.3-1.1 s (etcdctl check
   * perf's cleanup), longer than the election timeout.
   */
  #applyInSteps(entry: Entry, underWay: EntryInSteps, rest: readonly Entry[]): ApplyUnderWay {
    const started = performance.now();
    let steps = 1;
    let longestStepMs = 0;
    const applying = (async () => {
      for (;;) {
        await yieldToLoop();
        if (this.#stopped) return false;
        steps++;
        const stepStarted = performance.now();
        const done = underWay.step(DELETE_STEP_KEYS);
        longestStepMs = Math.max(longestStepMs, performance.now() - stepStarted);
        if (done) return true;
      }
    })();
    const settled = applying.then(
      () => undefined,
      () => undefined,
    );
    this.#applyingInSteps = settled;
    void settled.then(() => {
      if (this.#applyingInSteps === settled) this.#applyingInSteps = undefined;
    });
    return {
      rest,
      whenApplied: (done) => {
        applying.then(
          (applied) => {
            if (applied) {
              this.#log.info('applied an entry in steps', { index: entry.index, steps, ms: Math.round(performance.now() - started), longestStepMs: Math.round(longestStepMs) });
              const recheckMs = this.#lostWrites.applied(entry.term);
              if (recheckMs !== undefined) this.#recheckLostWrites(recheckMs);
            }
            done();
          },
          (error: unknown) => done(error ?? new Error('applying an entry in steps failed')),
        );
      },
    };
  }

  /**
   * A compaction applied with its records still to drop (compactInSteps):
   * drops them COMPACT_STEP_RECORDS at a time, a turn of the loop between
   * steps, so ticks, peer messages and requests go on meanwhile. A snapshot
   * capture or a hash that comes first finishes it at once.
   */
  #driveCompaction(): void {
    if (this.#compactionDriven || !this.#store.compacting) return;
    this.#compactionDriven = true;
    void (async () => {
      try {
        while (!this.#stopped && !this.#store.compactStep(COMPACT_STEP_RECORDS)) await yieldToLoop();
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      } finally {
        this.#compactionDriven = false;
      }
    })();
  }

  /**
   * One entry's apply held the loop for `ms` (etcd's "apply request took too
   * long"): names what it was, since a stall this long on every member at
   * once (they apply the same entry) can cost the leader.
   */
  #warnSlowApply(entry: Entry, ms: number): void {
    let kind: string = entry.type === EntryType.ConfChange ? 'confChange' : 'unknown';
    if (entry.type !== EntryType.ConfChange) {
      try {
        const data = decodeEntry(entry.data);
        kind = data.kind === 'command' ? decodeCommand(data.command).type : data.kind;
      } catch {
        // an entry the store rejects: kind stays unknown
      }
    }
    this.#log.warn('applying an entry took too long', { index: entry.index, kind, entryBytes: entry.data.byteLength, ms: Math.round(ms) });
  }

  #onSoftState({ leader, role, leaderElection }: SoftState): void {
    if (leader !== this.#leader) {
      if (leader !== NONE) this.metrics.leaderChanged();
      const term = this.#raw.status().hardState.term;
      this.#log.info('leader changed', { leader: leader || null, role, term });
      this.#reads.leaderChanged();
      this.#lostWrites.leaderChanged(term, leaderElection);
      // Forwarded lease calls waiting on the previous leader give up on it (see leaseRenew).
      this.#leaderChange.abort();
      this.#leaderChange = new AbortController();
    }
    if (role === Role.Leader && this.#role !== Role.Leader) this.#leases.lessor.promote(this.#store.leases());
    if (role !== Role.Leader && this.#role === Role.Leader) this.#leases.lessor.demote();
    this.#leader = leader;
    this.#role = role;
    this.metrics.leaderObserved(leader !== NONE, role === Role.Leader);
  }

  /**
   * Runs LostWrites.recheck in `delayMs` (one timer at a time). Without
   * it a lost write waited for the next entry to apply after its grace, and
   * a client that writes one request at a time sends none meanwhile: its
   * write hung until its own timeout (bench:failover's 1 s) after every
   * crash of a leader.
   */
  #recheckLostWrites(delayMs: number): void {
    if (this.#lostWriteTimer !== undefined || this.#stopping) return;
    this.#lostWriteTimer = setTimeout(() => {
      this.#lostWriteTimer = undefined;
      if (this.#stopping) return;
      const recheckMs = this.#lostWrites.recheck();
      if (recheckMs !== undefined) this.#recheckLostWrites(recheckMs);
    }, Math.max(1, Math.ceil(delayMs)));
    this.#lostWriteTimer.unref();
  }

  #answerReads(): void {
    const applied = this.#store.appliedIndex;
    this.#reads.answer(applied);
  }

  #maybeSnapshot(): void {
    // While an entry is applied in steps a capture would finish it at once (the stall the steps avoid): the next advance looks again.
    if (this.#snapshots?.running !== false || this.#store.applyingInSteps) return;
    const progress = { entriesSince: this.#store.appliedIndex - this.#loop.snapshotIndex, logBytesSince: this.#logBytesSinceSnapshot, lastSnapshotBytes: this.#lastSnapshotBytes };
    if (!snapshotWanted(progress, { snapshotEntries: this.config.snapshotEntries, logRatio: this.config.snapshotLogRatio })) return;
    this.#saveSnapshot().catch(() => undefined); // a failure has already failed the member (#snapshotFailed)
  }

  /**
   * Saves a snapshot of the applied state off the event loop (waiting first
   * for one already being saved) and then drops the log it covers. Does
   * nothing when the newest snapshot is already at the applied index.
   */
  async #saveSnapshot(): Promise<void> {
    const saver = this.#snapshots;
    if (saver === undefined) return;
    while (this.#applyingInSteps !== undefined) await this.#applyingInSteps; // a capture would finish the entry at once, on the loop
    if (saver.running) await saver.current;
    if (this.#stopped || this.#store.appliedIndex <= this.#loop.snapshotIndex) return;
    await saver
      .save(() => {
        this.#logBytesSinceSnapshot = 0; // the snapshot covers everything applied so far
        // The state first: its applied index is the one the metadata must name (a capture finishes an entry still under way).
        const state = this.#store.captureSnapshot();
        return { metadata: this.#loop.snapshotMetadata(state.appliedIndex), membership: this.#table.encode(), state };
      })
      .catch((error: unknown) => {
        // As when the snapshot was written synchronously: a failed snapshot write or fsync leaves the disk's state unknown.
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        throw error;
      });
  }

  #snapshotSaved(result: SnapshotSaved): void {
    // The storage layer brackets the log release with its compaction-* failpoints.
    const adoptStarted = performance.now();
    const adopted = this.#loop.adoptSnapshot(result.snapshot, this.config.snapshotCatchUpEntries);
    if (adopted) this.#lastSnapshotBytes = result.bytes;
    const adoptSeconds = (performance.now() - adoptStarted) / 1000;
    this.metrics.snapshotSeconds.observe(result.seconds);
    this.#log.info('snapshot saved', {
      index: result.snapshot.metadata.index,
      seconds: result.seconds,
      bytes: result.bytes,
      chunks: result.chunks,
      longestStepSeconds: result.longestStepSeconds,
      adoptSeconds,
      ...(adopted ? {} : { superseded: true }),
    });
  }

  #refreshPeerMetrics(): void {
    for (const [peer, stats] of this.#transport.stats()) {
      this.metrics.peerTotals(peer, stats);
    }
    this.metrics.peerCertificatesRejectedTotal(this.#transport.counters().rejectedCertificates);
  }

  // ------------------------------------------------------------------ requests

  /** Proposes a write and resolves with its response once this member has applied it. */
  async propose(command: Command, timeoutMs = this.config.requestTimeoutMs): Promise<CommandResponse> {
    this.#checkAccepting();
    validateCommand(command);
    if (command.type === 'txn') checkTxnIntervals(command.request);
    if (this.#pendingWrites.size + this.#reads.size >= this.config.pendingRequestsMax) {
      this.metrics.proposalFailed();
      throw new OverloadedError('too many requests pending on this member', 1);
    }
    const requestId = `${this.#requestTag}.${++this.#requestSequence}`;
    const entry = encodeStoreCommandEntry(requestId, command);
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        this.#raw.propose(entry);
        break;
      } catch (error) {
        // A transient drop (no leader yet, an election, the leader handing off before a planned stop) left
        // nothing in the log, so the same entry goes again with the next leader, within the deadline: a
        // drained member's leadership transfer costs writes a short wait instead of a 503.
        const remainingMs = deadline - performance.now();
        if (!isTransientDrop(error) || attempt >= PROPOSE_ATTEMPTS_MAX || remainingMs <= 0 || this.#stopping) {
          this.metrics.proposalFailed();
          throw this.#translate(error);
        }
        await this.#reads.untilLeaderChange(Math.min(remainingMs, this.config.electionTicks * this.config.tickMs));
        this.#checkAccepting();
      }
    }
    this.#scheduleReady();
    const applied = this.#pendingWrites.register(requestId, deadline - performance.now(), () => {
      this.metrics.proposalFailed();
      return new RequestTimeoutError(timeoutMs);
    }, {});
    this.metrics.proposalsPendingNow(this.#pendingWrites.size);
    return applied;
  }

  /**
   * A range read. Linearizable by default: a fresh ReadIndex round for every
   * request (never reused across retries), then the read runs once this
   * member has applied that index. Serializable reads use local state.
   */
  async range(request: RangeRequest, serializable: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<RangeResponse> {
    this.#checkAccepting();
    validateRange(request);
    // The planted stale-read bug (test-only, see test-stale-reads.ts): no barrier, an old revision.
    if (!serializable && staleReadsOn() && (request.revision ?? 0) <= 0) return this.#store.range({ ...request, revision: staleRevision(this.#store.revision, this.#store.compactRevision) });
    if (!serializable) await this.#reads.barrier(timeoutMs);
    return this.#store.range(request);
  }

  /** A serializable range on this member's applied state, synchronously (for observers that react to its own events). */
  serializableRange(request: RangeRequest): RangeResponse {
    this.#checkAccepting();
    validateRange(request);
    return this.#store.range(request);
  }

  /** A read-only txn is served like a read; anything else is proposed, with the auth stamp of its checks (store/command.ts, AuthStamp). */
  async txn(request: TxnRequest, serializable: boolean, timeoutMs = this.config.requestTimeoutMs, authRevision?: number): Promise<CommandResponse> {
    if (isReadOnlyTxn(request)) {
      this.#checkAccepting();
      if (!serializable) await this.#reads.barrier(timeoutMs);
      return { type: 'txn', response: this.#store.readTxn(request) };
    }
    return this.propose({ type: 'txn', request, ...stamp(authRevision) }, timeoutMs);
  }

  #checkAccepting(): void {
    if (this.#stopping || this.#stopped) throw new StoppingError();
  }

  #translate(error: unknown): unknown {
    if (!RaftError.is(error)) return error;
    if (error.code === 'KEEL_RAFT_NOT_LEADER') {
      const leader = (error as RaftError & { leader: NodeId }).leader;
      return new NotLeaderError(leader, this.#table.get(leader)?.clientUrls[0] ?? this.config.clientUrls[leader]);
    }
    if (this.#leader === NONE) return new NoLeaderError();
    return new OverloadedError(error.message, 1);
  }

  // ------------------------------------------------------------------ leases

  /** etcd's minimum lease TTL: 1.5 election timeouts (rounded up to a second), so a leader change cannot expire a lease just granted. */
  get minLeaseTtlSeconds(): number {
    return Math.max(1, Math.ceil((1.5 * this.config.electionTicks * this.config.tickMs) / 1000));
  }

  /** Grants a lease (id 0n: the member picks a random one); a TTL below the minimum is raised to it, as etcd does. */
  leaseGrant(ttlSeconds: number, id: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<LeaseGrantResponse> {
    return this.#leases.grant(ttlSeconds, id, timeoutMs);
  }

  /** `authRevision`: the auth stamp of a client's revoke (the leader's own expiry revokes carry none). */
  leaseRevoke(id: bigint, timeoutMs = this.config.requestTimeoutMs, authRevision?: number): Promise<LeaseRevokeResponse> {
    return this.#leases.revoke(id, timeoutMs, authRevision);
  }

  /** Renews a lease on the leader's deadlines (a follower forwards it once); the TTL, or 0 when unknown or expired. */
  leaseRenew(id: bigint, forwarded: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<number> {
    return this.#leases.renew(id, forwarded, timeoutMs);
  }

  /** etcd's LeaseTimeToLive, from the leader's deadlines (TTL -1 when unknown or expired). */
  leaseTimeToLive(id: bigint, keys: boolean, forwarded: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<LeaseTimeToLive> {
    return this.#leases.timeToLive(id, keys, forwarded, timeoutMs);
  }

  /** The leases this member has applied, by id. */
  leaseList(): bigint[] {
    return this.#store.leases().map((lease) => lease.id);
  }

  // ------------------------------------------------------------------ auth

  /** etcd's auth store as this member has applied it (users, roles, the permission checks). */
  get auth(): AuthState {
    return this.#store.auth;
  }

  /** This member's token provider (--auth-token), created on first use so a bad option fails at start (see start()). */
  get authTokens(): AuthTokens {
    this.#authTokens ??= new AuthTokens(parseAuthTokenOption(this.config.authToken), this.config.authTokenTtl);
    return this.#authTokens;
  }

  /** The keys attached to a lease on this member's applied state (for the permission checks of LeaseRevoke and puts with a lease). */
  leaseKeys(id: bigint): Uint8Array[] {
    return this.#store.leaseKeys(id);
  }

  /** Waits until this member has applied everything committed when it was called (a ReadIndex round), so a check reads fresh auth state. */
  async readBarrier(timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkAccepting();
    await this.#reads.barrier(timeoutMs);
  }

  // ------------------------------------------------------------------ watches

  /** The member's watch streams (served from this member's applied state). */
  get watchHub(): WatchHub {
    return this.#watchHub;
  }

  /** Runs `hook` once when the member starts stopping (long-lived streams end themselves); returns an unregister function. */
  /**
   * `hook` runs synchronously after each applied auth command that moved the
   * auth revision, before the next entry applies (so before any later event
   * reaches a watcher). Returns the unregister function.
   */
  onAuthChange(hook: () => void): () => void {
    this.#authChangeHooks.add(hook);
    return () => this.#authChangeHooks.delete(hook);
  }

  #authApplied(response: AuthResponse): void {
    this.authTokens.applied(response);
    if (this.auth.revision === this.#authRevisionSeen) return;
    this.#authRevisionSeen = this.auth.revision;
    for (const hook of [...this.#authChangeHooks]) {
      try {
        hook();
      } catch (error) {
        this.#log.error('an auth change hook failed', { error: (error as Error).message });
      }
    }
  }

  onStop(hook: () => void): () => void {
    this.#stopHooks.add(hook);
    return () => this.#stopHooks.delete(hook);
  }

  // ------------------------------------------------------------------ maintenance (etcd's Maintenance service)

  /** The active alarms after a read barrier (etcd serves Alarm GET through raft: linearizable). */
  alarmList(timeoutMs = this.config.requestTimeoutMs): Promise<AlarmResponse> {
    return this.#maintenance.alarmList(timeoutMs);
  }

  /** Activates or deactivates an alarm through the log. */
  alarm(request: AlarmRequest, timeoutMs = this.config.requestTimeoutMs): Promise<AlarmResponse> {
    return this.#maintenance.alarm(request, timeoutMs);
  }

  /** Active alarms in this member's applied state, without a barrier (Status reports them). */
  activeAlarms(): AlarmMember[] {
    return this.#maintenance.activeAlarms();
  }

  /**
   * The whole applied store state as bytes, taken in one synchronous step,
   * so it is consistent (no apply can interleave), with the revision it holds.
   */
  storeSnapshot(): { bytes: Uint8Array; revision: number } {
    this.#checkAccepting();
    return { bytes: this.#store.snapshot(), revision: this.#store.revision };
  }

  /** Bytes the raft data takes on disk (etcd's dbSize) and the state counted against the quota (dbSizeInUse). */
  spaceUsage(): { diskBytes: number; inUseBytes: number; quotaBytes: number } {
    return this.#maintenance.spaceUsage();
  }

  /** etcd's Defragment: snapshot now and release the log it covers (see Maintenance.defragment). */
  defragment(): Promise<DefragmentResult> {
    return this.#maintenance.defragment();
  }

  /** etcd's MoveLeader (see Maintenance.moveLeader). */
  moveLeader(targetMemberId: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    return this.#maintenance.moveLeader(targetMemberId, timeoutMs);
  }

  #newMaintenance(): Maintenance {
    return new Maintenance({
      config: this.config,
      metrics: this.metrics,
      log: this.#log,
      store: () => this.#store,
      raw: () => this.#raw,
      memberId: () => this.memberId,
      memberIdOf: (id) => this.memberIdOf(id),
      isLeader: () => this.#role === Role.Leader,
      leader: () => this.#leader,
      stopping: () => this.#stopping,
      stopped: () => this.#stopped,
      checkAccepting: () => this.#checkAccepting(),
      barrier: (timeoutMs) => this.#reads.barrier(timeoutMs),
      propose: (command, timeoutMs) => this.propose(command, timeoutMs),
      schedule: () => this.#scheduleReady(),
      snapshotIndex: () => this.#loop.snapshotIndex,
      saveSnapshot: () => this.#saveSnapshot(),
      releaseLog: () => this.#loop.releaseLog(this.config.snapshotCatchUpEntries),
      now: () => this.clock.now(),
    });
  }

  // ------------------------------------------------------------------ views

  headerContext(): HeaderContext {
    return { clusterId: this.clusterId, memberId: this.memberId, raftTerm: this.#term };
  }

  /** Live: the loop runs and storage has not failed. */
  live(): boolean {
    return !this.#failed && !this.#stopped;
  }

  /** Ready: a leader is known, this member has applied what it knows is committed, and it is not draining. */
  isReady(): boolean {
    return this.live() && !this.#stopping && !this.#draining && this.#leader !== NONE && this.#store.appliedIndex >= this.#commit;
  }

  /**
   * The first half of a planned stop (`--shutdown-drain-ms`): readiness
   * fails at once, so health-checking load balancers stop sending new
   * requests, and a leader hands leadership to the most caught-up voter
   * while it still answers (its reads and forwarded writes follow the new
   * leader). Everything is served for `ms`; stop() then closes as before.
   */
  async drain(ms: number): Promise<void> {
    if (this.#stopping || this.#draining) return;
    this.#draining = true;
    const until = performance.now() + ms;
    if (this.#role === Role.Leader) await this.#transferLeadershipAway();
    const left = until - performance.now();
    if (left > 0) await delay(left);
  }

  status(): MemberStatus {
    const status = this.#raw.status();
    return {
      id: this.#raftId,
      memberId: this.memberId,
      clusterId: this.clusterId,
      leader: status.softState.leader,
      role: status.softState.role,
      term: status.hardState.term,
      commitIndex: status.hardState.commit,
      appliedIndex: this.#store.appliedIndex,
      revision: this.#store.revision,
      dbSizeBytes: this.#store.usedBytes,
      voters: status.confState.voters,
      learners: status.confState.learners,
    };
  }

  /**
   * HashKV: a hash of the key-value state up to `revision` (0 = current), to
   * compare members. Computed in steps of HASH_STEP_BYTES with a turn of the
   * event loop between them: in one call, a million small keys held the loop
   * for 0.74 s (bench/store.ts), more than twice the election timeout.
   */
  async hash(revision = 0): Promise<{ hash: number; revision: number; compactRevision: number }> {
    const job = this.#store.beginHash(revision);
    for (;;) {
      const digest = job.step(HASH_STEP_BYTES);
      if (digest !== undefined) return digest;
      await yieldToLoop();
    }
  }

  memberIdOf(id: NodeId): bigint {
    return this.#table.get(id)?.memberId ?? memberIdOf(this.config.clusterName, id);
  }

  /** Voters then learners as of what this member has applied, with the replicated records (names, URLs). */
  memberList(): MemberInfo[] {
    const conf = this.#raw.confStateAt(this.#store.appliedIndex);
    const members = [...conf.voters.map((id) => ({ id, isLearner: false })), ...conf.learners.map((id) => ({ id, isLearner: true }))];
    return members.map(({ id, isLearner }) => this.#memberInfo(this.#table.get(id) ?? this.#table.founderRecord(id), isLearner));
  }

  // ------------------------------------------------------------------ membership (etcd's Cluster service)

  /** True while this member leads: membership changes are proposed only by the leader (followers forward them). */
  isLeader(): boolean {
    return this.#role === Role.Leader && !this.#stopping;
  }

  /** The leader's client URL, from the replicated records (or the flags), when a leader is known. */
  leaderClientUrl(): string | undefined {
    if (this.#leader === NONE) return undefined;
    return this.#table.get(this.#leader)?.clientUrls[0] ?? this.config.clientUrls[this.#leader];
  }

  /** MemberAdd. Leader only; resolves once the change is applied here, with the new member. */
  async memberAdd(peerUrls: unknown, isLearner: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<MemberInfo> {
    this.#checkMembershipLeader();
    const record = await this.#memberChanges.add(peerUrls, isLearner, timeoutMs);
    return this.#memberInfo(record, isLearner);
  }

  async memberRemove(memberId: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkMembershipLeader();
    await this.#memberChanges.remove(memberId, timeoutMs);
  }

  async memberPromote(memberId: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkMembershipLeader();
    await this.#memberChanges.promote(memberId, timeoutMs);
  }

  async memberUpdate(memberId: bigint, peerUrls: unknown, timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkMembershipLeader();
    await this.#memberChanges.update(memberId, peerUrls, timeoutMs);
  }

  /** Resolves once this member has applied everything committed when it was called (a ReadIndex round): a follower's view then includes a change the leader applied. */
  async barrier(timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkAccepting();
    await this.#reads.barrier(timeoutMs);
  }

  #checkMembershipLeader(): void {
    this.#checkAccepting();
    if (this.#leader === NONE) throw new NoLeaderError();
    if (this.#role !== Role.Leader) throw new NotLeaderError(this.#leader, this.leaderClientUrl());
  }

  #memberInfo(record: MemberRecord, isLearner: boolean): MemberInfo {
    return { id: record.raftId, name: record.name, memberId: record.memberId, peerUrls: record.peerUrls, clientUrls: record.clientUrls, isLearner };
  }

  #newMemberChanges(): MemberChanges {
    return new MemberChanges({
      clusterName: this.config.clusterName,
      strictReconfigCheck: this.config.strictReconfigCheck,
      tickMs: this.config.tickMs,
      table: this.#table,
      selfId: () => this.#raftId,
      confState: () => this.#raw.confState(),
      progress: () => this.#raw.status().progress,
      lastIndex: () => this.#raw.status().lastIndex,
      connected: (peer) => this.#transport.stats().get(peer)?.connected === true,
      proposeConfChange: (change) => this.#proposeMembership(() => this.#raw.proposeConfChange(change)),
      proposeData: (data) => this.#proposeMembership(() => this.#raw.propose(data)),
      newRequestId: () => `${this.#requestTag}.${++this.#requestSequence}`,
    });
  }

  /** A refused membership change stays a RaftError (the caller retries transient refusals); anything else is translated for the client. */
  #proposeMembership(propose: () => void): void {
    this.#checkAccepting();
    try {
      propose();
    } catch (error) {
      if (RaftError.is(error) && error.code === 'KEEL_RAFT_CONF_CHANGE_REJECTED') throw error;
      throw this.#translate(error);
    }
    this.#scheduleReady();
  }

  /**
   * Restores the store from snapshot data in slices between other events
   * (snapshot-restorer.ts), then the membership it carries. Data left in
   * its file is read whole first, off the loop, and checked. The store swaps
   * the restored state in at once, so reads never see half of it; given up
   * (done: false, the state unchanged) when the member stops meanwhile.
   */
  async #restoreSnapshot(data: SnapshotData): Promise<RestoreReport> {
    // In memory only while the restore runs (the records copy what they keep); the member holds the snapshot as its file.
    const { membership, store } = unwrapSnapshot(await readSnapshotData(data));
    const report = await restoreInSlices(this.#store.beginRestore(store), {
      sliceMs: RESTORE_SLICE_MS,
      stepWork: RESTORE_STEP_WORK,
      now: () => performance.now(),
      yieldTurn: yieldToLoop,
      stopped: () => this.#stopping || this.#stopped,
    });
    if (report.done && membership) this.#table.restore(membership);
    return report;
  }

  /** A snapshot from the leader, durable already: the raft loop holds committed entries and reads until this resolves. */
  async #installSnapshot(snapshot: Snapshot): Promise<void> {
    this.#lastSnapshotBytes = snapshot.data.length;
    this.#logBytesSinceSnapshot = 0;
    const report = await this.#restoreSnapshot(snapshot.data);
    if (!report.done) return;
    this.#watchHub.onRestore();
    this.#leases.lessor.reset(this.#store.leases());
    this.#syncPeers();
    this.#log.info('installed a snapshot from the leader', { index: snapshot.metadata.index, ...restoreFields(report) });
  }

  /** Applied membership: the transport learns and forgets peers, the proposer answers its client, a removed member stops. */
  #onMembershipApplied(effect: MembershipEffect): void {
    for (const [id, address] of effect.addresses) this.#peers.set(id, address);
    if (effect.removed !== undefined) this.#peers.remove(effect.removed);
    this.#memberChanges.applied(effect);
    if (effect.removed === this.#raftId) this.#onRemoved('this member was removed from the cluster');
  }

  /** An appended AddVoter/AddLearner names the new member's address in its context. */
  #learnAddress(change: ConfChange): void {
    if (change.type === ConfChangeType.Remove) return;
    const url = decodeChangeContext(change.nodeId, change.context).member?.peerUrls[0];
    if (url) this.#peers.set(change.nodeId, peerAddressOf(url));
  }

  /** Points the transport at every member's replicated address; drops the starting guesses once caught up (peers.ts). */
  #syncPeers(): void {
    const conf = this.#raw.confState();
    this.#peers.sync(this.#table.addresses(conf), new Set([...conf.voters, ...conf.learners]), this.#commit > 0 && this.#store.appliedIndex >= this.#commit);
  }

  /** Peer TLS from the --peer-* flags (files read now: a missing or mismatched file fails start() with a typed error). */
  #peerTlsOptions(): { tls?: PeerTlsOptions } {
    const files = peerTlsFiles(this.config);
    if (!files) return {};
    const common = tlsCommon(this.config);
    this.#peerTlsMaterial = loadTlsMaterial(files);
    return {
      tls: {
        server: () => serverOptions(this.#peerTlsMaterial!, files, common),
        client: () => clientOptions(this.#peerTlsMaterial!, common),
        verifyClients: verifiesClients(files),
        allowedCommonName: this.config.peerCertAllowedCn,
      },
    };
  }

  /**
   * Re-reads the peer certificate files (rotation). New peer connections,
   * both directions, use them; open ones keep theirs. Throws a typed error
   * (and keeps the old certificate) when the new files are bad. Returns the
   * new certificate's serial, or undefined without peer TLS.
   */
  reloadPeerTls(): string | undefined {
    const files = peerTlsFiles(this.config);
    if (!files) return undefined;
    this.#peerTlsMaterial = loadTlsMaterial(files);
    this.#transport.reloadTls();
    return this.#peerTlsMaterial.serial;
  }

  /** The peer transport's refused-certificate count (for /metrics). */
  get peerCertificatesRejected(): number {
    return this.#transport?.counters().rejectedCertificates ?? 0;
  }

  #onClusterIdLearned(clusterId: string): void {
    if (!/^\d{1,20}$/.test(clusterId)) return;
    this.#clusterId = BigInt(clusterId);
    this.#writeIdentity({});
    this.#log.info('learned the cluster id from the leader', { clusterId });
  }

  #removedSelf = false;

  #onRemoved(reason: string): void {
    if (this.#removedSelf) return;
    this.#removedSelf = true;
    this.#log.warn('removed from the cluster; stopping for good', { reason });
    try {
      this.#writeIdentity({ removed: true });
    } catch (error) {
      this.#log.error('could not mark the data dir as removed', { error: (error as Error).message });
    }
    // After this turn, so the Ready being handled finishes and the request that removed this member is answered.
    setImmediate(() => this.#fail(new MemberRemovedError(reason)));
  }

  /** etcd's publish: a member whose replicated name or client URLs differ from its own proposes them (a joined member starts nameless). */
  #maybePublish(): void {
    if (this.#stopping || this.#removedSelf || this.#leader === NONE) return;
    const record = this.#table.get(this.#raftId);
    if (!record) return;
    const conf = this.#raw.confStateAt(this.#store.appliedIndex);
    if (!conf.voters.includes(this.#raftId) && !conf.learners.includes(this.#raftId)) return;
    const clientUrls = [this.config.clientUrls[this.config.id] ?? `http://${this.config.listenClient}`];
    if (record.name === this.config.id && record.clientUrls.length === 1 && record.clientUrls[0] === clientUrls[0]) return;
    const now = this.clock.now();
    if (now - this.#publishAttemptAt < PUBLISH_RETRY_MS) return;
    this.#publishAttemptAt = now;
    this.#memberChanges.publish({ op: 'publish', raftId: this.#raftId, name: this.config.id, clientUrls }, this.config.requestTimeoutMs).catch((error: unknown) => {
      this.#log.debug('publishing this member\'s name failed; will retry', { error: (error as Error).message });
    });
  }
}


function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A proposal the core dropped for a reason that ends with the next leader (see raft/errors.ts). */
function isTransientDrop(error: unknown): boolean {
  return RaftError.is(error) && error.code === 'KEEL_RAFT_PROPOSAL_DROPPED' && (error as RaftError & { transient?: boolean }).transient === true;
}

/** A restore's figures for the log line that reports it. */
function restoreFields(report: RestoreReport): Record<string, number> {
  return { records: report.records, seconds: Number(report.seconds.toFixed(3)), slices: report.slices, longestSliceMs: Math.round(report.longestSliceMs) };
}
