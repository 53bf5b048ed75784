import type { RaftConfig } from '../src/raft/config.js';
import { RaftError } from '../src/raft/errors.js';
import type { Raft } from '../src/raft/raft.js';
import type { SeededRandom } from '../src/raft/random.js';
import type { RawNode } from '../src/raft/raw-node.js';
import type { MemoryStorage } from '../src/raft/storage.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Snapshot } from '../src/raft/types.js';
import { NONE, Role } from '../src/raft/types.js';
import { MemoryRaftStorage } from '../src/storage/memory-raft-storage.js';
import type { MemoryDisk } from '../src/storage/memory-raft-storage.js';
import { inMemoryData } from '../src/storage/snapshot-files.js';
import { RaftLoop } from '../src/node/raft-loop.js';
import type { ApplyUnderWay, ReadyHost, ReadyWriter } from '../src/node/raft-loop.js';
import { encodeCompaction, encodeLeaseGrant, encodeLeaseRevoke, encodeSweepClear, encodeSweepFill, encodeWrite, readRegister } from './kv.js';
import { Lessor } from '../src/node/lessor.js';
import { Applier, type EntryInSteps, entryScalesWithData } from '../src/node/apply.js';
import { encodeSnapshot } from '../src/store/snapshot.js';
import { StoreStateMachine } from '../src/store/state-machine.js';
import type { StoreOptions } from '../src/store/state-machine.js';
import type { WriteCommand } from './kv.js';
import type { SimOptions } from './options.js';

/** Log positions of a compaction under way dropped per applied batch (see applyCommitted). */
const SIM_COMPACT_STEP_RECORDS = 4;

/** What a node tells the world it lives in. */
export interface NodeHost {
  send(from: NodeId, message: Message): void;
  /** Every persisted entry, with the term of the entry before it (log matching). */
  persisted(node: NodeId, entry: Entry, previousTerm: number): void;
  /** Every applied entry, in order. */
  applied(node: NodeId, entry: Entry): void;
  becameLeader(node: SimNode, term: number): void;
  writeDone(requestId: string, index: number): void;
  /** A write was refused by the store (NOSPACE): it never took effect. */
  writeRefused(requestId: string): void;
  /** What the store did with an applied command (took it, or refused it), on every member. */
  commandOutcome(node: NodeId, entry: Entry, taken: boolean): void;
  readDone(readId: string, observed: number, value: string | undefined): void;
  /** Simulated time in ms: every member's clock (the lessor's too) reads it. */
  nowMs(): number;
  confChangeApplied(node: NodeId, change: ConfChange): void;
  /**
   * The disk finishes `node`'s outstanding write later (a simulated delay):
   * call `complete` then, unless the node crashed meanwhile (the write is
   * lost, unless the kernel happened to write it back). A paused node
   * completes it on resume.
   */
  persistLater(node: NodeId, complete: () => void): void;
  /** Runs `slice` on a later event (a member's next turn), unless `node` crashed meanwhile; a paused node runs it on resume. */
  restoreLater(node: NodeId, slice: () => void): void;
  /** Runs `step` of an entry applied in steps on a later event, as restoreLater does a restore's slice. */
  applyLater(node: NodeId, step: () => void): void;
}

export type RaftFactory = (config: RaftConfig) => Raft;
/** Builds a member's store; tests plant a store that honours the quota differently through it. */
export type StoreFactory = (node: NodeId, options: StoreOptions) => StoreStateMachine;
/** Builds a member's lessor on its clock; tests plant one whose clock runs fast through it. */
export type LessorFactory = (node: NodeId, now: () => number) => Lessor;

/** Broken variants planted through the members' seams (tests check the simulator catches them); the shipping parts by default. */
export interface Plants {
  readonly raft?: RaftFactory;
  readonly store?: StoreFactory;
  readonly lessor?: LessorFactory;
  /** Keep-alives answered from the leader's deadlines at once, without the ReadIndex round (keel before etcd-io/etcd#15247's fix). */
  readonly renewWithoutRound?: boolean;
}

interface PendingWrite {
  readonly key: string;
}

interface PendingRead {
  readonly readId: string;
  readonly key: string;
  index?: number;
}

