import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapLog } from '../raft/bootstrap.js';
import { RaftError } from '../raft/errors.js';
import { SeededRandom } from '../raft/random.js';
import { RawNode } from '../raft/raw-node.js';
import type { MemoryStorage } from '../raft/storage.js';
import type { Entry, Message, NodeId, Ready } from '../raft/types.js';
import { EntryType, NONE, Role } from '../raft/types.js';
import { FileStorage, failpoint, toMemoryStorage } from '../storage/index.js';
import { encodeCommand } from '../store/command.js';
import type { Command } from '../store/command.js';
import type { CommandResponse } from '../store/state-machine.js';
import { StoreStateMachine } from '../store/state-machine.js';
import type { RangeRequest, RangeResponse, TxnRequest } from '../store/types.js';
import { checkTxnIntervals, isReadOnlyTxn, validateCommand, validateRange } from '../store/validate.js';
import { LeaseNotFoundError } from '../store/errors.js';
import { WatchHub } from '../store/watch-hub.js';
import type { LeaseGrantResponse, LeaseRevokeResponse } from '../store/types.js';
import { PeerTransport } from '../transport/index.js';
import { InterruptedError, LeaderChangedError, LeaseTtlTooLargeError, NoLeaderError, NotLeaderError, OverloadedError, RequestTimeoutError, StoppingError } from '../api/errors.js';
import { BadLeaderTransfereeError, LeaderTransferTimeoutError, TransferNotLeaderError } from '../api/errors.js';
import type { AlarmMember, AlarmRequest, AlarmResponse } from '../store/alarms.js';
import { autoCompactionPolicy, startAutoCompaction } from './auto-compaction.js';
import { raftDiskBytes } from './disk-usage.js';
import { QUOTA_WARN_RATIO, QuotaWatch } from './quota-watch.js';
import type { HeaderContext } from '../api/json-codec.js';
import type { NodeConfig } from './config.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { DataDirMismatchError } from './errors.js';
import type { Logger } from './logger.js';
import { clusterIdOf, memberIdOf } from './identity.js';
import { NodeMetrics } from './metrics.js';
import { Lessor } from './lessor.js';
import { forwardKeepAlive, forwardTimeToLive, leaseIdOf, LEASE_TTL_MAX_SECONDS } from './lease-forward.js';
import type { LeaseTimeToLive } from './lease-forward.js';

/** Ticks run at once after the event loop stalled (GC, SIGSTOP): enough to expire any lease, bounded. */
const CATCH_UP_TICKS_MAX = 1_000;
/** Ready rounds per scheduled turn; each round makes progress. */
const READY_ROUNDS_MAX = 64;
/** How often the leader looks for expired leases. */
const LEASE_CHECK_INTERVAL_MS = 250;
/** Revokes proposed per check (etcd revokes at most 1000 leases a second, so a mass expiry cannot flood the log). */
const LEASE_REVOKES_PER_CHECK = 250;

interface PendingWrite {
  resolve(response: CommandResponse): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

interface PendingRead {
  resolve(): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
  /** Set once the leader confirmed the read index. */
  index?: number;
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
  readonly memberId: bigint;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/**
 * A keel member: the raft core driven by a real clock, persisted through the
 * WAL, talking to peers over TCP, applying committed entries to the MVCC
 * store, and serving requests. Every Ready is carried out in the order
 * documented on the type: persist (one fsync), send, apply, answer reads.
 */
export class KeelNode {
  readonly config: NodeConfig;
  readonly metrics = new NodeMetrics();
  readonly clusterId: bigint;
  readonly memberId: bigint;
  #log: Logger;
  #raw!: RawNode;
  #memory!: MemoryStorage;
  #storage!: FileStorage;
  #store!: StoreStateMachine;
  #transport!: PeerTransport;
  #tickTimer: NodeJS.Timeout | undefined;
  #lastTickAt = 0;
  #readyScheduled = false;
  #stopping = false;
  #stopped = false;
  #failed: Error | undefined;
  readonly #pendingWrites = new Map<string, PendingWrite>();
  readonly #pendingReads = new Map<string, PendingRead>();
  #requestSequence = 0;
  readonly #requestTag = randomBytes(6).toString('hex');
  #leader: NodeId = NONE;
  #role: string = Role.Follower;
  #term = 0;
  #commit = 0;
  #lastSnapshotIndex = 0;
  readonly #peerBytes = new Map<string, { sent: number; received: number }>();
  readonly #lessor = new Lessor(() => performance.now());
  #revoking = false;
  #lastLeaseCheckAt = 0;
  #watchHub!: WatchHub;
  #catchUpScheduled = false;
  #progressTimer: NodeJS.Timeout | undefined;
  readonly #stopHooks = new Set<() => void>();
  readonly #quotaWatch = new QuotaWatch();
  /** Set while this member's NOSPACE alarm proposal is in flight, so a burst of refused writes raises it once. */
  #raisingNoSpace = false;
  #defragmenting: Promise<DefragmentResult> | undefined;
  #stopAutoCompaction: (() => void) | undefined;

