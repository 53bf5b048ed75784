import { assert } from './assert.js';
import { fromByteString } from './bytes.js';
import type { Command } from './command.js';
import { decodeCommand } from './command.js';
import { AlarmSet, txnPuts } from './alarms.js';
import type { AlarmMember, AlarmResponse } from './alarms.js';
import { AuthState } from './auth-state.js';
import type { AuthResponse } from './auth-state.js';
import {
  AlarmNoSpaceError,
  AuthOldRevisionError,
  CompactedError,
  FutureRevisionError,
  LeaseExistsError,
  LeaseNotFoundError,
  NoSpaceError,
  NotReadOnlyError,
  RequestTooLargeError,
  StoreError,
  TooManyLeasesError,
} from './errors.js';
import type { EventBatch, EventListener, HistoryQuery, HistoryResult } from './events.js';
import { lazyEventBatch, queryHistory } from './events.js';
import type { KvHash } from './hash.js';
import { HashJob, hashRecords } from './hash.js';
import { KvStore, type WriteTxn } from './kv-store.js';
import { LEASES_MAX, QUOTA_BYTES_DEFAULT, REQUEST_BYTES_MAX, REVISION_MAX } from './limits.js';
import { executeRange } from './range.js';
import { encodeSnapshot, type SnapshotState } from './snapshot.js';
import { SnapshotRestore } from './restore.js';
import type { Execution } from './txn.js';
import { executePut, executeTxn, KeysDeletion, RangeDeletion } from './txn.js';
import type {
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Lease,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  TxnRequest,
  TxnResponse,
} from './types.js';
import { isReadOnlyTxn, validateCommand, validateRange, validateTxn } from './validate.js';

export type CommandResponse =
  | { type: 'put'; response: PutResponse }
  | { type: 'deleteRange'; response: DeleteRangeResponse }
  | { type: 'txn'; response: TxnResponse }
  | { type: 'compact'; response: CompactionResponse }
  | { type: 'leaseGrant'; response: LeaseGrantResponse }
  | { type: 'leaseRevoke'; response: LeaseRevokeResponse }
  | { type: 'alarm'; response: AlarmResponse }
  | { type: 'auth'; response: AuthResponse };

/**
 * What apply() did with one log entry:
 * - `applied`: the command ran; `response` is what the client gets.
 * - `rejected`: the command was refused (bad bytes, compacted revision,
 *   missing lease, ...). The state is as before except that the entry counts
 *   as applied; every member rejects it the same way.
 * - `skipped`: index <= appliedIndex, a replay; nothing happened (the result
 *   of the original apply is not kept).
 */
export type ApplyResult =
  | { status: 'applied'; index: number; response: CommandResponse }
  | { status: 'rejected'; index: number; error: StoreError }
  | { status: 'skipped'; index: number };

/**
 * The replicated state machine: etcd's MVCC key-value store plus lease
 * records, driven by committed log entries. It performs no I/O, reads no
 * clock and draws no randomness: equal command sequences give equal states
 * and equal snapshot bytes on every member and in the simulator.
 *
 * Ordering and durability: apply(index) changes the data and the applied
 * index in one synchronous step, so a snapshot always pairs the data with
 * the index that produced it. Entries at or below the applied index are
 * skipped, which makes replay after restart (snapshot + WAL tail) idempotent.
 * Durability is the caller's: it persists snapshot() bytes, and replays the
 * log from appliedIndex + 1 after restore().
 */
export interface StoreOptions {
  /** The space quota; every member must use the same. Default QUOTA_BYTES_DEFAULT (2 GiB, as etcd). */
  quotaBytes?: number;
  /**
   * A compaction drops its records in {@link StoreStateMachine.compactStep}
   * calls, which the owner makes between other work, rather than within
   * apply (KvStore.compactStep says why). Default false: at once.
   */
  compactInSteps?: boolean;
}

