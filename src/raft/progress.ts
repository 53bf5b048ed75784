import { Inflights } from './inflights.js';

/**
 * How the leader replicates to one follower:
 * - Probe: one append per heartbeat interval until the follower's match index is found.
 * - Replicate: pipelined appends, optimistically advancing `next`, bounded by inflights.
 * - Snapshot: a snapshot was sent; nothing else is sent until it is acknowledged or fails.
 * State transitions happen only in this module.
 */
export const ProgressState = { Probe: 'probe', Replicate: 'replicate', Snapshot: 'snapshot' } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

export class Progress {
  /** Highest index known replicated on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Leader tick at which the pending snapshot was sent (to retry a lost one). */
  snapshotSentTick = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In Probe state: an append is outstanding, wait for its answer (or the next heartbeat). */
  probeSent = false;
  /** Leader tick of the latest heartbeat this follower acknowledged (for the leader lease). */
  ackedTick = Number.NEGATIVE_INFINITY;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    inflightCapacity: number,
    inflightBytesMax: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(inflightCapacity, inflightBytesMax);
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot's index.
    const floor = this.state === ProgressState.Snapshot ? this.pendingSnapshot : 0;
    this.#reset(ProgressState.Probe);
    this.next = Math.max(this.match + 1, floor + 1);
  }

  becomeReplicate(): void {
    this.#reset(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number, tick: number): void {
    this.#reset(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.snapshotSentTick = tick;
  }

  /** The follower acknowledged up to `index`. Returns false if the ack is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is where it
   * might match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Bookkeeping after sending `entries` entries totalling `bytes`. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  /** True when nothing more may be sent to this follower right now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