  readonly #onFatal: (error: Error) => void;

  /** `onFatal` runs after the member stopped itself on an unrecoverable error (a failed disk); the CLI exits 1. */
  constructor(config: NodeConfig, log: Logger, onFatal: (error: Error) => void = () => {}) {
    this.config = config;
    this.#log = log;
    this.#onFatal = onFatal;
    this.clusterId = clusterIdOf(config.clusterName, Object.keys(config.peers));
    this.memberId = memberIdOf(config.clusterName, config.id);
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    mkdirSync(this.config.dataDir, { recursive: true });
    this.#checkIdentity();
    this.#storage = this.#openStorage();
    let recovered = this.#storage.load();
    if (recovered.hardState.term === 0 && recovered.entries.length === 0 && recovered.snapshot.metadata.index === 0) {
      // A founding member's first start: the founding membership goes into the log.
      const founders = bootstrapLog(Object.keys(this.config.peers));
      this.#storage.save({ entries: founders.entries, hardState: founders.hardState }, true);
      this.#storage.close();
      this.#storage = this.#openStorage();
      recovered = this.#storage.load();
      this.#log.info('bootstrapped a new cluster', { voters: Object.keys(this.config.peers) });
    }
    this.#memory = toMemoryStorage(recovered);
    this.#store = new StoreStateMachine({ quotaBytes: this.config.quotaBytes });
    const snapshotIndex = recovered.snapshot.metadata.index;
    if (snapshotIndex > 0) this.#store.restore(recovered.snapshot.data);
    this.#watchHub = new WatchHub(this.#store, () => this.#scheduleCatchUp());
    this.#store.subscribe((batch) => this.#watchHub.onBatch(batch));
    this.#lastSnapshotIndex = snapshotIndex;
    this.#raw = new RawNode({
      id: this.config.id,
      storage: this.#memory,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      electionTicks: this.config.electionTicks,
      heartbeatTicks: this.config.heartbeatTicks,
      applied: snapshotIndex,
      checkQuorum: true,
      preVote: true,
    });
    const [host, port] = splitHostPort(this.config.listenPeer);
    this.#transport = new PeerTransport({
      id: this.config.id,
      listenHost: host,
      listenPort: port,
      peers: Object.fromEntries(Object.entries(this.config.peers).filter(([id]) => id !== this.config.id)),
      clusterId: this.clusterId.toString(),
      deliver: (message) => this.#receive(message),
      onUnreachable: (peer) => this.#raw.reportUnreachable(peer),
      onSnapshotStatus: (peer, failed) => {
        this.#raw.reportSnapshot(peer, failed);
        this.#scheduleReady();
      },
      onRoundTrip: (peer, seconds) => this.metrics.peerRoundTripSeconds.observe({ peer }, seconds),
    });
    await this.#transport.listen();
    this.#lastTickAt = performance.now();
    this.#tickTimer = setInterval(() => this.#onTimer(), this.config.tickMs);
    this.#progressTimer = setInterval(() => this.#watchHub.progress(), this.config.watchProgressNotifyIntervalMs);
    this.#startAutoCompaction();
    this.#log.info('member started', {
      id: this.config.id,
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
    if (this.#role === Role.Leader) await this.#transferLeadershipAway();
    for (const [id, pending] of this.#pendingWrites) {
      clearTimeout(pending.timer);
      pending.reject(new InterruptedError());
      this.#pendingWrites.delete(id);
    }
    for (const [id, pending] of this.#pendingReads) {
      clearTimeout(pending.timer);
      pending.reject(new InterruptedError());
      this.#pendingReads.delete(id);
    }
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#stopAutoCompaction?.();
    this.#stopped = true;
    await this.#transport?.close();
    this.#storage?.close();
    this.#log.info('member stopped', { id: this.config.id });
  }

  #openStorage(): FileStorage {
    return new FileStorage(join(this.config.dataDir, 'raft'), {
      snapshotIntervalEntries: this.config.snapshotEntries,
      retainSnapshots: 2,
      segmentSizeBytes: this.config.walSegmentBytes,
    });
  }

  async #transferLeadershipAway(): Promise<void> {
    const status = this.#raw.status();
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const [id, progress] of status.progress) {
      if (id === this.config.id || progress.isLearner || !status.confState.voters.includes(id)) continue;
      if (progress.match > bestMatch) {
        best = id;
        bestMatch = progress.match;
      }
    }
    if (best === NONE) return;
    this.#log.info('transferring leadership before stopping', { to: best });
    try {
      this.#raw.transferLeader(best);
    } catch {
      return;
    }
    this.#scheduleReady();
    const deadline = performance.now() + this.config.tickMs * this.config.electionTicks * 2;
    while (this.#role === Role.Leader && performance.now() < deadline) await delay(this.config.tickMs);
  }

  /** A data directory remembers which member and cluster it belongs to; starting it as another is refused. */
  #checkIdentity(): void {
    const path = join(this.config.dataDir, 'member.json');
    const identity = { id: this.config.id, cluster: this.config.clusterName, clusterId: this.clusterId.toString() };
    let existing: typeof identity | undefined;
    try {
      existing = JSON.parse(readFileSync(path, 'utf8')) as typeof identity;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirMismatchError(`${path}: ${(error as Error).message}`);
    }
    if (existing) {
      if (existing.id !== identity.id || existing.clusterId !== identity.clusterId) {
        throw new DataDirMismatchError(`${this.config.dataDir} belongs to member ${existing.id} of cluster ${existing.cluster} (${existing.clusterId}), not ${identity.id} of ${identity.cluster}`);
      }
      return;
    }
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(identity)}\n`);
    const fd = openSync(temporary, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, path);
  }

  /** Set when the loop hit an unrecoverable error (disk failure); the process should exit. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  // ------------------------------------------------------------------ the raft loop

  /**
   * Ticks follow a monotonic clock: after a stall (GC, a SIGSTOP) the missed
   * ticks run at once, so a leader's lease and a follower's election timer
   * see the time that really passed.
   */
  #onTimer(): void {
    const now = performance.now();
    const due = Math.min(Math.floor((now - this.#lastTickAt) / this.config.tickMs), CATCH_UP_TICKS_MAX);
    if (due <= 0) return;
    if (due >= this.config.electionTicks) {
      // This process was stopped or starved for an election timeout or more:
      // nobody could renew a lease with it meanwhile.
      this.#lessor.extendAll();
      this.#log.warn('the event loop stalled; lease deadlines extended', { stalledMs: Math.round(now - this.#lastTickAt) });
    }
    this.#lastTickAt += due * this.config.tickMs;
    if (now - this.#lastTickAt > this.config.tickMs * CATCH_UP_TICKS_MAX) this.#lastTickAt = now;
    for (let i = 0; i < due; i++) this.#raw.tick();
    this.#refreshPeerMetrics();
    this.#scheduleReady();
    if (now - this.#lastLeaseCheckAt >= LEASE_CHECK_INTERVAL_MS) {
      this.#lastLeaseCheckAt = now;
      this.#revokeExpiredLeases();
      const watches = this.#watchHub.stats();
      this.metrics.watchStreams.set(watches.streams);
      this.metrics.watchers.set({ state: 'synced' }, watches.watchers - watches.unsynced);
      this.metrics.watchers.set({ state: 'unsynced' }, watches.unsynced);
    }
  }

  /**
   * Proposes revokes for expired leases, but only after a ReadIndex round
   * confirmed that this member still leads *now*: a leader that was paused
   * and has been replaced must find out before it acts (the round fails
   * once it hears the higher term). Bounded per check.
   */
  #revokeExpiredLeases(): void {
    if (this.#revoking || this.#role !== Role.Leader || !this.#lessor.primary || this.#stopping) return;
    const expired = this.#lessor.expired(LEASE_REVOKES_PER_CHECK);
    if (expired.length === 0) return;
    this.#revoking = true;
    void (async () => {
      try {
        await this.#readBarrier(this.config.requestTimeoutMs);
        const still = expired.filter((id) => this.#lessor.isExpired(id));
        if (still.length > 0) this.#log.info('revoking expired leases', { count: still.length });
        await Promise.all(
          still.map((id) =>
            this.propose({ type: 'leaseRevoke', request: { id } }).then(
              () => this.metrics.leasesExpired.inc(),
              (error: unknown) => {
                if (error instanceof LeaseNotFoundError) this.#lessor.revoked(id);
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
    try {
      this.#raw.step(message);
    } catch (error) {
      if (RaftError.is(error)) return; // a malformed or misdirected message: drop it
      throw error;
    }
    this.#scheduleReady();
  }

  /** Coalesces: everything that arrives in one event-loop turn shares one Ready, hence one fsync. */
  #scheduleReady(): void {
    if (this.#readyScheduled || this.#stopped) return;
    this.#readyScheduled = true;
    setImmediate(() => {
      this.#readyScheduled = false;
      try {
        this.#processReady();
      } catch (error) {
        this.#fail(error as Error);
      }
    });
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#log.error('member failed; stopping', { error: error.message, code: (error as { code?: string }).code });
    void this.stop().finally(() => this.#onFatal(error));
  }

  #processReady(): void {
    for (let round = 0; round < READY_ROUNDS_MAX && !this.#stopped && this.#raw.hasReady(); round++) {
      this.#handle(this.#raw.ready());
    }
    if (this.#raw.hasReady()) this.#scheduleReady();
  }

  #handle(ready: Ready): void {
    // 1. Persist: snapshot, entries, hard state, with one fsync when needed.
    const started = performance.now();
    this.#storage.save(
      {
        entries: ready.entries,
        ...(ready.hardState ? { hardState: ready.hardState } : {}),
        ...(ready.snapshot ? { snapshot: ready.snapshot } : {}),
      },
      ready.mustSync,
    );
    if (ready.mustSync) this.metrics.walFsyncSeconds.observe((performance.now() - started) / 1000);
    if (ready.snapshot) this.#memory.applySnapshot(ready.snapshot);
    this.#memory.append(ready.entries);
    if (ready.hardState) {
      this.#memory.setHardState(ready.hardState);
      this.#term = ready.hardState.term;
      this.#commit = ready.hardState.commit;
    }
    if (ready.softState) this.#onSoftState(ready.softState.leader, ready.softState.role);
    // 2. Send.
    for (const message of ready.messages) this.#transport.send(message);
    // 3. Apply.
    if (ready.snapshot) {
      // The storage layer's snapshot-*-install failpoints bracket persisting it (step 1).
      this.#store.restore(ready.snapshot.data);
      this.#watchHub.onRestore();
      this.#lessor.reset(this.#store.leases());
      this.#lastSnapshotIndex = ready.snapshot.metadata.index;
      this.#log.info('installed a snapshot from the leader', { index: ready.snapshot.metadata.index });
    }
    if (ready.committedEntries.length > 0) {
      const applyStarted = performance.now();
      for (const entry of ready.committedEntries) this.#apply(entry);
      this.metrics.applySeconds.observe((performance.now() - applyStarted) / 1000);
    }
    // 4. Reads that became safe.
    for (const state of ready.readStates) {
      const pending = this.#pendingReads.get(contextKey(state.context));
      if (pending) pending.index = state.index;
    }
    this.#answerReads();
    this.#raw.advance(ready);
    this.metrics.appliedIndex.set(this.#store.appliedIndex);
    this.metrics.commitIndex.set(this.#commit);
    this.metrics.term.set(this.#term);
    this.metrics.dbSizeBytes.set(this.#store.usedBytes);
    this.#observeQuota();
    this.#maybeSnapshot();
  }

  #onSoftState(leader: NodeId, role: string): void {
    if (leader !== this.#leader) {
      if (leader !== NONE) this.metrics.leaderChanges.inc();
      this.#log.info('leader changed', { leader: leader || null, role, term: this.#raw.status().hardState.term });
      this.#failInFlight();
    }
    if (role === Role.Leader && this.#role !== Role.Leader) this.#lessor.promote(this.#store.leases());
    if (role !== Role.Leader && this.#role === Role.Leader) this.#lessor.demote();
    this.#leader = leader;
    this.#role = role;
    this.metrics.hasLeader.set(leader === NONE ? 0 : 1);
    this.metrics.isLeader.set(role === Role.Leader ? 1 : 0);
  }

  /**
   * Requests waiting on the previous leader: forwarded proposals and read
   * index requests sent to it may be lost with it. Fail them now (as etcd's
   * "leader changed") rather than at their deadline; a write's outcome is
   * unknown either way.
   */
  #failInFlight(): void {
    for (const [id, pending] of this.#pendingWrites) {
      clearTimeout(pending.timer);
      this.metrics.proposalsFailed.inc();
      pending.reject(new LeaderChangedError());
      this.#pendingWrites.delete(id);
    }
    for (const [key, pending] of this.#pendingReads) {
      clearTimeout(pending.timer);
      pending.reject(new LeaderChangedError());
      this.#pendingReads.delete(key);
    }
    this.metrics.proposalsPending.set(0);
  }

  #apply(entry: Entry): void {
    if (entry.type !== EntryType.Normal || entry.data.length === 0) {
      this.#store.markApplied(entry.index);
      return;
    }
    const envelope = decodeEnvelope(entry.data);
    failpoint('apply-before');
    const result = this.#store.apply(entry.index, envelope?.command ?? entry.data);
    failpoint('apply-after');
    if (result.status === 'applied') {
      if (result.response.type === 'leaseGrant') this.#lessor.granted(result.response.response.id, result.response.response.ttlSeconds);
      else if (result.response.type === 'leaseRevoke') this.#lessor.revoked(result.response.response.id);
    }
    if (!envelope) return;
    const pending = this.#pendingWrites.get(envelope.requestId);
    if (!pending) return;
    this.#pendingWrites.delete(envelope.requestId);
    clearTimeout(pending.timer);
    this.metrics.proposalsPending.set(this.#pendingWrites.size);
    if (result.status === 'applied') {
      this.metrics.proposalsCommitted.inc();
      pending.resolve(result.response);
    } else if (result.status === 'rejected') {
      this.metrics.proposalsFailed.inc();
      if (result.error.code === 'KEEL_STORE_NO_SPACE') this.#raiseNoSpaceAlarm();
      pending.reject(result.error);
    }
  }

  #answerReads(): void {
    const applied = this.#store.appliedIndex;
    for (const [key, pending] of this.#pendingReads) {
      if (pending.index === undefined || pending.index > applied) continue;
      this.#pendingReads.delete(key);
      clearTimeout(pending.timer);
      pending.resolve();
    }
  }

  #maybeSnapshot(): void {
    if (this.#store.appliedIndex - this.#lastSnapshotIndex < this.config.snapshotEntries) return;
    this.#saveSnapshot();
    this.#releaseLog();
  }

  /** Saves a snapshot of the applied state (the caller checked that it is newer than the last one). */
  #saveSnapshot(): void {
    const applied = this.#store.appliedIndex;
    const started = performance.now();
    const snapshot = this.#memory.createSnapshot(applied, this.#raw.confStateAt(applied), this.#store.snapshot());
    this.#storage.saveSnapshot(snapshot);
    this.#lastSnapshotIndex = applied;
    this.metrics.snapshotSeconds.observe((performance.now() - started) / 1000);
    this.#log.info('snapshot saved', { index: applied, seconds: (performance.now() - started) / 1000 });
  }

  /** Drops log entries the newest snapshot covers, keeping snapshotCatchUpEntries for slightly slow followers. */
  #releaseLog(): void {
    const compactTo = this.#lastSnapshotIndex - this.config.snapshotCatchUpEntries;
    if (compactTo > this.#memory.firstIndex()) {
      this.#memory.compact(compactTo);
      this.#storage.releaseTo(compactTo); // brackets itself with the compaction-* failpoints
    }
  }

  #refreshPeerMetrics(): void {
    for (const [peer, stats] of this.#transport.stats()) {
      this.metrics.addPeerBytes(peer, stats.sentBytes, stats.receivedBytes, this.#peerBytes);
    }
  }

  // ------------------------------------------------------------------ requests

  /** Proposes a write and resolves with its response once this member has applied it. */
  async propose(command: Command, timeoutMs = this.config.requestTimeoutMs): Promise<CommandResponse> {
    this.#checkAccepting();
    validateCommand(command);
    if (command.type === 'txn') checkTxnIntervals(command.request);
    if (this.#pendingWrites.size + this.#pendingReads.size >= this.config.pendingRequestsMax) {
      this.metrics.proposalsFailed.inc();
      throw new OverloadedError('too many requests pending on this member', 1);
    }
    const requestId = `${this.#requestTag}.${++this.#requestSequence}`;
    try {
      this.#raw.propose(encodeEnvelope(requestId, encodeCommand(command)));
    } catch (error) {
      this.metrics.proposalsFailed.inc();
      throw this.#translate(error);
    }
    this.#scheduleReady();
    return new Promise<CommandResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingWrites.delete(requestId);
        this.metrics.proposalsFailed.inc();
        this.metrics.proposalsPending.set(this.#pendingWrites.size);
        reject(new RequestTimeoutError(timeoutMs));
      }, timeoutMs);
      this.#pendingWrites.set(requestId, { resolve, reject, timer });
      this.metrics.proposalsPending.set(this.#pendingWrites.size);
    });
  }

  /**
   * A range read. Linearizable by default: a fresh ReadIndex round for every
   * request (never reused across retries), then the read runs once this
   * member has applied that index. Serializable reads use local state.
   */
  async range(request: RangeRequest, serializable: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<RangeResponse> {
    this.#checkAccepting();
    validateRange(request);
    if (!serializable) await this.#readBarrier(timeoutMs);
    return this.#store.range(request);
  }

  /** A read-only txn is served like a read; anything else is proposed. */
  async txn(request: TxnRequest, serializable: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<CommandResponse> {
    if (isReadOnlyTxn(request)) {
      this.#checkAccepting();
      if (!serializable) await this.#readBarrier(timeoutMs);
      return { type: 'txn', response: this.#store.readTxn(request) };
    }
    return this.propose({ type: 'txn', request }, timeoutMs);
  }

  async #readBarrier(timeoutMs: number): Promise<void> {
    if (this.#leader === NONE) throw new NoLeaderError();
    if (this.#pendingWrites.size + this.#pendingReads.size >= this.config.pendingRequestsMax) {
      throw new OverloadedError('too many requests pending on this member', 1);
    }
    const context = randomBytes(12);
    const key = contextKey(context);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingReads.delete(key);
        reject(new RequestTimeoutError(timeoutMs));
      }, timeoutMs);
      this.#pendingReads.set(key, { resolve, reject, timer });
    });
    this.#raw.readIndex(context);
    this.#scheduleReady();
    return done;
  }

  #checkAccepting(): void {
    if (this.#stopping || this.#stopped) throw new StoppingError();
  }

  #translate(error: unknown): unknown {
    if (!RaftError.is(error)) return error;
    if (error.code === 'KEEL_RAFT_NOT_LEADER') {
      const leader = (error as RaftError & { leader: NodeId }).leader;
      return new NotLeaderError(leader, this.config.clientUrls[leader]);
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
  async leaseGrant(ttlSeconds: number, id: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<LeaseGrantResponse> {
    if (ttlSeconds > LEASE_TTL_MAX_SECONDS) throw new LeaseTtlTooLargeError();
    const ttl = Math.max(ttlSeconds, this.minLeaseTtlSeconds);
    const response = await this.propose({ type: 'leaseGrant', request: { id: id === 0n ? leaseIdOf() : id, ttlSeconds: ttl } }, timeoutMs);
    return (response as Extract<CommandResponse, { type: 'leaseGrant' }>).response;
  }

  async leaseRevoke(id: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<LeaseRevokeResponse> {
    const response = await this.propose({ type: 'leaseRevoke', request: { id } }, timeoutMs);
    return (response as Extract<CommandResponse, { type: 'leaseRevoke' }>).response;
  }

  /**
   * Renews a lease: answered by the leader's deadlines, so a follower
   * forwards it (once: `forwarded` requests are refused rather than passed on).
   * Returns the TTL, or 0 when the lease is unknown or expired.
   */
  async leaseRenew(id: bigint, forwarded: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<number> {
    this.#checkAccepting();
    if (this.#role === Role.Leader) return this.#lessor.renew(id);
    return forwardKeepAlive(this.#leaderUrlFor(forwarded), id, timeoutMs);
  }

  /** etcd's LeaseTimeToLive, from the leader's deadlines (TTL -1 when unknown or expired). */
  async leaseTimeToLive(id: bigint, keys: boolean, forwarded: boolean, timeoutMs = this.config.requestTimeoutMs): Promise<LeaseTimeToLive> {
    this.#checkAccepting();
    if (this.#role !== Role.Leader) return forwardTimeToLive(this.#leaderUrlFor(forwarded), id, keys, timeoutMs);
    const lease = this.#store.leases().find((candidate) => candidate.id === id);
    if (!lease) return { id, ttlSeconds: -1, grantedTtlSeconds: 0, keys: [] };
    return { id, ttlSeconds: this.#lessor.remainingSeconds(id), grantedTtlSeconds: lease.ttlSeconds, keys: keys ? this.#store.leaseKeys(id) : [] };
  }

  /** The leases this member has applied, by id. */
  leaseList(): bigint[] {
    return this.#store.leases().map((lease) => lease.id);
  }

  #leaderUrlFor(forwarded: boolean): string {
    if (this.#leader === NONE) throw new NoLeaderError();
    const url = this.config.clientUrls[this.#leader];
    if (forwarded || !url) throw new NotLeaderError(this.#leader, url);
    return url;
  }

  // ------------------------------------------------------------------ watches

  /** The member's watch streams (served from this member's applied state). */
  get watchHub(): WatchHub {
    return this.#watchHub;
  }

  /** Runs `hook` once when the member starts stopping (long-lived streams end themselves); returns an unregister function. */
  onStop(hook: () => void): () => void {
    this.#stopHooks.add(hook);
    return () => this.#stopHooks.delete(hook);
  }

  // ------------------------------------------------------------------ maintenance (etcd's Maintenance service)

  /** The active alarms after a read barrier (etcd serves Alarm GET through raft: linearizable). */
  async alarmList(timeoutMs = this.config.requestTimeoutMs): Promise<AlarmResponse> {
    this.#checkAccepting();
    await this.#readBarrier(timeoutMs);
    return { header: { revision: this.#store.revision }, alarms: this.#store.alarms() };
  }

  /** Activates or deactivates an alarm through the log. */
  async alarm(request: AlarmRequest, timeoutMs = this.config.requestTimeoutMs): Promise<AlarmResponse> {
    const response = await this.propose({ type: 'alarm', request }, timeoutMs);
    if (response.type !== 'alarm') throw new Error(`alarm answered with ${response.type}`);
    return response.response;
  }

  /** Active alarms in this member's applied state, without a barrier (Status reports them). */
  activeAlarms(): AlarmMember[] {
    return this.#store.alarms();
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
    return { diskBytes: raftDiskBytes(this.config.dataDir), inUseBytes: this.#store.usedBytes, quotaBytes: this.config.quotaBytes };
  }

  /**
   * etcd's Defragment rewrites its bolt file to give freed pages back to the
   * file system. Keel's key-value state lives in memory and compaction frees
   * it at once; what can still be reclaimed is the raft log, in memory and
   * on disk. Defragment therefore:
   *   1. saves a snapshot of the applied state now (skipped when the newest
   *      snapshot is already at the applied index);
   *   2. drops the log entries that snapshot covers from memory, keeping
   *      snapshotCatchUpEntries for slow followers (as periodic snapshots do);
   *   3. deletes WAL segments wholly behind both that point and the oldest
   *      retained snapshot, and snapshot files beyond the retention
   *      (FileStorage.releaseTo: the log is kept back to the older retained
   *      snapshot so a damaged newest one can fall back).
   * It never blocks serving for longer than a periodic snapshot does: each
   * step is one synchronous piece of work of at most that size, and the
   * event loop runs in between (setImmediate), so ticks, raft messages and
   * requests interleave. Concurrent calls share one run.
   */
  defragment(): Promise<DefragmentResult> {
    this.#checkAccepting();
    this.#defragmenting ??= this.#defragmentSteps().finally(() => {
      this.#defragmenting = undefined;
    });
    return this.#defragmenting;
  }

  async #defragmentSteps(): Promise<DefragmentResult> {
    const diskBytesBefore = raftDiskBytes(this.config.dataDir);
    await yieldToLoop();
    if (this.#stopped) throw new InterruptedError();
    if (this.#store.appliedIndex > this.#lastSnapshotIndex) this.#saveSnapshot();
    await yieldToLoop();
    if (this.#stopped) throw new InterruptedError();
    this.#releaseLog();
    await yieldToLoop();
    const diskBytesAfter = raftDiskBytes(this.config.dataDir);
    this.#log.info('defragmented', { snapshotIndex: this.#lastSnapshotIndex, diskBytesBefore, diskBytesAfter });
    return { snapshotIndex: this.#lastSnapshotIndex, diskBytesBefore, diskBytesAfter };
  }

  /**
   * etcd's MoveLeader: only the leader accepts it; the target must be a
   * voter (by the uint64 id memberList reports); it resolves once the
   * target leads, or fails when the deadline passes first. Moving to the
   * leader itself succeeds at once, as in etcd.
   */
  async moveLeader(targetMemberId: bigint, timeoutMs = this.config.requestTimeoutMs): Promise<void> {
    this.#checkAccepting();
    if (this.#role !== Role.Leader) throw new TransferNotLeaderError();
    const target = this.#raw.status().confState.voters.find((id) => this.memberIdOf(id) === targetMemberId);
    if (target === undefined) throw new BadLeaderTransfereeError(targetMemberId);
    if (target === this.config.id) return;
    this.#log.info('transferring leadership', { to: target });
    try {
      this.#raw.transferLeader(target);
    } catch (error) {
      throw RaftError.is(error) ? new BadLeaderTransfereeError(targetMemberId) : error;
    }
    this.#scheduleReady();
    const deadline = performance.now() + timeoutMs;
    // Bounded by the deadline; the raft core aborts a transfer that takes an election timeout, so this retries it.
    while (this.#leader !== target) {
      if (this.#stopped) throw new InterruptedError();
      if (performance.now() >= deadline) throw new LeaderTransferTimeoutError(timeoutMs);
      await delay(this.config.tickMs);
      if (this.#role === Role.Leader && this.#raw.status().leadTransferee === NONE) this.#retryTransfer(target);
    }
  }

  #retryTransfer(target: NodeId): void {
    try {
      this.#raw.transferLeader(target);
      this.#scheduleReady();
    } catch (error) {
      if (!RaftError.is(error)) throw error; // membership changed under us: the deadline decides
    }
  }

  #observeQuota(): void {
    const { ratio, crossed } = this.#quotaWatch.observe(this.#store.usedBytes, this.#store.quotaBytes);
    this.metrics.quotaUsedRatio.set(ratio);
    this.metrics.alarmsActive.set({ alarm: 'NOSPACE' }, this.#store.alarms('NOSPACE').length);
    if (crossed) {
      this.#log.warn('space quota nearly used: compact (or raise --quota-backend-bytes) before writes fail with NOSPACE', {
        usedBytes: this.#store.usedBytes,
        quotaBytes: this.#store.quotaBytes,
        thresholdRatio: QUOTA_WARN_RATIO,
      });
    }
  }

  /**
   * A write this member proposed was refused for space: raise NOSPACE for
   * this member through the log, as etcd's quota check does, so every member
   * refuses growing writes until an operator disarms it.
   */
  #raiseNoSpaceAlarm(): void {
    if (this.#raisingNoSpace || this.#stopping || this.#store.alarms('NOSPACE').some((alarm) => alarm.memberId === this.memberId)) return;
    this.#raisingNoSpace = true;
    this.#log.warn('space quota exceeded: raising a NOSPACE alarm', { usedBytes: this.#store.usedBytes, quotaBytes: this.#store.quotaBytes });
    this.alarm({ action: 'activate', memberId: this.memberId, alarm: 'NOSPACE' })
      .catch((error: unknown) => this.#log.warn('could not raise the NOSPACE alarm', { error: (error as Error).message }))
      .finally(() => {
        this.#raisingNoSpace = false;
      });
  }

  #startAutoCompaction(): void {
    const policy = autoCompactionPolicy(this.config.autoCompactionMode, this.config.autoCompactionRetention, this.config.autoCompactionRevisionCheckMs);
    if (!policy) return;
    this.#stopAutoCompaction = startAutoCompaction(policy, {
      isLeader: () => this.#role === Role.Leader && !this.#stopping,
      revision: () => this.#store.revision,
      compact: async (revision) => {
        await this.propose({ type: 'compact', request: { revision, physical: false } });
      },
      now: () => performance.now(),
      log: this.#log,
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

  /** Ready: a leader is known and this member has applied what it knows is committed. */
  isReady(): boolean {
    return this.live() && !this.#stopping && this.#leader !== NONE && this.#store.appliedIndex >= this.#commit;
  }

  status(): MemberStatus {
    const status = this.#raw.status();
    return {
      id: this.config.id,
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

  /** HashKV: a hash of the key-value state up to `revision` (0 = current), to compare members. */
  hash(revision = 0): { hash: number; revision: number; compactRevision: number } {
    return this.#store.hash(revision);
  }

  memberIdOf(id: NodeId): bigint {
    return memberIdOf(this.config.clusterName, id);
  }

  /** Voters then learners, from this member's configuration, with the URLs the config names. */
  memberList(): MemberInfo[] {
    const status = this.status();
    const members = [...status.voters.map((id) => ({ id, isLearner: false })), ...status.learners.map((id) => ({ id, isLearner: true }))];
    return members.map(({ id, isLearner }) => {
      const peer = this.config.peers[id];
      const client = this.config.clientUrls[id];
      return { id, memberId: this.memberIdOf(id), peerUrls: peer ? [`http://${peer}`] : [], clientUrls: client ? [client] : [], isLearner };
    });
  }
}

function contextKey(context: Uint8Array): string {
  return Buffer.from(context.buffer, context.byteOffset, context.byteLength).toString('base64');
}

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/** What Defragment did (for logs and tests). */
export interface DefragmentResult {
  readonly snapshotIndex: number;
  readonly diskBytesBefore: number;
  readonly diskBytesAfter: number;
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