/**
 * A command applied over several calls ({@link StoreStateMachine.applyInSteps}):
 * a DeleteRange or a lease revoke that deletes more keys than one call may.
 */
export interface ApplySteps {
  readonly index: number;
  /**
   * Walks up to `keysMax` (>= 1) more keys; returns the result once the
   * command is applied (the applied index moved, its events published),
   * else undefined. After the result, further calls return it again.
   */
  step(keysMax: number): ApplyResult | undefined;
}

/** True when applyInSteps left the command under way (its steps), false for a result. */
export function isApplySteps(outcome: ApplyResult | ApplySteps): outcome is ApplySteps {
  return 'step' in outcome;
}

/** A restore begun by {@link StoreStateMachine.beginRestore}. */
export interface StoreRestore {
  /** Works on for about `workMax` units (a record decoded or moved); true once the new state is in place. Throws MalformedBytesError. */
  step(workMax: number): boolean;
  /** Gives the restore up; the state stays as it was. */
  abandon(): void;
  /** Records decoded so far. */
  readonly recordsDecoded: number;
}

export class StoreStateMachine {
  #kv = new KvStore();
  #appliedIndex = 0;
  readonly #listeners = new Set<EventListener>();
  readonly #quotaBytes: number;
  readonly #compactInSteps: boolean;
  #alarms = new AlarmSet();
  #auth = new AuthState();
  /** Set by beginRestore() until that restore ends (see there). */
  #restoring: object | undefined;
  /** The command applyInSteps left under way, if any: its write is open until it ends (see there). */
  #stepping: { finish(): void } | undefined;
  /** The events of the command being applied, published once the applied index has moved too. */
  #pendingBatch: EventBatch | undefined;

  constructor(options: StoreOptions = {}) {
    this.#quotaBytes = options.quotaBytes ?? QUOTA_BYTES_DEFAULT;
    this.#compactInSteps = options.compactInSteps ?? false;
  }

  /** True while a compaction's records are still being dropped (`compactInSteps`): call compactStep. */
  get compacting(): boolean {
    return this.#kv.compacting;
  }

  /** Drops about `recordsMax` more records' worth of the compaction under way; true once it is done. */
  compactStep(recordsMax: number): boolean {
    return this.#kv.compactStep(recordsMax);
  }

  /** The index of the last log entry applied (0 before any). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The cluster-wide revision of the last write; 1 for an empty store (as etcd). */
  get revision(): number {
    return this.#kv.currentRevision;
  }

  /** Reads below this revision fail with CompactedError; 0 before the first compaction. */
  get compactRevision(): number {
    return this.#kv.compactRevision;
  }

  /** What the retained history counts against the space quota (key and value bytes plus a per-record estimate). */
  get usedBytes(): number {
    return this.#kv.usedBytes;
  }

  /** The space quota this store enforces. */
  get quotaBytes(): number {
    return this.#quotaBytes;
  }

  /** The active alarms (etcd's Alarm GET with type NONE, or one type), in canonical order. */
  alarms(type: AlarmMember['alarm'] | 'NONE' = 'NONE'): AlarmMember[] {
    return this.#alarms.list(type);
  }

  /** etcd's auth store: users, roles, permissions, and the permission checks (read-only outside apply). */
  get auth(): AuthState {
    return this.#auth;
  }

  /** Keys with any retained history (live or deleted but not yet compacted). */
  get keyCount(): number {
    return this.#kv.keyCount;
  }

  /** Applies the command the log entry at `index` carries. Throws only StoreAssertionError (a broken invariant). */
  apply(index: number, commandBytes: Uint8Array): ApplyResult {
    const result = this.applyInSteps(index, commandBytes, Number.POSITIVE_INFINITY);
    assert(!isApplySteps(result), 'apply: a command left under way with no bound on its steps');
    return result;
  }

