import { RaftError } from '../raft/errors.js';
import type { RawNode } from '../raft/raw-node.js';
import type { NodeId } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import type { AlarmMember, AlarmRequest, AlarmResponse } from '../store/alarms.js';
import type { Command } from '../store/command.js';
import type { CommandResponse, StoreStateMachine } from '../store/state-machine.js';
import { autoCompactionPolicy, startAutoCompaction } from './auto-compaction.js';
import type { NodeConfig } from './config.js';
import { raftDiskBytes } from './disk-usage.js';
import { BadLeaderTransfereeError, InterruptedError, LeaderTransferTimeoutError, TransferNotLeaderError } from './errors.js';
import type { Logger } from './logger.js';
import type { NodeMetrics } from './metrics.js';
import { QUOTA_WARN_RATIO, QuotaWatch } from './quota-watch.js';

/** What Defragment did (for logs and tests). */
export interface DefragmentResult {
  /** Index of the snapshot the log was released to. */
  readonly snapshotIndex: number;
  /** Bytes under the data dir's raft/ before and after. */
  readonly diskBytesBefore: number;
  readonly diskBytesAfter: number;
}

/** What etcd's Maintenance service and the member's housekeeping need of the member. */
export interface MaintenanceHost {
  readonly config: Pick<
    NodeConfig,
    'dataDir' | 'quotaBytes' | 'requestTimeoutMs' | 'tickMs' | 'id' | 'autoCompactionMode' | 'autoCompactionRetention' | 'autoCompactionRevisionCheckMs'
  >;
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  store(): StoreStateMachine;
  raw(): RawNode;
  memberId(): bigint;
  memberIdOf(id: NodeId): bigint;
  isLeader(): boolean;
  leader(): NodeId;
  stopping(): boolean;
  stopped(): boolean;
  /** Throws the member's refusal when it does not take requests (stopping, failed, removed). */
  checkAccepting(): void;
  /** A linearizable read barrier (ReadIndex). */
  barrier(timeoutMs: number): Promise<void>;
  propose(command: Command, timeoutMs?: number): Promise<CommandResponse>;
  /** Asks the raft loop for a turn. */
  schedule(): void;
  /** Index of the newest snapshot of the applied state. */
  snapshotIndex(): number;
  /** Saves a snapshot of the applied state now and releases the log it covers. */
  saveSnapshot(): Promise<void>;
  /** Releases the log the newest snapshot covers (keeping the catch-up entries). */
  releaseLog(): void;
  /** The member's clock (ms), skewable by keel chaos. */
  now(): number;
}

/**
 * etcd's Maintenance service on a member (alarms, space, defragment,
 * MoveLeader) and the housekeeping behind it: the space quota watch, the
 * NOSPACE alarm a refused write raises, auto-compaction.
 */
export class Maintenance {
  readonly #host: MaintenanceHost;
  readonly #quotaWatch = new QuotaWatch();
  /** The NOSPACE alarm count last given to its gauge (-1: none yet). */
  #nospaceReported = -1;
  /** Set while this member's NOSPACE alarm proposal is in flight, so a burst of refused writes raises it once. */
  #raisingNoSpace = false;
  #defragmenting: Promise<DefragmentResult> | undefined;
  #stopAutoCompaction: (() => void) | undefined;

  constructor(host: MaintenanceHost) {
    this.#host = host;
  }

  /** The active alarms after a read barrier (etcd serves Alarm GET through raft: linearizable). */
  async alarmList(timeoutMs = this.#host.config.requestTimeoutMs): Promise<AlarmResponse> {
    this.#host.checkAccepting();
    await this.#host.barrier(timeoutMs);
    const store = this.#host.store();
    return { header: { revision: store.revision }, alarms: store.alarms() };
  }

  /** Activates or deactivates an alarm through the log. */
  async alarm(request: AlarmRequest, timeoutMs = this.#host.config.requestTimeoutMs): Promise<AlarmResponse> {
    const response = await this.#host.propose({ type: 'alarm', request }, timeoutMs);
    if (response.type !== 'alarm') throw new Error(`alarm answered with ${response.type}`);
    return response.response;
  }

  /** Active alarms in this member's applied state, without a barrier (Status reports them). */
  activeAlarms(): AlarmMember[] {
    return this.#host.store().alarms();
  }

  /** Bytes the raft data takes on disk (etcd's dbSize) and the state counted against the quota (dbSizeInUse). */
  spaceUsage(): { diskBytes: number; inUseBytes: number; quotaBytes: number } {
    return { diskBytes: raftDiskBytes(this.#host.config.dataDir), inUseBytes: this.#host.store().usedBytes, quotaBytes: this.#host.config.quotaBytes };
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
   * The snapshot streams off the event loop as a periodic one does
   * (snapshot-saver.ts: it waits for a periodic one already running); the
   * release is one synchronous step, and the event loop runs in between
   * (setImmediate), so ticks, raft messages and requests interleave.
   * Concurrent calls share one run.
   */
  defragment(): Promise<DefragmentResult> {
    this.#host.checkAccepting();
    this.#defragmenting ??= this.#defragmentSteps().finally(() => {
      this.#defragmenting = undefined;
    });
    return this.#defragmenting;
  }

  async #defragmentSteps(): Promise<DefragmentResult> {
    const host = this.#host;
    const diskBytesBefore = raftDiskBytes(host.config.dataDir);
    await yieldToLoop();
    if (host.stopped()) throw new InterruptedError();
    if (host.store().appliedIndex > host.snapshotIndex()) await host.saveSnapshot();
    await yieldToLoop();
    if (host.stopped()) throw new InterruptedError();
    host.releaseLog();
    await yieldToLoop();
    const diskBytesAfter = raftDiskBytes(host.config.dataDir);
    host.log.info('defragmented', { snapshotIndex: host.snapshotIndex(), diskBytesBefore, diskBytesAfter });
    return { snapshotIndex: host.snapshotIndex(), diskBytesBefore, diskBytesAfter };
  }

