import { assert } from '../raft/assert.js';
import type { RaftConfig } from '../raft/config.js';
import { RaftError } from '../raft/errors.js';
import type { Raft } from '../raft/raft.js';
import { RawNode } from '../raft/raw-node.js';
import { entrySizeBytes, type MemoryStorage } from '../raft/storage.js';
import type { Entry, Message, ReadState, Ready, Snapshot, SnapshotMetadata } from '../raft/types.js';
import type { PersistBatch, RaftStorage, RecoveredState } from '../storage/raft-storage.js';
import { toMemoryStorage } from '../storage/raft-storage.js';

/**
 * Writes step 1 of a Ready and calls `done` once it is durable (or with the
 * error that stopped it). `done` may run before `write` returns (a
 * synchronous disk) or later (the member's group commit; the simulator's
 * delayed disk). At most one write is outstanding: the loop takes no Ready
 * while one is.
 */
export type ReadyWriter = (batch: PersistBatch, mustSync: boolean, done: (error?: unknown) => void) => void;

/**
 * What the loop's owner does at each step of a Ready (see `Ready` in
 * src/raft/types.ts), in this order. The member (keel-node.ts) and the
 * simulator (sim/node.ts) are the two owners; everything else about a Ready
 * (what leaves when, what waits for the disk, when the core advances) is
 * this module's and so the same in both.
 */
export interface ReadyHost {
  /** A Ready was taken; nothing of it is done yet. */
  taken?(ready: Ready): void;
  /** Step 1 is durable. */
  persisted?(ready: Ready): void;
  /** The core's log holds step 1 (its entries, hard state, snapshot); nothing of step 2 has been sent. */
  stored?(ready: Ready): void;
  /**
   * Step 3: a snapshot from the leader replaces the state machine. It is
   * durable already (step 1), so a crash during the restore restarts from
   * it. The host calls `done` once the snapshot is in place, before
   * returning (a restore in one go) or later (a restore in slices, between
   * other events: a member's turns, the simulator's events). Until then the
   * loop goes on taking Readies (persisting entries, sending messages:
   * heartbeats and votes are answered) but holds their step 3 and 4
   * (`applyCommitted`, `readStates`) back, to be carried out in order once
   * the snapshot is in place. `done(error)` fails the loop. The same shape
   * as a {@link ReadyWriter}, so the simulator drives a sliced restore from
   * its event queue, without promises.
   */
  installSnapshot(snapshot: Snapshot, done: (error?: unknown) => void): void;
  /**
   * Step 3: committed entries, in log order. Returns nothing once all are
   * applied. An entry whose apply the host spreads over several turns (a
   * DeleteRange of many keys) ends the call: it returns the entries after
   * that one, unapplied, and the loop holds them, with the reads and every
   * later Ready's steps 3 and 4, until `whenApplied` reports the entry
   * applied; then it hands them over in order (as during a restore, above).
   */
  applyCommitted(entries: readonly Entry[]): ApplyUnderWay | void;
  /**
   * True when applying `entries` may hold the event loop for long (a
   * DeleteRange of 160,000 keys: 0.15-0.75 s). A Ready that only moves the
   * commit index then sends its messages (the commit index, to followers)
   * first and applies a deferred turn later, once they are on the wire, so
   * the followers apply it alongside the leader: one stall every member
   * shares costs no election (dropped ticks, keel-node.ts), where a leader
   * stalled alone while its followers' election timers ran was replaced,
   * and each new leader stalled in turn applying the same entry.
   */
  applyMayStall?(entries: readonly Entry[]): boolean;
  /** Step 4: reads that became safe (serve each once applied up to its index). */
  readStates(states: readonly ReadState[]): void;
  /** After the core advanced past the Ready: metrics, snapshots, quota. */
  advanced?(): void;
  /** An error the loop cannot go on from (a failed disk write, a bug). The loop has stopped taking Readies. */
  failed(error: unknown): void;
}

/** An entry left under way by {@link ReadyHost.applyCommitted}. */
export interface ApplyUnderWay {
  /** The entries after it in the batch, none of them applied. */
  readonly rest: readonly Entry[];
  /** Calls `done` once the entry is applied (later, or at once if it is already); `done(error)` fails the loop. */
  whenApplied(done: (error?: unknown) => void): void;
}