/** The leader checks for expired leases every this many ticks (the member: every 250 ms, at 100 ms ticks here 50 ms). */
const LEASE_CHECK_TICKS = 5;
/** Revokes proposed per check (the member's LEASE_REVOKES_PER_CHECK). */
const LEASE_REVOKES_PER_CHECK = 250;
/** A lease-confirming ReadIndex round not answered in this long is given up (the member's request timeout). */
const LEASE_ROUND_TIMEOUT_MS = 1_000;

/** A keep-alive waiting for the ReadIndex round the leader runs before it renews (LeaseService.renew). */
interface Renewal {
  readonly id: bigint;
  readonly startedAtMs: number;
  readonly reply: (ttl: number) => void;
  index?: number;
}

/** The ReadIndex round a leader runs before it revokes expired leases (LeaseService.revokeExpired). */
interface LeaseRound {
  readonly context: string;
  readonly ids: readonly bigint[];
  readonly startedAtMs: number;
  index?: number;
}

/** Bound on Ready rounds per input: each round makes progress, so this is never reached in a sound run. */
const READY_ROUNDS_MAX = 1_000;

/**
 * One simulated member: the member's own raft loop (src/node/raft-loop.ts:
 * the core, its log and the order a Ready is carried out in) on a simulated
 * disk, with a register state machine. The loop's turns run inline, so a
 * run is one deterministic sequence of events.
 */
export class SimNode {
  loop!: RaftLoop;
  /** The durable store on the simulated disk: the same replay and recovery code as the file-backed one. */
  durable!: MemoryRaftStorage;
  /** The shipping MVCC store, applied through the shipping applier (src/node/apply.ts). */
  store!: StoreStateMachine;
  #applier!: Applier<PendingWrite>;
  #pendingReads = new Map<string, PendingRead>();
  #pendingWrites = new Map<string, PendingWrite>();
  #readSequence = 0;
  #compactions = 0;
  #sweeps = 0;
  /** The leader's lease deadlines: the member's own lessor, on simulated time. */
  lessor!: Lessor;
  #role: Role = Role.Follower;
  #leader: NodeId = NONE;
  #ticks = 0;
  #leaseRound: LeaseRound | undefined;
  #leaseRounds = 0;
  #revokes = 0;
  /** Keep-alives waiting for their round, by ReadIndex context. */
  #renewals = new Map<string, Renewal>();
  /** What the store did with the command being applied: set by the applier's hooks. */
  #taken: boolean | undefined;
  running = false;
  /** Paused (like SIGSTOP): keeps memory, processes nothing until resumed. */
  paused = false;
  /** Removed from the cluster and shut down for good. */
  decommissioned = false;

  constructor(
    readonly id: NodeId,
    readonly disk: MemoryDisk,
    readonly options: SimOptions,
    readonly random: SeededRandom,
    readonly host: NodeHost,
    readonly plants: Plants = {},
  ) {}

  get raw(): RawNode {
    return this.loop.raw;
  }

  /** The core's view of the log (in memory, rebuilt from disk at start). */
  get storage(): MemoryStorage {
    return this.loop.memory;
  }

  /** Starts (or restarts after a crash) from what the disk holds. */
  start(): void {
    this.durable = new MemoryRaftStorage(this.disk, { retainSnapshots: 2 });
    const recovered = this.durable.load();
    // Compactions drop their records in steps, as in a member (#apply steps them): the members then hold
    // compactions under way at different points while they go on applying, and every check must still hold.
    const storeOptions = { compactInSteps: true, ...(this.options.quotaBytes > 0 ? { quotaBytes: this.options.quotaBytes } : {}) };
    this.store = this.plants.store ? this.plants.store(this.id, storeOptions) : new StoreStateMachine(storeOptions);
    if (recovered.snapshot.metadata.index > 0) this.store.restore(inMemoryData(recovered.snapshot.data));
    const now = (): number => this.host.nowMs();
    this.lessor = this.plants.lessor ? this.plants.lessor(this.id, now) : new Lessor(now);
    this.#role = Role.Follower;
    this.#leader = NONE;
    this.#leaseRound = undefined;
    this.#renewals = new Map();
    this.#applier = this.#newApplier();
    this.loop = new RaftLoop({
      raft: {
        id: this.id,
        random: this.random,
        electionTicks: this.options.electionTicks,
        heartbeatTicks: 1,
        checkQuorum: this.options.checkQuorum,
        preVote: this.options.preVote,
        readOnlyOption: this.options.leaseReads ? 'lease-based' : 'safe',
        batchAppends: this.options.batchAppends,
        maxSizePerMessageBytes: 4096,
        maxInflightMessages: 16,
        learnerPromotionLagMax: 20,
        asyncStorageWrites: this.options.asyncStorageWrites,
      },
      recovered,
      storage: this.durable,
      send: (message) => this.host.send(this.id, message),
      defer: (turn) => turn(),
      write: this.options.asyncStorageWrites ? this.#writeLater() : this.#writeNow(),
      readyRoundsMax: READY_ROUNDS_MAX,
      ...(this.options.logCacheBytes >= 0 ? { logCacheBytes: this.options.logCacheBytes } : {}),
      ...(this.plants.raft ? { raftFactory: this.plants.raft } : {}),
      host: this.#readyHost(),
    });
    this.#pendingReads = new Map();
    this.#pendingWrites = new Map();
    this.running = true;
    this.paused = false;
  }

