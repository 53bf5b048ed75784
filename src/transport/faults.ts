import type { NodeId } from '../raft/types.js';
import { TransportConfigError } from './errors.js';
import { TIMING_MS_MAX } from './limits.js';

/** Uniform integers in [0, maxExclusive): the transport's only randomness (jitter and fault drops). */
export interface TransportRandom {
  int(maxExclusive: number): number;
}

/** `Math.random`, for production. */
export const systemTransportRandom: TransportRandom = Object.freeze({
  int: (maxExclusive: number) => Math.floor(Math.random() * maxExclusive),
});

const PROBABILITY_SCALE = 1_000_000;

/**
 * Faults injected at this node's transport, for tests and the bench. They
 * act on raft messages only (handshakes and pings are untouched, so a
 * partition still shows the peer as connected, as a packet filter on raft
 * traffic would):
 *
 * - `drop(peer, p)`: each message sent to `peer` is dropped with probability p.
 * - `delay(peer, ms)`: messages sent to `peer` wait `ms` before entering its
 *   queue; order is kept (a message never overtakes an earlier one).
 * - `partition(peers)`: nothing is sent to, or delivered from, these peers
 *   (adds to any earlier partition).
 * - `heal()`: clears every fault; messages already delayed still arrive.
 *
 * A dropped message counts in the peer's `faultDroppedMessages`, not in
 * `droppedMessages` (which counts overload only).
 */
export class FaultHook {
  #dropProbability = new Map<NodeId, number>();
  #delayMs = new Map<NodeId, number>();
  #partitioned = new Set<NodeId>();

  constructor(private readonly random: TransportRandom) {}

  drop(peer: NodeId, probability: number): void {
    if (!(probability >= 0 && probability <= 1)) throw new TransportConfigError('drop probability must be in 0..1');
    if (probability === 0) this.#dropProbability.delete(peer);
    else this.#dropProbability.set(peer, probability);
  }

  delay(peer: NodeId, ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0 && ms <= TIMING_MS_MAX)) throw new TransportConfigError(`delay must be in 0..${TIMING_MS_MAX} ms`);
    if (ms === 0) this.#delayMs.delete(peer);
    else this.#delayMs.set(peer, ms);
  }

  partition(peers: readonly NodeId[]): void {
    for (const peer of peers) this.#partitioned.add(peer);
  }

  heal(): void {
    this.#dropProbability.clear();
    this.#delayMs.clear();
    this.#partitioned.clear();
  }

  /** True when an outbound message to `peer` must be dropped now (draws randomness only when a drop fault is set). */
  dropsOutbound(peer: NodeId): boolean {
    if (this.#partitioned.has(peer)) return true;
    const probability = this.#dropProbability.get(peer);
    if (probability === undefined) return false;
    return this.random.int(PROBABILITY_SCALE) < probability * PROBABILITY_SCALE;
  }

  /** True when an inbound message from `peer` must be discarded. */
  dropsInbound(peer: NodeId): boolean {
    return this.#partitioned.has(peer);
  }

  /** The delay for messages to `peer`, 0 for none. */
  delayMsFor(peer: NodeId): number {
    return this.#delayMs.get(peer) ?? 0;
  }
}