export interface RaftLoopOptions {
  /** The core's settings; its log (`storage`) and `applied` come from `recovered`. */
  readonly raft: Omit<RaftConfig, 'storage' | 'applied'>;
  /** What `storage.load()` returned. */
  readonly recovered: RecoveredState;
  /** The durable log and snapshots. */
  readonly storage: RaftStorage;
  /** Hands a message to the transport (never blocks; the transport bounds its queues). */
  readonly send: (message: Message) => void;
  /** Runs `turn` later: setImmediate in the member (coalescing one event-loop turn's input into one Ready), inline in the simulator. */
  readonly defer: (turn: () => void) => void;
  /**
   * Runs the rest of a commit-only Ready once the answers its early apply
   * released have left (see #afterAnswers); `defer` by default. The member
   * waits two event-loop turns: a gRPC answer's trailers leave one turn
   * after its message.
   */
  readonly deferPastAnswers?: (turn: () => void) => void;
  /** Step 1's writer; by default `storage.saveAsync` (off the event loop, group commit). */
  readonly write?: ReadyWriter;
  /**
   * Step 1's writer for a Ready carrying a snapshot from the leader (the
   * member's: `storage.saveAsync`, which writes the file off the event
   * loop). Without one, such a Ready is saved synchronously with
   * `storage.save` (the simulator and tests).
   */
  readonly writeSnapshot?: ReadyWriter;
  /** Ready rounds per turn before the loop yields (each round makes progress). */
  readonly readyRoundsMax: number;
  /**
   * Bytes of committed entries handed to the host per turn before the loop
   * yields (each Ready's share is bounded by the core's
   * `maxCommittedSizePerReadyBytes`; the first Ready of a turn always goes
   * through). Applying is the one step whose cost grows with what the log
   * holds: after a restart the whole log tail past the snapshot is
   * committed at once, and applied in one turn it held a member's loop for
   * over a second. Unbounded by default (the simulator, tests).
   */
  readonly appliedBytesPerTurnMax?: number;
  /** Bytes of entries a release keeps behind the snapshot at most, beside its entry count (unbounded by default: the simulator, tests). */
  readonly catchUpBytesMax?: number;
  /**
   * Bytes of applied entries the log holds in memory with their data; older
   * applied entries are let go of and read back from the storage when asked
   * for (MemoryStorage.spill, RaftStorage.entrySource). Undefined: every
   * entry stays in memory until a release (where the storage cannot read
   * back, too).
   */
  readonly logCacheBytes?: number;
  /** Builds the core (tests and the simulator plant broken variants through it). */
  readonly raftFactory?: (config: RaftConfig) => Raft;
  /** Committed entries held back while a snapshot is restored or an entry applied in steps before the loop takes no further Ready (default HELD_ENTRIES_MAX). */
  readonly heldEntriesMax?: number;
  readonly host: ReadyHost;
}

/**
 * Committed entries a restoring member (or one applying an entry in steps)
 * holds before it stops taking Readies altogether (and so stops answering
 * peers until the restore is done): bounds the memory and the catch-up
 * burst once the restore ends.
 */
export const HELD_ENTRIES_MAX = 50_000;