  /**
   * {@link apply}, except that a DeleteRange walking more than `keysMax`
   * keys, or a lease revoke of a lease with more than `keysMax` keys, is
   * left under way: the first `keysMax` are walked now and the
   * caller walks the rest with {@link ApplySteps.step}, between other work
   * (a member deleting 160,000 keys in one call held its loop for 0.3-1.1
   * s, longer than an election timeout). Until the last step the command's
   * write is open: reads see the state before it whole (its deletes are at
   * the next revision, which no read sees yet) and the applied index stays
   * before it; nothing else may apply, restore or markApplied (they
   * assert), and what reads the store whole (snapshot(), captureSnapshot())
   * finishes the command first, as it finishes a compaction. A caller that
   * must not stall (a member's snapshot policy) checks
   * {@link applyingInSteps} first.
   */
  applyInSteps(index: number, commandBytes: Uint8Array, keysMax: number): ApplyResult | ApplySteps {
    assert(this.#restoring === undefined, `apply(${index}) during a snapshot restore`);
    assert(this.#stepping === undefined, `apply(${index}) while a command is applied in steps`);
    assert(keysMax >= 1, 'applyInSteps: keysMax must be at least 1');
    if (index <= this.#appliedIndex) return { status: 'skipped', index };
    assert(Number.isSafeInteger(index) && index <= REVISION_MAX, `apply: bad index ${index}`);
    let result: ApplyResult;
    try {
      if (commandBytes.length > REQUEST_BYTES_MAX) throw new RequestTooLargeError(commandBytes.length, REQUEST_BYTES_MAX);
      const command = decodeCommand(commandBytes);
      validateCommand(command);
      if (command.type === 'deleteRange') {
        this.#refuseIfAuthMoved(command); // what #execute checks first; a DeleteRange grows nothing, so NOSPACE passes it
        return this.#writeInSteps(
          index,
          keysMax,
          (execution) => new RangeDeletion(execution, command.request),
          (response) => ({ type: 'deleteRange', response }),
        );
      }
      if (command.type === 'leaseRevoke') {
        this.#refuseIfAuthMoved(command);
        const id = command.request.id;
        if (!this.#kv.leases.has(id)) throw new LeaseNotFoundError(id);
        const keys = this.#kv.leases.keysUnordered(id); // sorted by the deletion, in steps
        return this.#writeInSteps(
          index,
          keysMax,
          (execution) => new KeysDeletion(execution, keys, { sort: true }),
          (deleted, execution) => {
            this.#kv.leases.remove(id); // after its keys: each delete detached its key from the lease
            return { type: 'leaseRevoke', response: { header: execution.header, id, deleted } };
          },
        );
      }
      result = { status: 'applied', index, response: this.#execute(command) };
    } catch (error) {
      if (!StoreError.is(error)) throw error;
      result = { status: 'rejected', index, error };
    }
    return this.#applied(result);
  }

  /** True while a command {@link applyInSteps} left under way has steps to go. */
  get applyingInSteps(): boolean {
    return this.#stepping !== undefined;
  }

  /** Moves the applied index to the result's and publishes its events. */
  #applied(result: ApplyResult): ApplyResult {
    this.#appliedIndex = result.index;
    this.#publish();
    return result;
  }

  /**
   * A command whose writes are deletes, in steps of `keysMax` keys (see
   * applyInSteps): `deletion` walks them in `execution`'s open write, and
   * `respond` builds the response once the write is committed (its header
   * then holds the revision after the command). The result at once when the
   * first step ends it, else the steps.
   */
  #writeInSteps<T>(
    index: number,
    keysMax: number,
    begin: (execution: Execution) => { step(keysMax: number): T | undefined },
    respond: (outcome: T, execution: Execution) => CommandResponse,
  ): ApplyResult | ApplySteps {
    const { write, execution } = this.#beginWrite();
    const deletion = begin(execution);
    let result: ApplyResult | undefined;
    const step = (stepKeys: number): ApplyResult | undefined => {
      if (result !== undefined) return result;
      let outcome: T | undefined;
      try {
        outcome = deletion.step(stepKeys);
      } catch (error) {
        write.rollback();
        this.#stepping = undefined;
        throw error; // a delete refuses nothing: only a broken invariant ends up here
      }
      if (outcome === undefined) return undefined;
      this.#commitWrite(write, execution);
      this.#stepping = undefined;
      result = this.#applied({ status: 'applied', index, response: respond(outcome, execution) });
      return result;
    };
    const first = step(keysMax);
    if (first !== undefined) return first;
    this.#stepping = { finish: () => void step(Number.POSITIVE_INFINITY) };
    return {
      index,
      step: (stepKeys) => {
        assert(stepKeys >= 1, 'ApplySteps.step: keysMax must be at least 1');
        return step(stepKeys);
      },
    };
  }

  /** Finishes at once a command applyInSteps left under way: what reads the store whole calls this first. */
  #settleSteps(): void {
    this.#stepping?.finish();
  }

