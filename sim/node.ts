import { decodeConfChange } from '../src/raft/conf-change.js';
import type { RaftConfig } from '../src/raft/config.js';
import { RaftError } from '../src/raft/errors.js';
import type { Raft } from '../src/raft/raft.js';
import type { SeededRandom } from '../src/raft/random.js';
import { RawNode } from '../src/raft/raw-node.js';
import { MemoryStorage } from '../src/raft/storage.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Snapshot } from '../src/raft/types.js';
import { EntryType, Role } from '../src/raft/types.js';
import { MemoryRaftStorage } from '../src/storage/memory-raft-storage.js';
import type { MemoryDisk } from '../src/storage/memory-raft-storage.js';
import { KvStateMachine, decodeWrite, encodeWrite } from './kv.js';
import type { WriteCommand } from './kv.js';
import type { SimOptions } from './options.js';

/** What a node tells the world it lives in. */
export interface NodeHost {
  send(from: NodeId, message: Message): void;
  /** Every persisted entry, with the term of the entry before it (log matching). */
  persisted(node: NodeId, entry: Entry, previousTerm: number): void;
  /** Every applied entry, in order. */
  applied(node: NodeId, entry: Entry): void;
  becameLeader(node: SimNode, term: number): void;
  writeDone(requestId: string, index: number): void;
  readDone(readId: string, observed: number, value: string | undefined): void;
  confChangeApplied(node: NodeId, change: ConfChange): void;
  /**
   * The disk finishes `node`'s outstanding write later (a simulated delay):
   * call `complete` then, unless the node crashed meanwhile (the write is
   * lost, unless the kernel happened to write it back). A paused node
   * completes it on resume.
   */
  persistLater(node: NodeId, complete: () => void): void;
}

export type RaftFactory = (config: RaftConfig) => Raft;

interface PendingRead {
  readonly readId: string;
  readonly key: string;
  index?: number;
}

/** Bound on Ready rounds per input: each round makes progress, so this is never reached in a sound run. */
const READY_ROUNDS_MAX = 1_000;