/** What a Ready's steps 3 and 4 carry, held while a snapshot is restored. */
interface HeldSteps {
  readonly entries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/**
 * True when a Ready's write only moves the commit index: no entries, no
 * snapshot, no role change, and nothing that must be synced (term and vote
 * unchanged). Its committed entries are all in the log already.
 */
function isCommitOnly(ready: Ready): boolean {
  return ready.hardState !== undefined && !ready.mustSync && ready.entries.length === 0 && ready.snapshot === undefined && ready.softState === undefined;
}

/** What a Ready asks the disk to hold: its entries, and its hard state and snapshot when it has them. */
export function persistBatch(ready: Ready): PersistBatch {
  return {
    entries: ready.entries,
    ...(ready.hardState ? { hardState: ready.hardState } : {}),
    ...(ready.snapshot ? { snapshot: ready.snapshot } : {}),
  };
}

/**
 * The raft loop a member runs and the simulator drives: the core
 * ({@link RawNode}), its in-memory log, the durable storage behind it, and
 * the order in which a Ready is carried out.
 *
 * 1. The leader's appends and heartbeats (`earlyMessages`) leave at once,
 *    so followers write while this member writes (Raft thesis §10.2.1). The
 *    core counts this member's own copy toward a commit only from
 *    `advance()`, after the write is durable.
 * 2. Entries and hard state are written (off the event loop in the member);
 *    meanwhile the loop goes on ticking and stepping messages, and the next
 *    Ready (everything that arrived during the write: one group commit) is
 *    taken only once this one is done. Votes, append responses and term
 *    changes sit in `messages`, which leave only after the write: a vote or
 *    an acknowledgement is never sent for state that a crash could lose.
 * 3. Committed entries are applied, reads that became safe are served, and
 *    the core advances. A Ready whose write only moves the commit index
 *    (`isCommitOnly`) is applied and served first, since its entries are
 *    durable already and that write is not synced; its early messages and
 *    write follow a deferred turn later, after the answers the apply
 *    released (see #afterAnswers).
 *
 * A write completed asynchronously takes the next Ready in its own callback
 * rather than a deferred turn later (#continueAfterWrite).
 *
 * A snapshot from the leader replaces the whole log and may not overlap
 * another write: it is the one write outstanding, through `writeSnapshot`
 * (or synchronously without one). Its restore into the state
 * machine may take longer (see `ReadyHost.installSnapshot`): the core has
 * the snapshot and goes on (Readies are taken, written and sent, and
 * advanced, so the core's `applied` runs ahead of the state machine's),
 * but committed entries and reads wait in `#held`, in log order, until the
 * restore is done; entries after the snapshot's index thus apply only on
 * the restored state, and nothing is served from a half-restored one (the
 * state machine swaps the restored state in at once). A second snapshot
 * arriving meanwhile waits (`#parked`) for the first to be in place.
 *
 * An entry the host applies over several turns (`ApplyUnderWay`: a
 * DeleteRange or lease revoke of many keys) holds steps 3 and 4 the same
 * way: the entries after it and the reads wait in `#held` until it is
 * applied, and a snapshot from the leader parks until then.
 */
export class RaftLoop {
  readonly raw: RawNode;
  /** The core's view of the log: rebuilt from `recovered`, appended to after each write. */
  readonly memory: MemoryStorage;
  readonly storage: RaftStorage;
  readonly #options: RaftLoopOptions;
  readonly #write: ReadyWriter;
  #scheduled = false;
  /** True while a turn runs: a schedule() from inside it (a host callback) is left to the running turn, which looks for more before it ends. */
  #inTurn = false;
  /** Set while a Ready's write is outstanding; resolves once it is done. */
  #persisting: Promise<void> | undefined;
  /** The last log release started off the loop (settles, never rejects): stop() waits for it, so the storage is not closed under it. */
  #releasing: Promise<void> | undefined;
  #stopped = false;
  /** Index of the newest snapshot of the state machine (saved here or installed from the leader). */
  #snapshotIndex: number;
  /** A log release {@link adoptSnapshot} left for the end of the outstanding write: the entries to keep. */
  #releaseKeeping: number | undefined;
  /** Set while a snapshot from the leader is being restored (installSnapshot did not call done before returning); settles once it is in place. */
  #installing: Promise<void> | undefined;
  /** Set while a committed entry is applied over several turns (ApplyUnderWay); settles once it is applied. */
  #applying: Promise<void> | undefined;
  /** Steps 3 and 4 of the Readies taken while restoring or applying an entry in steps, in log order. */
  #held: HeldSteps[] = [];
  #heldEntries = 0;
  readonly #heldEntriesMax: number;
  /** A snapshot Ready taken while another snapshot was being restored: carried out once that one is in place. */
  #parked: Ready | undefined;

  constructor(options: RaftLoopOptions) {
    this.#options = options;
    this.storage = options.storage;
    this.memory = toMemoryStorage(options.recovered);
    this.#snapshotIndex = options.recovered.snapshot.metadata.index;
    this.#heldEntriesMax = options.heldEntriesMax ?? HELD_ENTRIES_MAX;
    if (options.logCacheBytes !== undefined) {
      const source = options.storage.entrySource?.();
      if (source !== undefined) this.memory.setEntrySource(source);
    }
    const config: RaftConfig = { ...options.raft, storage: this.memory, applied: this.#snapshotIndex };
    this.raw = options.raftFactory ? new RawNode(config, options.raftFactory) : new RawNode(config);
    const storage = options.storage;
    this.#write =
      options.write ??
      ((batch, mustSync, done) => {
        storage.saveAsync(batch, mustSync).then(() => done(), done);
      });
  }

  /** Index of the newest snapshot (saved by {@link saveSnapshot} or installed from the leader). */
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }

  /** True while a Ready's write is on the disk. */
  get persisting(): boolean {
    return this.#persisting !== undefined;
  }

  /** True while a snapshot from the leader is being restored into the state machine (committed entries wait). */
  get installing(): boolean {
    return this.#installing !== undefined;
  }

  tick(): void {
    this.raw.tick();
    this.schedule();
  }

  /** Steps a message from a peer; a malformed or misdirected one is dropped (the core refuses it with a RaftError). */
  step(message: Message): void {
    if (this.#stopped) return;
    try {
      this.raw.step(message);
    } catch (error) {
      if (RaftError.is(error)) return;
      throw error;
    }
    this.schedule();
  }

  /** Asks for a turn; everything that arrives before it shares one Ready, hence one write. */
  schedule(): void {
    if (this.#scheduled || this.#inTurn || this.#stopped) return;
    this.#scheduled = true;
    this.#options.defer(() => {
      this.#scheduled = false;
      try {
        this.#turn();
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  /**
   * Takes the next Ready at once, in the callback of the write that held it
   * back, rather than in a deferred turn: everything that arrived during the
   * write is in the core already (one group, as before), and a deferred turn
   * costs the commit that the write completed one more event-loop iteration
   * before it is applied and answered (the answer itself leaves in the
   * iteration's check phase, where HTTP/2 flushes).
   */
  #continueAfterWrite(): void {
    if (this.#inTurn || this.#stopped) return;
    try {
      this.#turn();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Takes no further Ready; resolves once the outstanding write and restore (if any) are done. Never rejects. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([this.#persisting, this.#installing, this.#applying, this.#releasing]);
  }

  /**
   * Saves a snapshot of the state machine at `applied` (its bytes from
   * `data`) and drops the log it covers, keeping `keepEntries` behind it for
   * slightly slow followers. The caller decides when (every N entries,
   * defragment).
   */
  saveSnapshot(applied: number, data: Uint8Array, keepEntries: number): void {
    const snapshot = this.memory.createSnapshot(applied, this.raw.confStateAt(applied), data);
    this.storage.saveSnapshot(snapshot);
    this.#snapshotIndex = applied;
    this.#release(keepEntries);
  }

  /** What a snapshot of the state machine at `applied` records: the term of that entry and the configuration then. */
  snapshotMetadata(applied: number): SnapshotMetadata {
    return { index: applied, term: this.memory.term(applied), confState: this.raw.confStateAt(applied) };
  }

  /**
   * Adopts a snapshot its owner made durable itself (streamed off the event
   * loop, at an index captured earlier: entries applied since stay in the
   * log): the core sends it to followers that need one, and the log it
   * covers is released, but `keepEntries`, once no write is outstanding (the
   * WAL's async writer owns its segments until then). Returns false, doing
   * nothing, when a newer snapshot was installed from the leader meanwhile.
   */
  adoptSnapshot(snapshot: Snapshot, keepEntries: number): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (this.#stopped || index <= this.#snapshotIndex) return false;
    const created = this.memory.createSnapshot(index, confState, snapshot.data);
    if (created.metadata.term !== term) throw new RangeError(`snapshot at ${index} says term ${term}, the log ${created.metadata.term}`);
    this.#snapshotIndex = index;
    this.releaseLog(keepEntries);
    return true;
  }

  /**
   * Drops log entries the newest snapshot covers, but `keepEntries`: now,
   * or when the outstanding write is done (the WAL's async writer owns its
   * segments until then).
   */
  releaseLog(keepEntries: number): void {
    if (this.#persisting === undefined) this.#release(keepEntries);
    else this.#releaseKeeping = keepEntries;
  }

  /** The index through which the log goes so that at most `catchUpBytesMax` bytes of the `keepEntries` entries stay behind the snapshot (0: none need go). */
  #compactForBytes(keepEntries: number): number {
    const bytesMax = this.#options.catchUpBytesMax;
    const last = Math.min(this.#snapshotIndex, this.memory.lastIndex());
    const first = Math.max(this.memory.firstIndex(), this.#snapshotIndex - keepEntries + 1);
    if (bytesMax === undefined || first > last) return 0;
    let bytes = 0;
    for (let index = last; index >= first; index--) {
      bytes += this.memory.entryBytes(index); // spilled entries too, without reading them back
      if (bytes > bytesMax) return index;
    }
    return 0;
  }

  #release(keepEntries: number): void {
    this.#releaseKeeping = undefined;
    const compactTo = Math.max(this.#snapshotIndex - keepEntries, this.#compactForBytes(keepEntries));
    if (compactTo > this.memory.firstIndex()) {
      this.memory.compact(compactTo);
      if (this.storage.releaseToAsync === undefined) {
        this.storage.releaseTo(compactTo);
        return;
      }
      // Off the loop: the files' unlinks and directory syncs (see FileStorage.releaseToAsync).
      this.#releasing = this.storage.releaseToAsync(compactTo).then(
        () => undefined,
        (error: unknown) => {
          if (!this.#stopped) this.#fail(error);
        },
      );
    }
  }

  #turn(): void {
    this.#inTurn = true;
    try {
      this.#rounds();
      this.#sendEarly();
    } finally {
      this.#inTurn = false;
    }
    if (this.#mayTakeReady() && this.raw.hasReady()) this.schedule();
  }

  /**
   * Sends what the core may send before this member's disk catches up
   * (heartbeats and their answers, the leader's appends: see
   * `RawNode.takeEarlyMessages`) when no Ready could take it: a write is
   * outstanding, a snapshot is parked, or the commit-only hold is on. A
   * heartbeat stepped or ticked during a 300 ms fsync is answered or sent
   * now, not after it; a Ready taken later simply finds them gone.
   */
  #sendEarly(): void {
    if (this.#stopped || this.#mayTakeReady()) return;
    for (const message of this.raw.takeEarlyMessages()) this.#options.send(message);
  }

  #rounds(): void {
    const appliedBytesMax = this.#options.appliedBytesPerTurnMax ?? Number.POSITIVE_INFINITY;
    let appliedBytes = 0;
    // #turn schedules another turn when a Ready is left: a bounded turn only defers the rest.
    for (let round = 0; round < this.#options.readyRoundsMax && appliedBytes < appliedBytesMax && this.#mayTakeReady() && this.raw.hasReady(); round++) {
      const ready = this.raw.ready();
      for (const entry of ready.committedEntries) appliedBytes += entrySizeBytes(entry);
      this.#handle(ready);
    }
  }

  /** No write outstanding, no snapshot parked, and room to hold what a restore holds back. */
  #mayTakeReady(): boolean {
    return !this.#stopped && this.#persisting === undefined && this.#parked === undefined && this.#heldEntries < this.#heldEntriesMax;
  }

  #handle(ready: Ready): void {
    const host = this.#options.host;
    if (ready.snapshot && this.#holdingBack()) {
      this.#parked = ready; // the core has nothing further to give before this Ready is advanced
      return;
    }
    host.taken?.(ready);
    if (isCommitOnly(ready)) {
      // A write that only moves the commit index holds nothing the committed entries need: they are in
      // the log already, durable since the Ready that appended them (the loop takes no Ready while one is
      // written), and the write is not synced, so a crash may lose it whether or not we wait. Waiting for
      // it would cost every write a threadpool round trip between its commit and its answer (etcd's server
      // likewise applies while it saves the hard state). Messages still wait for the write.
      if (ready.committedEntries.length > 0 && host.applyMayStall?.(ready.committedEntries) === true) {
        // The early messages leave first (the transport writes them from a microtask, so only a later turn
        // finds them on the wire): followers learn the commit before this member stalls applying it.
        for (const message of ready.earlyMessages) this.#options.send(message);
        this.#afterAnswers(() => {
          this.#applySteps(ready);
          this.#carryOut(ready, true, true);
        });
        return;
      }
      this.#applySteps(ready);
      this.#afterAnswers(() => this.#carryOut(ready, true));
      return;
    }
    this.#carryOut(ready, false);
  }

  /**
   * Runs `rest` a turn later (`deferPastAnswers`, else `defer`), holding the
   * loop meanwhile as an outstanding write does: the answers an early apply
   * released leave first (a member's gRPC answers are flushed in the event
   * loop's check phase, and a deferred turn runs after that), then the early
   * messages' socket writes and the commit index's write. The commit index
   * reaches followers a few microseconds later; the client waiting on this
   * member gets its answer without waiting behind two socket writes.
   */
  #afterAnswers(rest: () => void): void {
    let release!: () => void;
    this.#persisting = new Promise<void>((resolve) => {
      release = resolve;
    });
    (this.#options.deferPastAnswers ?? this.#options.defer)(() => {
      this.#persisting = undefined;
      release();
      if (this.#stopped) return;
      try {
        rest();
      } catch (error) {
        this.#fail(error);
        return;
      }
      // Outside a turn: a write that completed at once left the next Ready to whoever looks next.
      if (!this.#inTurn && this.#mayTakeReady() && this.raw.hasReady()) this.schedule();
    });
  }