  /** Loses everything not on disk; the kernel may have written back the first `keepUnsyncedBatches` unsynced batches. */
  crash(keepUnsyncedBatches = 0): void {
    if (this.running) this.disk.crash(keepUnsyncedBatches);
    this.running = false;
    this.paused = false;
  }

  isLeader(): boolean {
    return this.running && this.raw.status().softState.role === Role.Leader;
  }

  tick(): void {
    this.loop.tick();
    if (this.options.leases && ++this.#ticks % LEASE_CHECK_TICKS === 0) this.#revokeExpired();
  }

  /** The process was stopped for an election timeout or more: nobody could renew a lease with it (keel-node's #onTimer). */
  stalled(): void {
    this.lessor.extendAll();
  }

  /** A client's lease grant (answered through writeDone, like a write). */
  grantLease(requestId: string, id: bigint, ttlSeconds: number): string | undefined {
    try {
      this.raw.propose(encodeLeaseGrant(requestId, id, ttlSeconds));
    } catch (error) {
      if (RaftError.is(error)) return error.code;
      throw error;
    }
    this.#pendingWrites.set(requestId, { key: '' });
    this.loop.schedule();
    return undefined;
  }

  /**
   * A keep-alive, answered as the member's LeaseService.renew does on the
   * leader: after a ReadIndex round (this member still leads and has applied
   * everything committed before), `reply` gets the TTL, or 0 when the lease is
   * unknown or expired. False: not taken here (not the leader). A round lost to
   * a leader change or its timeout is never answered: the member would retry
   * within the client's deadline, the client here sends its next keep-alive.
   */
  renewLease(id: bigint, reply: (ttl: number) => void): boolean {
    if (!this.isLeader()) return false;
    if (this.plants.renewWithoutRound) {
      const ttl = this.lessor.renew(id);
      if (ttl > 0 || !this.store.leases().some((lease) => lease.id === id)) reply(ttl);
      return true;
    }
    this.lessor.renew(id); // the deadline moves at arrival, as LeaseService.renew does
    const context = `renew#${this.id}.${this.#leaseRounds++}`;
    this.#renewals.set(context, { id, startedAtMs: this.host.nowMs(), reply });
    this.raw.readIndex(encoder.encode(context));
    this.loop.schedule();
    return true;
  }

  #renewalsConfirmed(): void {
    const now = this.host.nowMs();
    for (const [context, renewal] of this.#renewals) {
      if (now - renewal.startedAtMs > LEASE_ROUND_TIMEOUT_MS) {
        this.#renewals.delete(context);
        continue;
      }
      if (renewal.index === undefined || renewal.index > this.store.appliedIndex) continue;
      this.#renewals.delete(context);
      if (this.isLeader() && this.lessor.primary) renewal.reply(this.lessor.renew(renewal.id));
    }
  }

  receive(message: Message): void {
    this.loop.step(message);
  }

  /** A client write. Returns an error code if it was refused outright (never appended). */
  write(command: WriteCommand): string | undefined {
    try {
      this.raw.propose(encodeWrite(command));
    } catch (error) {
      if (RaftError.is(error)) return error.code;
      throw error;
    }
    this.#pendingWrites.set(command.requestId, { key: command.key });
    this.loop.schedule();
    return undefined;
  }