/** One simulated member: a RawNode, its disk and its state machine, carrying out Ready in order. */
export class SimNode {
  raw!: RawNode;
  /** The core's view of the log (in memory, rebuilt from disk at start). */
  storage!: MemoryStorage;
  /** The durable store on the simulated disk: the same replay and recovery code as the file-backed one. */
  durable!: MemoryRaftStorage;
  kv!: KvStateMachine;
  #pendingReads = new Map<string, PendingRead>();
  #pendingWrites = new Map<string, string>();
  #lastSnapshotIndex = 0;
  #readSequence = 0;
  /** With async storage writes: a Ready is being written; no next Ready until it completes. */
  #persisting = false;
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
    readonly raftFactory: RaftFactory | undefined,
  ) {}

  /** Starts (or restarts after a crash) from what the disk holds. */
  start(): void {
    this.durable = new MemoryRaftStorage(this.disk, { retainSnapshots: 2 });
    const { hardState, snapshot, entries } = this.durable.load();
    this.storage = new MemoryStorage(snapshot.metadata.confState);
    if (snapshot.metadata.index > 0) this.storage.applySnapshot(snapshot);
    this.storage.append(entries);
    this.storage.setHardState(hardState);
    this.kv = new KvStateMachine();
    if (snapshot.metadata.index > 0) this.kv.restore(snapshot.data);
    this.#lastSnapshotIndex = snapshot.metadata.index;
    const config: RaftConfig = {
      id: this.id,
      storage: this.storage,
      random: this.random,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: 1,
      applied: snapshot.metadata.index,
      checkQuorum: this.options.checkQuorum,
      preVote: this.options.preVote,
      readOnlyOption: this.options.leaseReads ? 'lease-based' : 'safe',
      batchAppends: this.options.batchAppends,
      maxSizePerMessageBytes: 4096,
      maxInflightMessages: 16,
      learnerPromotionLagMax: 20,
      asyncStorageWrites: this.options.asyncStorageWrites,
    };
    this.raw = this.raftFactory ? new RawNode(config, this.raftFactory) : new RawNode(config);
    this.#pendingReads = new Map();
    this.#pendingWrites = new Map();
    this.#persisting = false;
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
    this.raw.tick();
    this.processReady();
  }

  receive(message: Message): void {
    this.raw.step(message);
    this.processReady();
  }

  /** A client write. Returns an error code if it was refused outright (never appended). */
  write(command: WriteCommand): string | undefined {
    try {
      this.raw.propose(encodeWrite(command));
    } catch (error) {
      if (RaftError.is(error)) return error.code;
      throw error;
    }
    this.#pendingWrites.set(command.requestId, command.key);
    this.processReady();
    return undefined;
  }

  read(readId: string, key: string): void {
    const context = encoder.encode(`${readId}#${this.#readSequence++}`);
    this.#pendingReads.set(contextString(context), { readId, key });
    this.raw.readIndex(context);
    this.processReady();
  }

  proposeConfChange(change: ConfChange): boolean {
    try {
      this.raw.proposeConfChange(change);
    } catch (error) {
      if (RaftError.is(error)) return false;
      throw error;
    }
    this.processReady();
    return true;
  }

  transferLeader(target: NodeId): void {
    try {
      this.raw.transferLeader(target);
    } catch (error) {
      if (!RaftError.is(error)) throw error;
    }
    this.processReady();
  }

  reportSnapshot(to: NodeId, failed: boolean): void {
    this.raw.reportSnapshot(to, failed);
    this.processReady();
  }

  reportUnreachable(to: NodeId): void {
    this.raw.reportUnreachable(to);
    this.processReady();
  }

  processReady(): void {
    for (let round = 0; round < READY_ROUNDS_MAX && !this.#persisting && this.raw.hasReady(); round++) {
      if (this.options.asyncStorageWrites) this.#handleAsync(this.raw.ready());
      else this.#handle(this.raw.ready());
    }
  }

  /**
   * keel-node's Ready loop: the leader's appends leave at once, the write goes
   * to the page cache now and is synced when the simulated disk says so; only
   * then are the other messages sent, entries applied and the Ready advanced
   * (the leader's self-ack). Meanwhile the node keeps ticking and stepping.
   */
  #handleAsync(ready: Ready): void {
    // The term as of this Ready: by the time its write completes the node may have moved on.
    if (ready.softState?.role === Role.Leader) this.host.becameLeader(this, this.raw.status().hardState.term);
    for (const message of ready.earlyMessages) this.host.send(this.id, message);
    const batch = persistBatch(ready);
    if (ready.entries.length === 0 && !ready.hardState && !ready.snapshot) {
      this.#afterPersist(ready);
      return;
    }
    if (ready.snapshot) {
      this.#recordPersisted(ready);
      this.durable.save(batch, true); // as in keel-node: a snapshot Ready is written synchronously
      this.#afterPersist(ready);
      return;
    }
    // In the page cache now: a crash before the sync may lose it (or keep it: MemoryDisk.crash).
    this.durable.save(batch, false);
    this.#persisting = true;
    const running = this.durable;
    this.host.persistLater(this.id, () => {
      if (!this.running || this.durable !== running) return;
      if (ready.mustSync) this.durable.save({ entries: [] }, true);
      this.#persisting = false;
      this.#recordPersisted(ready);
      this.#afterPersist(ready);
      this.processReady();
    });
  }

  #recordPersisted(ready: Ready): void {
    for (const entry of ready.entries) this.host.persisted(this.id, entry, this.#termBefore(entry, ready.entries, ready.snapshot));
  }

  /** Steps 2 to 5 of a Ready, once its write is durable; `stored` runs once the log holds it, before anything is sent. */
  #afterPersist(ready: Ready, stored?: () => void): void {
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) this.storage.setHardState(ready.hardState);
    stored?.();
    for (const message of ready.messages) this.host.send(this.id, message);
    if (ready.snapshot) {
      this.kv.restore(ready.snapshot.data);
      this.#lastSnapshotIndex = ready.snapshot.metadata.index;
    }
    for (const entry of ready.committedEntries) this.#apply(entry);
    for (const state of ready.readStates) {
      const pending = this.#pendingReads.get(contextString(state.context));
      if (pending) pending.index = state.index;
    }
    this.#serveReads();
    this.raw.advance(ready);
    this.#maybeSnapshot();
  }

  #handle(ready: Ready): void {
    // 1. Persist: snapshot, entries, hard state; one sync if needed. Then send, apply, serve reads.
    this.#recordPersisted(ready);
    this.durable.save(persistBatch(ready), ready.mustSync);
    // A new leader is checked against its log as stored, before its first message leaves.
    this.#afterPersist(ready, () => {
      if (ready.softState?.role === Role.Leader) this.host.becameLeader(this, this.raw.status().hardState.term);
    });
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

  #apply(entry: Entry): void {
    this.host.applied(this.id, entry);
    if (entry.type === EntryType.ConfChange) {
      this.kv.skip(entry.index);
      this.host.confChangeApplied(this.id, decodeConfChange(entry.data));
      return;
    }
    const command = decodeWrite(entry.data);
    this.kv.apply(entry.index, command);
    if (command && this.#pendingWrites.delete(command.requestId)) this.host.writeDone(command.requestId, entry.index);
  }

  #serveReads(): void {
    for (const [key, pending] of this.#pendingReads) {
      if (pending.index === undefined || pending.index > this.kv.applied) continue;
      this.#pendingReads.delete(key);
      this.host.readDone(pending.readId, this.kv.applied, this.kv.get(pending.key)?.value);
    }
  }

  #maybeSnapshot(): void {
    const applied = this.kv.applied;
    if (applied - this.#lastSnapshotIndex < this.options.snapshotInterval) return;
    const snapshot = this.storage.createSnapshot(applied, this.raw.confStateAt(applied), this.kv.snapshot());
    this.durable.saveSnapshot(snapshot);
    this.#lastSnapshotIndex = applied;
    const compactTo = applied - this.options.snapshotKeepEntries;
    if (compactTo > this.storage.firstIndex()) {
      this.storage.compact(compactTo);
      this.durable.releaseTo(compactTo);
    }
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

/** What a Ready asks the disk to hold: its entries, and its hard state and snapshot when it has them. */
function persistBatch(ready: Ready): { entries: Ready['entries']; hardState?: NonNullable<Ready['hardState']>; snapshot?: NonNullable<Ready['snapshot']> } {
  return {
    entries: ready.entries,
    ...(ready.hardState ? { hardState: ready.hardState } : {}),
    ...(ready.snapshot ? { snapshot: ready.snapshot } : {}),
  };
}