  /** Records that the entry at `index` carried no command (an empty entry or a membership change). */
  markApplied(index: number): void {
    assert(this.#restoring === undefined, `markApplied(${index}) during a snapshot restore`);
    assert(this.#stepping === undefined, `markApplied(${index}) while a command is applied in steps`);
    if (index <= this.#appliedIndex) return;
    assert(Number.isSafeInteger(index) && index <= REVISION_MAX, `markApplied: bad index ${index}`);
    this.#appliedIndex = index;
  }

  /** etcd's Range on the applied state. Throws CompactedError, FutureRevisionError, EmptyKeyError. */
  range(request: RangeRequest): RangeResponse {
    validateRange(request);
    return executeRange(this.#kv, request, this.#kv.currentRevision, { revision: this.#kv.currentRevision });
  }

  /** A txn that writes nothing, served from the applied state without the log (etcd does the same). */
  readTxn(request: TxnRequest): TxnResponse {
    validateTxn(request);
    if (!isReadOnlyTxn(request)) throw new NotReadOnlyError();
    const revision = this.#kv.currentRevision;
    return executeTxn({ store: this.#kv, write: undefined, compareRevision: revision, header: { revision } }, request);
  }

  /** Events on a key range from a past revision, for watches that start there. Throws CompactedError. */
  history(query: HistoryQuery): HistoryResult {
    return queryHistory(this.#kv, query);
  }

  /** The leases granted and not revoked, by ascending id. */
  leases(): Lease[] {
    return this.#kv.leases.list();
  }

  /** The keys attached to a lease, in byte order (for LeaseTimeToLive with keys); empty for an unknown lease. */
  leaseKeys(id: bigint): Uint8Array[] {
    return this.#kv.leases.keysOf(id).map(fromByteString);
  }

  /** HashKV-like digest of the kv data up to `revision` (<= 0: current). */
  hash(revision = 0): KvHash {
    this.#kv.settleCompaction();
    const upTo = this.#kv.resolveReadRevision(revision, this.#kv.currentRevision);
    return hashRecords(this.#kv.log, upTo, this.#kv.compactRevision);
  }

  /** {@link hash} as a job its caller steps between other work (a large state takes seconds in one call); the revision is resolved now. */
  beginHash(revision = 0): HashJob {
    this.#kv.settleCompaction(); // the job walks the log: it must hold what a settled store holds
    const upTo = this.#kv.resolveReadRevision(revision, this.#kv.currentRevision);
    return new HashJob(this.#kv.log, upTo, this.#kv.compactRevision);
  }

  /**
   * The whole state as deterministic bytes: equal states give equal bytes.
   * One synchronous call: the records are listed in one array first, whose
   * sizes size the buffer (the cursor of {@link captureSnapshot} cannot).
   */
  snapshot(): Uint8Array {
    this.#settleSteps();
    return encodeSnapshot(this.#capture(this.#kv.recordsByKey()));
  }

  /**
   * The whole state as it is now, for a {@link SnapshotEncoder} to encode
   * later, piece by piece, while this store goes on applying. It stays as
   * captured: the records come from a KeyOrderCapture (one pass copying the
   * key order; each key's records are read when the encoder reaches them,
   * and a compaction meanwhile preserves them first), and leases, alarms
   * and auth are copied out. The caller encodes it to the end or releases
   * it (releaseSnapshotState): until then each compaction copies the
   * records it rewrites.
   */
  captureSnapshot(): SnapshotState {
    this.#settleSteps();
    return this.#capture(this.#kv.captureByKey());
  }

  #capture(records: SnapshotState['records']): SnapshotState {
    return {
      appliedIndex: this.#appliedIndex,
      currentRevision: this.#kv.currentRevision,
      compactRevision: this.#kv.compactRevision,
      leases: this.#kv.leases.list(),
      alarms: this.#alarms.list(),
      auth: this.#auth.isInitial ? undefined : this.#auth.toSnapshot(),
      records,
    };
  }

  /** Replaces the whole state with a snapshot's; listeners stay. Throws MalformedBytesError and leaves the state unchanged. */
  restore(bytes: Uint8Array): void {
    const restore = this.beginRestore(bytes);
    while (!restore.step(Number.POSITIVE_INFINITY));
  }

  /**
   * Starts replacing the whole state with a snapshot's, in bounded steps
   * (restore.ts): `step(workMax)` until it returns true, at which point the
   * new state, applied index included, is taken over in one assignment.
   * Until then every read sees the old state whole, and nothing may be
   * applied (an entry applied to the old state would be lost in the swap,
   * and one after the snapshot's index belongs on the new state): apply()
   * asserts. A step that throws MalformedBytesError ends the restore and
   * leaves the state unchanged; so does `abandon()`. A newer restore
   * supersedes an unfinished one (its steps then assert).
   */
  beginRestore(bytes: Uint8Array): StoreRestore {
    assert(this.#stepping === undefined, 'beginRestore while a command is applied in steps');
    const restore = new SnapshotRestore(bytes);
    const token: object = {};
    this.#restoring = token;
    const end = (): void => {
      if (this.#restoring === token) this.#restoring = undefined;
    };
    return {
      step: (workMax) => {
        assert(this.#restoring === token, 'restore: superseded or abandoned');
        try {
          if (!restore.step(workMax)) return false;
        } catch (error) {
          end();
          throw error;
        }
        end();
        const { kv, alarms, auth, appliedIndex } = restore.result;
        this.#kv = kv;
        this.#alarms = alarms;
        this.#auth = auth;
        this.#appliedIndex = appliedIndex;
        return true;
      },
      abandon: end,
      get recordsDecoded() {
        return restore.recordsDecoded;
      },
    };
  }

  /** True between beginRestore() and the restore's end. */
  get restoring(): boolean {
    return this.#restoring !== undefined;
  }

  /** Calls `listener` with the events of every command applied from now on; returns a function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every command but the two applyInSteps runs through #writeInSteps (a DeleteRange, a lease revoke), in one call. */
  #execute(command: Exclude<Command, { type: 'deleteRange' | 'leaseRevoke' }>): CommandResponse {
    this.#refuseIfAuthMoved(command); // etcd's auth applier wraps the quota one
    this.#refuseIfCapped(command);
    switch (command.type) {
      case 'put':
        return { type: 'put', response: this.#write((execution) => executePut(execution, command.request)) };
      case 'txn':
        return { type: 'txn', response: this.#write((execution) => executeTxn(execution, command.request)) };
      case 'compact':
        return { type: 'compact', response: this.#compact(command.request.revision) };
      case 'leaseGrant':
        return { type: 'leaseGrant', response: this.#grant(command.request.id, command.request.ttlSeconds) };
      case 'alarm':
        return { type: 'alarm', response: { header: { revision: this.#kv.currentRevision }, alarms: this.#alarms.apply(command.request) } };
      case 'auth':
        return { type: 'auth', response: { header: { revision: this.#kv.currentRevision }, request: command.request, authRevision: this.#auth.apply(command.request) } };
    }
  }

  /**
   * etcd's authApplierV3: a write checked against an older auth state than
   * the one it applies on is refused, the same way on every member (the
   * stamp is in the entry). etcd's clients authenticate again and retry on
   * this error.
   */
  #refuseIfAuthMoved(command: Command): void {
    if (command.authRevision === undefined || !this.#auth.enabled) return;
    if (command.authRevision < this.#auth.revision) throw new AuthOldRevisionError();
  }

  /** etcd's applierV3Capped: while NOSPACE is raised, nothing that can grow the space applies. */
  #refuseIfCapped(command: Command): void {
    if (!this.#alarms.has('NOSPACE')) return;
    const grows = command.type === 'put' || command.type === 'leaseGrant' || (command.type === 'txn' && txnPuts(command.request));
    if (grows) throw new AlarmNoSpaceError();
  }

  /**
   * Runs `body` in one write txn: on a StoreError (or when it puts keys
   * beyond the space quota) every write is undone and the error propagates; otherwise the writes commit at one revision, the
   * shared header gets the revision after the command, and its events wait
   * for apply() to publish them.
   */
  #write<T>(body: (execution: Execution) => T): T {
    const { write, execution } = this.#beginWrite();
    let response: T;
    try {
      response = body(execution);
      if (write.puts > 0 && this.#kv.usedBytes > this.#quotaBytes) {
        // A compaction still dropping its records (compactInSteps) counts them until it is done, and how far it got
        // differs from member to member: every member must refuse or take this write alike, as if it were done.
        this.#kv.settleCompaction();
        if (this.#kv.usedBytes > this.#quotaBytes) throw new NoSpaceError(this.#kv.usedBytes, this.#quotaBytes);
      }
    } catch (error) {
      write.rollback();
      throw error;
    }
    this.#commitWrite(write, execution);
    return response;
  }

  /** Opens the write of one command, with the header its responses share. */
  #beginWrite(): { write: WriteTxn; execution: Execution } {
    const compareRevision = this.#kv.currentRevision;
    const write = this.#kv.beginWrite();
    return { write, execution: { store: this.#kv, write, compareRevision, header: { revision: compareRevision } } };
  }

  /** Commits a command's write: the shared header gets the revision after it, and its events wait for #applied to publish them. */
  #commitWrite(write: WriteTxn, execution: Execution): void {
    execution.header.revision = write.commit();
    if (this.#listeners.size > 0 && write.changes.length > 0) {
      this.#pendingBatch = lazyEventBatch(write.main, write.changes);
    }
  }

  #publish(): void {
    const batch = this.#pendingBatch;
    if (batch === undefined) return;
    this.#pendingBatch = undefined;
    for (const listener of this.#listeners) listener(batch);
  }

  #compact(revision: number): CompactionResponse {
    const current = this.#kv.currentRevision;
    if (revision <= this.#kv.compactRevision) throw new CompactedError(revision, this.#kv.compactRevision);
    if (revision > current) throw new FutureRevisionError(revision, current);
    this.#kv.compact(revision, this.#compactInSteps);
    return { header: { revision: current } };
  }

  #grant(id: bigint, ttlSeconds: number): LeaseGrantResponse {
    if (this.#kv.leases.has(id)) throw new LeaseExistsError(id);
    if (this.#kv.leases.size >= LEASES_MAX) throw new TooManyLeasesError(LEASES_MAX);
    this.#kv.leases.grant(id, ttlSeconds);
    return { header: { revision: this.#kv.currentRevision }, id, ttlSeconds };
  }

}
