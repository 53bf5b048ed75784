import { LeaderElection } from '../raft/types.js';

/** What LostWrites keeps on each waiting write (part of the member's note on it). */
export interface LostWriteNote {
  /** Set at a leader change: the term of the leader it was proposed under. */
  lostAfterTerm?: number;
  /** When it was marked (member clock, ms). */
  markedAt?: number;
}

/** What LostWrites needs of the member. */
export interface LostWritesHost<Note extends LostWriteNote> {
  /** The waiting writes, oldest first; failing the one at hand while iterating must be fine (Wait.notes is). */
  notes(): Iterable<[string, Note]>;
  /** The member's clock (ms); a skewed clock skews the grace, as it does the ticks. */
  now(): number;
  /** How long a write that may have been held is given to land: LOST_WRITE_GRACE_ELECTIONS election timeouts. */
  graceMs(): number;
  /** Fails the write `id` as lost ("leader changed": its outcome is unknown). */
  lost(id: string): void;
  /** The newest term in which this member forwarded proposals it held through the change (RawNode.heldForwardedTerm; 0: never). */
  heldForwardedTerm(): number;
}

/**
 * Writes in flight at a leader change, and when to give up on one of them.
 *
 * They are not failed at once: most of them are in the log the next leader
 * inherits (a planned transfer hands over only to a member holding the whole
 * log), and they apply. Each is marked with the term of the leader it was
 * proposed under; a new leader commits an entry of its own term before
 * anything else, so once an entry of a later term applies, every surviving
 * earlier entry has applied. A marked write still pending then was either
 * lost (dropped, overwritten, or forwarded to a leader that died) or held by
 * a leader that was handing over and forwarded to its successor (raft.ts,
 * #held), landing just after the successor's first entry.
 *
 * So a marked write fails with "leader changed" (its outcome unknown) once an
 * entry of a later term applies, and, if that term's leader may have been
 * handed the write, once a grace has passed both since the change and since
 * the first entry of the applied term applied here (checked on each apply and
 * by the member's timer when the grace ends), not at its deadline. The second
 * clock matters on a busy machine: a held write reaches the new leader only
 * after the old one hears from it, so it lands a round trip or two behind the
 * new leader's first entry, and the writes clients send the new leader
 * directly keep applying meanwhile. Counted from the change alone, a first
 * entry that applied late left no room for that (the likely cause of one
 * write in 1,330 failing across a graceful restart on a loaded machine).
 *
 * The grace is skipped when this member saw the applied term's leader win by
 * an election of its own (LeaderElection.Election) and forwarded it nothing
 * it held through the change (a follower's forwards buffered when the term
 * changed are held for the next leader: raft.ts, #reset): its predecessor
 * was not handing over, so held nothing for it (after a kill -9 of the leader, the
 * writes forwarded to it died with it). That grace was the larger half of
 * the gap a crashed leader left (bench/failover). A transfer, or a leader
 * this member cannot place (a learner sees no vote request; nor does a
 * member that missed the campaign or restarted), keeps the grace.
 *
 * What can still land after a write failed without grace (its outcome was
 * reported unknown, so this is no error, only an ambiguity a transfer would
 * have spared): a forward that reached the old leader after it stepped down
 * without handing over (it relays it to the new leader, or holds it while no
 * leader is known and then hands it on: raft.ts, #stepFollower), and a
 * forward held by a candidate that lost.
 */
export class LostWrites<Note extends LostWriteNote> {
  readonly #host: LostWritesHost<Note>;
  /** Waiting writes marked at a leader change; 0 on the common path, so applies skip the scan. */
  #atRisk = 0;
  /** When the oldest mark still counted in #atRisk was set (a lower bound once some are gone). */
  #firstMarkedAt = 0;
  /** The term of the newest entry applied, and when the first entry of that term applied. */
  #appliedTerm = 0;
  #appliedTermSince = 0;
  /** The term of the leader this member last saw (0 before any), and how that leader was elected. */
  #leaderTerm = 0;
  #leaderElection: LeaderElection = LeaderElection.Unknown;

  constructor(host: LostWritesHost<Note>) {
    this.#host = host;
  }

  /** Waiting writes marked at a leader change and not settled yet. */
  get atRisk(): number {
    return this.#atRisk;
  }

  /** A waiting write left, however it left (call from the registry's onRemove, so the count stays right). */
  removed(note: Note): void {
    if (note.lostAfterTerm !== undefined) this.#atRisk--;
  }

  /**
   * The member saw the leader change (to none, too): every waiting write is
   * marked with the term of the leader before the change. `term` is the
   * member's term now and `election` how the new leader won it.
   */
  leaderChanged(term: number, election: LeaderElection): void {
    const now = this.#host.now();
    for (const [, note] of this.#host.notes()) {
      if (note.lostAfterTerm === undefined) {
        if (this.#atRisk++ === 0) this.#firstMarkedAt = now;
        note.markedAt = now;
      }
      note.lostAfterTerm = Math.min(note.lostAfterTerm ?? this.#leaderTerm, this.#leaderTerm);
    }
    this.#leaderTerm = term;
    this.#leaderElection = election;
  }

  /**
   * An entry of `term` applied (in log order). Fails the marked writes now
   * lost; returns in how many ms to call `recheck` while some wait out their
   * grace, else undefined.
   */
  applied(term: number): number | undefined {
    if (term > this.#appliedTerm) {
      this.#appliedTerm = term;
      this.#appliedTermSince = this.#host.now();
    }
    return this.#atRisk > 0 ? this.#failLost() : undefined;
  }

  /** The member's timer: a grace may have ended with nothing applied since. Same result as `applied`. */
  recheck(): number | undefined {
    return this.#atRisk > 0 ? this.#failLost() : undefined;
  }

  #failLost(): number | undefined {
    const appliedTerm = this.#appliedTerm;
    const graceMs = this.#graceMs(appliedTerm);
    const now = this.#host.now();
    const before = now - graceMs;
    // Every mark, or the applied term, is younger than the grace: skip the scan, and look again when it ends.
    if (this.#firstMarkedAt > before || this.#appliedTermSince > before) {
      return Math.max(this.#firstMarkedAt, this.#appliedTermSince) + graceMs - now;
    }
    // The oldest note still inside its grace is the next one due: the timer looks again then (and re-arms for the rest).
    let oldestSkipped = Infinity;
    for (const [id, note] of this.#host.notes()) {
      if (note.lostAfterTerm === undefined || appliedTerm <= note.lostAfterTerm) continue;
      if (note.markedAt! > before) {
        oldestSkipped = Math.min(oldestSkipped, note.markedAt!);
        continue;
      }
      this.#host.lost(id);
    }
    return oldestSkipped < Infinity ? oldestSkipped + graceMs - now : undefined;
  }

  /**
   * No grace when the applied term's leader is known to have won an
   * election of its own (see the class comment), unless this member itself
   * forwarded it proposals it held through the change: those land after
   * the term's first entry, like a transferring leader's.
   */
  #graceMs(appliedTerm: number): number {
    const ownElection = appliedTerm === this.#leaderTerm && this.#leaderElection === LeaderElection.Election;
    if (ownElection && this.#host.heldForwardedTerm() !== appliedTerm) return 0;
    return this.#host.graceMs();
  }
}
