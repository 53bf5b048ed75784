import { SafetyViolation } from './violation.js';

/**
 * A lease is never revoked while a client holds it. A client that sent a
 * grant or a keep-alive at time t and got the TTL back may count on the
 * lease until t + TTL (etcd's clients do); a revoke that takes effect (is
 * first applied) before that broke the promise: a lock holder or an
 * elected leader lost its session while it was renewing it. The likely
 * culprits are a deposed leader whose revoke still commits, and a new
 * leader that promotes deadlines it cannot know.
 */
export class LeaseSafety {
  /** Lease id → the latest time (ms) a client was promised it until. */
  readonly #heldUntil = new Map<bigint, { until: number; how: string }>();
  revokesChecked = 0;
  renewalsAcknowledged = 0;

  /** A grant or keep-alive sent at `sentAtMs` answered with `ttlSeconds` (> 0). */
  held(id: bigint, sentAtMs: number, ttlSeconds: number, how: string): void {
    this.renewalsAcknowledged++;
    const until = sentAtMs + ttlSeconds * 1000;
    const known = this.#heldUntil.get(id);
    if (!known || until > known.until) this.#heldUntil.set(id, { until, how: `${how} at ${sentAtMs.toFixed(3)} ms` });
  }

  /** The revoke of `id` took effect at `atMs` (its first apply on any member). */
  revoked(id: bigint, atMs: number, by: string): void {
    this.revokesChecked++;
    const known = this.#heldUntil.get(id);
    this.#heldUntil.delete(id);
    if (known && atMs < known.until) {
      throw new SafetyViolation(
        'lease safety',
        `lease ${id} revoked at ${atMs.toFixed(3)} ms (${by}) while a client held it until ${known.until.toFixed(3)} ms (${known.how})`,
      );
    }
  }
}