  /**
   * etcd's MoveLeader: only the leader accepts it; the target must be a
   * voter (by the uint64 id memberList reports); it resolves once the
   * target leads, or fails when the deadline passes first. Moving to the
   * leader itself succeeds at once, as in etcd.
   */
  async moveLeader(targetMemberId: bigint, timeoutMs = this.#host.config.requestTimeoutMs): Promise<void> {
    const host = this.#host;
    host.checkAccepting();
    if (!host.isLeader()) throw new TransferNotLeaderError();
    const target = host.raw().status().confState.voters.find((id) => host.memberIdOf(id) === targetMemberId);
    if (target === undefined) throw new BadLeaderTransfereeError(targetMemberId);
    if (target === host.config.id) return;
    host.log.info('transferring leadership', { to: target });
    try {
      host.raw().transferLeader(target);
    } catch (error) {
      throw RaftError.is(error) ? new BadLeaderTransfereeError(targetMemberId) : error;
    }
    host.schedule();
    const deadline = performance.now() + timeoutMs;
    // Bounded by the deadline; the raft core aborts a transfer that takes an election timeout, so this retries it.
    while (host.leader() !== target) {
      if (host.stopped()) throw new InterruptedError();
      if (performance.now() >= deadline) throw new LeaderTransferTimeoutError(timeoutMs);
      await delay(host.config.tickMs);
      if (host.isLeader() && host.raw().status().leadTransferee === NONE) this.#retryTransfer(target);
    }
  }

  #retryTransfer(target: NodeId): void {
    try {
      this.#host.raw().transferLeader(target);
      this.#host.schedule();
    } catch (error) {
      if (!RaftError.is(error)) throw error; // membership changed under us: the deadline decides
    }
  }

  /** After each Ready: the quota gauge, the NOSPACE gauge, and a warning once the quota is nearly used. */
  observeQuota(): void {
    const store = this.#host.store();
    // The used ratio's gauge reads the store's size when scraped (NodeMetrics.storeObserved); a labelled set costs a hash and an entry, so the alarm count is set only when it changes.
    const { crossed } = this.#quotaWatch.observe(store.usedBytes, store.quotaBytes);
    const nospace = store.alarms('NOSPACE').length;
    if (nospace !== this.#nospaceReported) {
      this.#host.metrics.alarmsActive.set({ alarm: 'NOSPACE' }, nospace);
      this.#nospaceReported = nospace;
    }
    if (crossed) {
      this.#host.log.warn('space quota nearly used: compact (or raise --quota-backend-bytes) before writes fail with NOSPACE', {
        usedBytes: store.usedBytes,
        quotaBytes: store.quotaBytes,
        thresholdRatio: QUOTA_WARN_RATIO,
      });
    }
  }

  /**
   * A write this member proposed was refused for space: raise NOSPACE for
   * this member through the log, as etcd's quota check does, so every member
   * refuses growing writes until an operator disarms it.
   */
  raiseNoSpaceAlarm(): void {
    const host = this.#host;
    const store = host.store();
    const memberId = host.memberId();
    if (this.#raisingNoSpace || host.stopping() || store.alarms('NOSPACE').some((alarm) => alarm.memberId === memberId)) return;
    this.#raisingNoSpace = true;
    host.log.warn('space quota exceeded: raising a NOSPACE alarm', { usedBytes: store.usedBytes, quotaBytes: store.quotaBytes });
    this.alarm({ action: 'activate', memberId, alarm: 'NOSPACE' })
      .catch((error: unknown) => host.log.warn('could not raise the NOSPACE alarm', { error: (error as Error).message }))
      .finally(() => {
        this.#raisingNoSpace = false;
      });
  }

  /** Starts etcd's auto-compaction when configured (the leader proposes; see auto-compaction.ts). */
  startAutoCompaction(): void {
    const host = this.#host;
    const policy = autoCompactionPolicy(host.config.autoCompactionMode, host.config.autoCompactionRetention, host.config.autoCompactionRevisionCheckMs);
    if (!policy) return;
    this.#stopAutoCompaction = startAutoCompaction(policy, {
      isLeader: () => host.isLeader() && !host.stopping(),
      revision: () => host.store().revision,
      compact: async (revision) => {
        await host.propose({ type: 'compact', request: { revision, physical: false } });
      },
      now: () => host.now(),
      log: host.log,
    });
  }

  stop(): void {
    this.#stopAutoCompaction?.();
    this.#stopAutoCompaction = undefined;
  }
}

/** A turn of the event loop (I/O and timers run), for work split into steps. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