  /** Step 1 (early messages, unless `earlySent`; the write) and, once it is durable, the rest; steps 3 and 4 are done already when `appliedEarly`. */
  #carryOut(ready: Ready, appliedEarly: boolean, earlySent = false): void {
    const host = this.#options.host;
    if (!earlySent) for (const message of ready.earlyMessages) this.#options.send(message);
    if (ready.entries.length === 0 && !ready.hardState && !ready.snapshot) {
      this.#afterPersist(ready);
      return;
    }
    const batch = persistBatch(ready);
    // From here the disk may hold the leader's snapshot (an async write renames its file before the WAL record is synced):
    // the owner must not start a snapshot of its own at an older index (storage refuses one older than the newest file).
    if (ready.snapshot) this.#snapshotIndex = ready.snapshot.metadata.index;
    if (ready.snapshot && this.#options.writeSnapshot === undefined) {
      this.storage.save(batch, true);
      host.persisted?.(ready);
      this.#afterPersist(ready);
      return;
    }
    let finish!: () => void;
    this.#persisting = new Promise<void>((resolve) => {
      finish = resolve;
    });
    let returned = false;
    let completed = false;
    const write = ready.snapshot ? this.#options.writeSnapshot! : this.#write;
    write(batch, ready.mustSync, (error) => {
      if (completed) return; // a writer calls done once; a second call is ignored rather than applying twice
      completed = true;
      this.#persisting = undefined;
      finish();
      if (error !== undefined) {
        this.#fail(error);
        return;
      }
      if (this.#stopped) return;
      if (!returned) {
        // Done before write() returned (a synchronous disk): carry on in this turn.
        host.persisted?.(ready);
        this.#afterPersist(ready, appliedEarly);
        return;
      }
      try {
        host.persisted?.(ready);
        this.#afterPersist(ready, appliedEarly);
      } catch (failure) {
        this.#fail(failure);
        return;
      }
      this.#continueAfterWrite();
    });
    returned = true;
  }

  /** Steps 2 to 5 of a Ready, once step 1 is durable; steps 3 and 4 were carried out already when `appliedEarly` (see #handle). */
  #afterPersist(ready: Ready, appliedEarly = false): void {
    const host = this.#options.host;
    if (this.#releaseKeeping !== undefined) this.#release(this.#releaseKeeping);
    // The core keeps the snapshot as the storage holds it (a leader's, in its file), not the bytes that arrived: the host restores from those.
    if (ready.snapshot) this.memory.applySnapshot(this.storage.held?.(ready.snapshot) ?? ready.snapshot);
    this.memory.append(ready.entries);
    if (ready.hardState) this.memory.setHardState(ready.hardState);
    host.stored?.(ready);
    for (const message of ready.messages) this.#options.send(message);
    if (ready.snapshot) this.#install(ready.snapshot);
    if (!appliedEarly) this.#applySteps(ready);
    this.raw.advance(ready);
    host.advanced?.();
  }

  /** Steps 3 and 4: committed entries applied and reads served, or held while a snapshot is restored or an entry applied in steps. */
  #applySteps(ready: Ready): void {
    if (this.#holdingBack()) {
      this.#held.push({ entries: ready.committedEntries, readStates: ready.readStates });
      this.#heldEntries += ready.committedEntries.length;
      return;
    }
    // Never apply an entry this member's disk does not hold (the early path relies on it).
    const lastIndex = ready.committedEntries.at(-1)?.index ?? 0;
    if (lastIndex > this.memory.lastIndex()) assert(false, `committed entry ${lastIndex} is not in the stored log (last ${this.memory.lastIndex()})`);
    this.#applyAndServe(ready.committedEntries, ready.readStates);
  }

  /** True while steps 3 and 4 wait: a snapshot being restored, or an entry being applied in steps. */
  #holdingBack(): boolean {
    return this.#installing !== undefined || this.#applying !== undefined;
  }

  /**
   * Applies `entries` and then serves `readStates`. When the host leaves an
   * entry under way, the entries after it and the reads go to the front of
   * `#held` (they precede whatever is held already) and false is returned;
   * #resumeHeld carries them out once the entry is applied.
   */
  #applyAndServe(entries: readonly Entry[], readStates: readonly ReadState[]): boolean {
    const host = this.#options.host;
    let next = entries;
    while (next.length > 0) {
      const underWay = host.applyCommitted(next);
      if (underWay === undefined) break;
      next = underWay.rest;
      if (!this.#holdFor(underWay)) continue; // applied already: go on with the rest
      this.#held.unshift({ entries: next, readStates });
      this.#heldEntries += next.length;
      return false;
    }
    const last = entries[entries.length - 1];
    const cacheBytes = this.#options.logCacheBytes;
    if (last !== undefined && cacheBytes !== undefined) this.memory.spill(last.index, cacheBytes); // every entry handed over is applied
    host.readStates(readStates);
    return true;
  }

  /** Waits for an entry under way: true when it is still under way (`#applying` set), false when it was applied already. */
  #holdFor(underWay: ApplyUnderWay): boolean {
    let returned = false;
    let completed = false;
    let finish!: () => void;
    underWay.whenApplied((error) => {
      if (completed) return; // once, as a writer's done
      completed = true;
      if (!returned) {
        if (error !== undefined) throw error; // thrown to the turn, which fails the loop
        return;
      }
      this.#applying = undefined;
      finish();
      if (error !== undefined) {
        this.#fail(error);
        return;
      }
      this.#resumeHeld();
    });
    returned = true;
    if (completed) return false;
    this.#applying = new Promise<void>((resolve) => {
      finish = resolve;
    });
    return true;
  }

  /**
   * Hands the snapshot to the host. Done before the host returns: nothing
   * is held. Done later: `#installing` is set meanwhile (stop() waits for
   * it) and #installed carries out what was held.
   */
  #install(snapshot: Snapshot): void {
    let returned = false;
    let completed = false;
    let finish!: () => void;
    this.#options.host.installSnapshot(snapshot, (error) => {
      if (completed) return; // once, as a writer's done
      completed = true;
      if (!returned) {
        if (error !== undefined) throw error; // a synchronous restore's failure: thrown to the turn, which fails the loop
        return;
      }
      finish();
      if (error !== undefined) {
        this.#installing = undefined;
        this.#fail(error);
        return;
      }
      this.#installed();
    });
    returned = true;
    if (!completed) {
      this.#installing = new Promise<void>((resolve) => {
        finish = resolve;
      });
    }
  }

  /** The snapshot is in place: what was held goes on (#resumeHeld). */
  #installed(): void {
    this.#installing = undefined;
    this.#resumeHeld();
  }

  /**
   * Nothing holds steps 3 and 4 back any more: what was held applies, in
   * order, until it is all done (then a parked snapshot Ready is carried
   * out) or an entry is left under way again (the rest waits for it).
   */
  #resumeHeld(): void {
    if (this.#stopped) return;
    const host = this.#options.host;
    try {
      while (this.#held.length > 0 && !this.#holdingBack()) {
        const steps = this.#held.shift()!;
        this.#heldEntries -= steps.entries.length;
        if (!this.#applyAndServe(steps.entries, steps.readStates)) return; // held again: resumes when that entry is applied
      }
      if (this.#holdingBack()) return;
      host.advanced?.();
      const parked = this.#parked;
      this.#parked = undefined;
      if (parked !== undefined) this.#handle(parked);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.schedule();
  }

  #fail(error: unknown): void {
    this.#stopped = true;
    this.#options.host.failed(error);
  }
}