  /** Proposes a sweep's fill or clear (options.deleteStepKeys; fire and forget: nobody waits on it). */
  sweep(kind: 'fill' | 'clear'): void {
    const requestId = `sweep.${this.id}.${this.#sweeps++}`;
    try {
      this.raw.propose(kind === 'fill' ? encodeSweepFill(requestId) : encodeSweepClear(requestId));
    } catch (error) {
      if (!RaftError.is(error)) throw error;
    }
    this.loop.schedule();
  }

  /** Proposes a compaction up to this member's applied revision (fire and forget: nobody waits on it). */
  compact(): void {
    if (this.store.revision <= this.store.compactRevision) return;
    try {
      this.raw.propose(encodeCompaction(`compact.${this.id}.${this.#compactions++}`, this.store.revision));
    } catch (error) {
      if (!RaftError.is(error)) throw error;
    }
    this.loop.schedule();
  }

  read(readId: string, key: string): void {
    const context = encoder.encode(`${readId}#${this.#readSequence++}`);
    this.#pendingReads.set(contextString(context), { readId, key });
    this.raw.readIndex(context);
    this.loop.schedule();
  }

  proposeConfChange(change: ConfChange): boolean {
    try {
      this.raw.proposeConfChange(change);
    } catch (error) {
      if (RaftError.is(error)) return false;
      throw error;
    }
    this.loop.schedule();
    return true;
  }

  transferLeader(target: NodeId): void {
    try {
      this.raw.transferLeader(target);
    } catch (error) {
      if (!RaftError.is(error)) throw error;
    }
    this.loop.schedule();
  }

  reportSnapshot(to: NodeId, failed: boolean): void {
    this.raw.reportSnapshot(to, failed);
    this.loop.schedule();
  }

  reportUnreachable(to: NodeId): void {
    this.raw.reportUnreachable(to);
    this.loop.schedule();
  }

