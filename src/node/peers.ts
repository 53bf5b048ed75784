import type { NodeId } from '../raft/types.js';
import type { Logger } from './logger.js';
import { joiningRaftId } from './membership.js';

/** What the peer book drives: the peer transport's address table. */
export interface PeerDialer {
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
}

/**
 * The member's peer address book: which address the transport dials for
 * each raft id. It remembers what it gave the transport, so an unchanged
 * address is never redialled, and it drops the guesses a member starts with
 * (see `initialPeers`) once the replicated membership says who is who.
 */
export class PeerBook {
  readonly #addresses = new Map<NodeId, string>();
  #guessesPruned = false;
  readonly #dialer: PeerDialer;
  readonly #selfId: () => NodeId;
  readonly #log: Logger;

  constructor(dialer: PeerDialer, selfId: () => NodeId, log: Logger) {
    this.#dialer = dialer;
    this.#selfId = selfId;
    this.#log = log;
  }

  /** Records the peers the transport was created with (it dials them already). */
  started(peers: Record<NodeId, string>): void {
    for (const [id, address] of Object.entries(peers)) this.#addresses.set(id, address);
  }

  /** Points the transport at `address` for `id` (not this member, not an address it has). */
  set(id: NodeId, address: string): void {
    if (id === this.#selfId() || this.#addresses.get(id) === address) return;
    try {
      this.#dialer.setPeer(id, address);
      this.#addresses.set(id, address);
    } catch (error) {
      this.#log.warn('cannot reach a member at its peer address', { member: id, address, error: (error as Error).message });
    }
  }

  /** A member removed from the cluster: the transport forgets it. */
  remove(id: NodeId): void {
    if (id === this.#selfId()) return;
    this.#dialer.removePeer(id);
    this.#addresses.delete(id);
  }

  /** Whether the starting guesses are still in the book (until the member has caught up once). */
  get guessing(): boolean {
    return !this.#guessesPruned;
  }

  /**
   * Points the transport at every member's replicated address. Once this
   * member has caught up (`caughtUp`) and is itself a member, drops peers
   * that are not members: a joining member's guesses at ids, and names in
   * --peers that are not raft ids.
   */
  sync(replicated: Iterable<[NodeId, string]>, members: ReadonlySet<NodeId>, caughtUp: boolean): void {
    for (const [id, address] of replicated) this.set(id, address);
    if (this.#guessesPruned || !caughtUp || !members.has(this.#selfId())) return;
    for (const id of [...this.#addresses.keys()]) {
      if (members.has(id)) continue;
      this.#dialer.removePeer(id);
      this.#addresses.delete(id);
    }
    this.#guessesPruned = true;
  }
}

/**
 * The transport's first peers, from --peers. A joining member does not yet
 * know which of them joined later (their raft ids are MemberAdd's, not
 * their names), so it also lists each address under the id MemberAdd
 * would have given it; whichever is right lets the leader in and the
 * answers out. The wrong ones are dropped once the log says who is who
 * (PeerBook.sync).
 */
export function initialPeers(peers: Record<string, string>, self: { name: string; raftId: NodeId; clusterName: string }, joining: boolean): Record<NodeId, string> {
  const out: Record<NodeId, string> = {};
  for (const [name, address] of Object.entries(peers)) {
    if (name === self.name) continue;
    out[name] = address;
    if (joining) out[joiningRaftId(self.clusterName, address)] = address;
  }
  delete out[self.raftId];
  return out;
}
