import { Progress } from './progress.js';
import { hasQuorum, majorityCommitted, majorityValue, voteResult } from './quorum.js';
import type { VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

/**
 * The leader's view of every member (replication progress) and a
 * candidate's tally of votes, for the current membership.
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(
    readonly inflightCapacity: number,
    readonly inflightBytesMax: number,
  ) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  /**
   * Switches to `conf`: members that left lose their progress, members that
   * joined start probing from `nextIndex`, and a learner promoted to voter
   * keeps its progress.
   */
  setConfig(conf: ConfState, nextIndex: number): void {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of [...conf.voters, ...conf.learners]) {
      const existing = this.progress.get(id);
      const isLearner = this.learners.has(id);
      if (existing) {
        existing.isLearner = isLearner;
        continue;
      }
      const progress = new Progress(nextIndex, isLearner, this.inflightCapacity, this.inflightBytesMax);
      // A new member counts as active so that CheckQuorum does not depose the leader before it is heard from.
      progress.recentActive = true;
      this.progress.set(id, progress);
    }
  }

  /** Highest index replicated on a majority of voters. */
  committed(): number {
    return majorityCommitted(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** The leader tick a majority of voters has acknowledged a heartbeat from (for the leader lease). */
  quorumAckedTick(): number {
    return majorityValue(this.voters, (id) => this.progress.get(id)?.ackedTick ?? Number.NEGATIVE_INFINITY);
  }

  /** True if a majority of voters was heard from recently; `self` always counts. */
  quorumActive(self: NodeId): boolean {
    return hasQuorum(this.voters, (id) => id === self || this.progress.get(id)?.recentActive === true);
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }

  resetVotes(): void {
    this.votes.clear();
  }
}