  /** The disk with synchronous writes: step 1 is durable when the write returns. */
  #writeNow(): ReadyWriter {
    return (batch, mustSync, done) => {
      this.durable.save(batch, mustSync);
      done();
    };
  }

  /**
   * The member's disk: the write goes to the page cache now and is synced
   * when the simulated disk says so; a crash before that may lose it (or
   * keep it: MemoryDisk.crash). Meanwhile the node keeps ticking and stepping.
   */
  #writeLater(): ReadyWriter {
    return (batch, mustSync, done) => {
      this.durable.save(batch, false);
      const running = this.durable;
      this.host.persistLater(this.id, () => {
        if (!this.running || this.durable !== running) return;
        if (mustSync) this.durable.save({ entries: [] }, true);
        done();
      });
    };
  }

  /** The simulator's part of each Ready; the loop carries out the order. */
  #readyHost(): ReadyHost {
    const becameLeader = (ready: Ready): void => {
      if (ready.softState) this.#onSoftState(ready.softState.leader, ready.softState.role);
      if (ready.softState?.role === Role.Leader) this.host.becameLeader(this, this.raw.status().hardState.term);
    };
    return {
      // With async writes the leader's appends leave before its own write; its log is checked as of the Ready (by the time the write completes it may have moved on).
      ...(this.options.asyncStorageWrites ? { taken: becameLeader } : { stored: becameLeader }),
      persisted: (ready) => {
        for (const entry of ready.entries) this.host.persisted(this.id, entry, this.#termBefore(entry, ready.entries, ready.snapshot));
      },
      installSnapshot: (snapshot, done) => {
        if (this.options.restoreStepWork === 0) {
          this.store.restore(inMemoryData(snapshot.data));
          this.lessor.reset(this.store.leases());
          done();
          return;
        }
        this.#restoreInSlices(snapshot, done);
      },
      applyCommitted: (entries) => {
        let underWay: ApplyUnderWay | undefined;
        for (let i = 0; i < entries.length && underWay === undefined; i++) {
          const steps = this.#apply(entries[i]!);
          if (steps !== undefined) underWay = this.#applyInSteps(entries[i]!, steps, entries.slice(i + 1));
        }
        // A few log positions per batch (a member walks 10,000 per turn): small, so compactions stay under way
        // across later applies, reads and snapshots; no random draw, so each seed's run stays its own.
        this.store.compactStep(SIM_COMPACT_STEP_RECORDS);
        return underWay;
      },
      applyMayStall: (entries) => entries.some(entryScalesWithData),
      readStates: (states) => {
        for (const state of states) {
          const pending = this.#pendingReads.get(contextString(state.context));
          if (pending) pending.index = state.index;
          if (this.#leaseRound?.context === contextString(state.context)) this.#leaseRound.index = state.index;
          const renewal = this.#renewals.get(contextString(state.context));
          if (renewal) renewal.index = state.index;
        }
        this.#serveReads();
        this.#leaseRoundConfirmed();
        this.#renewalsConfirmed();
      },
      advanced: () => this.#maybeSnapshot(),
      failed: (error) => {
        throw error; // an invariant violation or a bug: the run stops with it
      },
    };
  }

  /**
   * The member's sliced restore (restoreInSlices) on simulated time: the
   * store's SnapshotRestore, `restoreStepWork` units per event, the state
   * swapped in whole at the last step. A crash drops the remaining slices
   * with the store they were building (start() builds a new one from disk).
   */
  #restoreInSlices(snapshot: Snapshot, done: (error?: unknown) => void): void {
    const restore = this.store.beginRestore(inMemoryData(snapshot.data));
    this.#inSlices(
      (slice) => this.host.restoreLater(this.id, slice),
      () => restore.step(this.options.restoreStepWork),
      () => this.lessor.reset(this.store.leases()),
      done,
    );
  }

  /**
   * Runs `slice` on later events (`later`) until it returns true, then
   * `finish` and `done()`; a slice that throws ends it with `done(error)`.
   * A crash since (a new store) drops the remaining slices with the store
   * they worked on.
   */
  #inSlices(later: (slice: () => void) => void, slice: () => boolean, finish: () => void, done: (error?: unknown) => void): void {
    const store = this.store;
    const run = (): void => {
      if (!this.running || this.store !== store) return;
      let finished: boolean;
      try {
        finished = slice();
      } catch (error) {
        done(error);
        return;
      }
      if (!finished) {
        later(run);
        return;
      }
      finish();
      done();
    };
    later(run);
  }

  /** Term of the entry before `entry`, from this Ready's entries or the log as stored before them. */
  #termBefore(entry: Entry, batch: readonly Entry[], snapshot: Snapshot | undefined): number {
    const previous = entry.index - 1;
    const inBatch = batch.find((candidate) => candidate.index === previous);
    if (inBatch) return inBatch.term;
    if (previous === 0) return 0;
    if (snapshot && snapshot.metadata.index === previous) return snapshot.metadata.term;
    try {
      return this.storage.term(previous);
    } catch {
      return -1; // compacted away: unknown, the checker skips the link check
    }
  }

  /** Applies `entry`; a DeleteRange of more than options.deleteStepKeys keys is left under way (the member's #applyInSteps). */
  #apply(entry: Entry): EntryInSteps | undefined {
    this.host.applied(this.id, entry);
    this.#taken = undefined;
    const steps = this.#applier.apply(entry, this.options.deleteStepKeys > 0 ? this.options.deleteStepKeys : Number.POSITIVE_INFINITY);
    if (steps === undefined && this.#taken !== undefined) this.host.commandOutcome(this.id, entry, this.#taken);
    return steps;
  }

  /**
   * The member's #applyInSteps on simulated time: options.deleteStepKeys
   * keys an event, the loop holding the rest meanwhile. A crash drops the
   * remaining steps with the store they were applied to.
   */
  #applyInSteps(entry: Entry, steps: EntryInSteps, rest: readonly Entry[]): ApplyUnderWay {
    return {
      rest,
      whenApplied: (done) =>
        this.#inSlices(
          (step) => this.host.applyLater(this.id, step),
          () => {
            this.#taken = undefined;
            return steps.step(this.options.deleteStepKeys);
          },
          () => {
            if (this.#taken !== undefined) this.host.commandOutcome(this.id, entry, this.#taken);
          },
          done,
        ),
    };
  }

  /** The member's applier over this node's store; the simulator's writes are answered synchronously, in apply order. */
  #newApplier(): Applier<PendingWrite> {
    return new Applier<PendingWrite>({
      store: () => this.store,
      pending: {
        note: (id) => this.#pendingWrites.get(id),
        trigger: (id) => {
          if (!this.#pendingWrites.delete(id)) return false;
          this.host.writeDone(id, this.store.appliedIndex);
          return true;
        },
        fail: (id, error) => {
          // Only the quota may refuse a simulated put (no auth, no leases): anything else is a bug.
          if ((error as { code?: string }).code !== 'KEEL_STORE_NO_SPACE') throw new Error(`the store refused write ${id}: ${(error as Error).message}`);
          if (!this.#pendingWrites.delete(id)) return false;
          this.host.writeRefused(id);
          return true;
        },
      },
      confChange: (change) => this.host.confChangeApplied(this.id, change),
      membershipCommand: () => {},
      commandApplied: (response) => {
        this.#taken = true;
        // As keel-node's commandApplied: the lessor follows the replicated leases.
        if (response.type === 'leaseGrant') this.lessor.granted(response.response.id, response.response.ttlSeconds);
        else if (response.type === 'leaseRevoke') this.lessor.revoked(response.response.id);
      },
      commandRejected: () => {
        this.#taken = false;
      },
    });
  }

  /** keel-node's #onSoftState: the lessor is primary exactly while this member leads; a leader change fails the lease round. */
  #onSoftState(leader: NodeId, role: Role): void {
    if (leader !== this.#leader) {
      // As Reads.leaderChanged: the rounds sent to the old leader fail (the member's keep-alive then retries; the client here sends its next one).
      this.#leaseRound = undefined;
      this.#renewals.clear();
    }
    if (role === Role.Leader && this.#role !== Role.Leader) this.lessor.promote(this.store.leases());
    if (role !== Role.Leader && this.#role === Role.Leader) this.lessor.demote();
    this.#leader = leader;
    this.#role = role;
  }

  /**
   * LeaseService.revokeExpired: the leader confirms with a ReadIndex round
   * that it still leads before it proposes revokes for what expired.
   */
  #revokeExpired(): void {
    const now = this.host.nowMs();
    if (this.#leaseRound && now - this.#leaseRound.startedAtMs > LEASE_ROUND_TIMEOUT_MS) this.#leaseRound = undefined;
    if (this.#leaseRound || !this.isLeader() || !this.lessor.primary) return;
    const ids = this.lessor.expired(LEASE_REVOKES_PER_CHECK);
    if (ids.length === 0) return;
    const context = `lease#${this.id}.${this.#leaseRounds++}`;
    this.#leaseRound = { context, ids, startedAtMs: now };
    this.raw.readIndex(encoder.encode(context));
    this.loop.schedule();
  }

  #leaseRoundConfirmed(): void {
    const round = this.#leaseRound;
    if (!round || round.index === undefined || round.index > this.store.appliedIndex) return;
    this.#leaseRound = undefined;
    if (!this.isLeader() || !this.lessor.primary) return;
    for (const id of round.ids) {
      if (!this.lessor.isExpired(id)) continue;
      try {
        this.raw.propose(encodeLeaseRevoke(`revoke.${this.id}.${this.#revokes++}`, id));
      } catch (error) {
        if (!RaftError.is(error)) throw error;
      }
    }
    this.loop.schedule();
  }

  #serveReads(): void {
    for (const [key, pending] of this.#pendingReads) {
      if (pending.index === undefined || pending.index > this.store.appliedIndex) continue;
      this.#pendingReads.delete(key);
      this.host.readDone(pending.readId, this.store.appliedIndex, readRegister(this.store, pending.key));
    }
  }

  #maybeSnapshot(): void {
    if (this.store.applyingInSteps) return; // as the member: a capture would finish the entry at once
    const applied = this.store.appliedIndex;
    if (applied - this.loop.snapshotIndex < this.options.snapshotInterval) return;
    // The member's capture (a KeyOrderCapture walked to its end), encoded at once here.
    this.loop.saveSnapshot(applied, encodeSnapshot(this.store.captureSnapshot()), this.options.snapshotKeepEntries);
  }

  confState(): ConfState {
    return this.raw.confState();
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function contextString(context: Uint8Array): string {
  return decoder.decode(context);
}
