/**
 * Keeps one lease alive in the background, as etcd's client does: a
 * renewal at once, then every TTL/3 (the TTL the server last reported).
 * Each renewal is one call with the client's read rules (a renewal is
 * idempotent), so a member that fails is left for another within the
 * call's deadline, which is the time left before the lease would expire.
 * The lease is reported lost (`lost` resolves with a LeaseLostError) when
 * the server says it no longer has it, or when no renewal succeeded before
 * the TTL ran out, counted from the last renewal sent that succeeded.
 * `close()` stops renewing; it does not revoke.
 */
import type { Clock, TimerHandle } from '../resilience/index.js';
import { KeelClientError, LeaseLostError, ServerError } from './errors.js';
import { KEEPALIVE_INTERVAL_MS_MIN } from './limits.js';

/** Renews the lease once; resolves with the TTL the server granted (≤ 0: the lease is gone). */
export type RenewLease = (id: string, timeoutMs: number, signal: AbortSignal) => Promise<number>;

/** True when the server's answer says the lease does not exist. */
export function isLeaseNotFound(error: unknown): boolean {
  return error instanceof ServerError && (error.grpcCode === 5 || error.status === 404 || /lease not found/i.test(error.serverMessage));
}

export class LeaseKeepAlive {
  /** The lease id (decimal string). */
  readonly id: string;
  /** Resolves (never rejects) with the reason once the lease is lost; stays pending after close(). */
  readonly lost: Promise<LeaseLostError>;
  readonly #renew: RenewLease;
  readonly #clock: Clock;
  readonly #controller = new AbortController();
  readonly #untrack: () => void;
  #resolveLost!: (error: LeaseLostError) => void;
  #timer: TimerHandle | undefined;
  #ttlSeconds = 0;
  #expiresAtMs: number;
  #renewals = 0;
  #running: Promise<void> | undefined;
  #done = false;

  /** Use KeelClient.leaseKeepAlive(). */
  constructor(id: string, renew: RenewLease, clock: Clock, track: (close: () => void) => () => void, initialTtlSeconds?: number) {
    this.id = id;
    this.#renew = renew;
    this.#clock = clock;
    this.#expiresAtMs = initialTtlSeconds === undefined ? Infinity : clock.now() + initialTtlSeconds * 1000;
    this.lost = new Promise((resolve) => {
      this.#resolveLost = resolve;
    });
    this.#untrack = track(() => void this.close());
    this.#tick();
  }

  /** The TTL the server reported at the last renewal, in seconds (0 before the first). */
  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }

  /** Successful renewals so far. */
  get renewals(): number {
    return this.#renewals;
  }

  /** True once lost or closed. */
  get stopped(): boolean {
    return this.#done;
  }

  /** Stops renewing (the lease then expires after its TTL unless revoked). Idempotent. */
  async close(): Promise<void> {
    this.#stop();
    await this.#running;
  }

  #stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller.abort();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#untrack();
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#done) return;
    this.#running = this.#renewOnce().finally(() => {
      this.#running = undefined;
    });
  }

  async #renewOnce(): Promise<void> {
    const sentAtMs = this.#clock.now();
    // The call may use the time left before the lease would expire (at least one retry interval).
    const timeoutMs = Math.max(KEEPALIVE_INTERVAL_MS_MIN * 2, Math.min(this.#expiresAtMs - sentAtMs, 30_000));
    let nextDelayMs: number;
    try {
      const ttlSeconds = await this.#renew(this.id, timeoutMs, this.#controller.signal);
      if (this.#done) return;
      if (ttlSeconds <= 0) return this.#lose(new LeaseLostError(this.id, 'not-found'));
      this.#ttlSeconds = ttlSeconds;
      this.#renewals++;
      this.#expiresAtMs = sentAtMs + ttlSeconds * 1000;
      nextDelayMs = Math.max(KEEPALIVE_INTERVAL_MS_MIN, (ttlSeconds * 1000) / 3);
    } catch (error) {
      if (this.#done) return;
      if (isLeaseNotFound(error)) return this.#lose(new LeaseLostError(this.id, 'not-found', error));
      if (this.#clock.now() >= this.#expiresAtMs) return this.#lose(new LeaseLostError(this.id, 'expired', error));
      // Still time left: try again soon (the call itself already tried other members).
      nextDelayMs = KEEPALIVE_INTERVAL_MS_MIN;
      if (!KeelClientError.is(error)) nextDelayMs *= 2;
    }
    this.#timer = this.#clock.setTimeout(() => this.#tick(), nextDelayMs);
  }

  #lose(error: LeaseLostError): void {
    this.#stop();
    this.#resolveLost(error);
  }
}
