import type { Socket } from 'node:net';
import type { GatewayMetrics } from './metrics.js';

/**
 * Upgraded connections (WebSocket and any other `101 Switching
 * Protocols`): the client's socket spliced to the upstream's, both ways.
 * Bytes move through `pipe`, so buffering is bounded by each socket's
 * high-water mark (a side that cannot keep up pauses the other's reads).
 * Either side ending ends the other (half-close is passed on); either side
 * closing or failing closes the other once its pending bytes are written;
 * `idleTimeoutMs` without a byte either way closes both. The registry is
 * what drain and close reach: upgraded sockets have left node:http, which
 * no longer tracks them.
 */
export class UpgradeTunnels {
  /** Client sockets of open tunnels (closing one closes its upstream). */
  readonly #open = new Set<Socket>();
  #emptyWaiters: Array<() => void> = [];
  readonly #metrics: GatewayMetrics;

  constructor(metrics: GatewayMetrics) {
    this.#metrics = metrics;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Splices `client` and `upstream`; `onClosed` runs once when both are gone. */
  splice(client: Socket, upstream: Socket, idleTimeoutMs: number, onClosed: () => void): void {
    this.#open.add(client);
    this.#metrics.upgradedConnections.inc();
    let closed = 0;
    const sideClosed = (other: Socket) => () => {
      // Written-out first, then closed: an answer in flight (a WebSocket close frame) still arrives.
      if (!other.destroyed) other.destroySoon();
      if (++closed < 2) return;
      this.#open.delete(client);
      this.#metrics.upgradedConnections.dec();
      onClosed();
      if (this.#open.size === 0) this.#wake();
    };
    client.once('close', sideClosed(upstream));
    upstream.once('close', sideClosed(client));
    // A reset on one side cuts the other at once: nothing sensible can follow.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    // One idle timer does: every byte either way is a read or a write on the client's socket.
    client.setTimeout(idleTimeoutMs, () => {
      client.destroy();
      upstream.destroy();
    });
    upstream.setTimeout(0);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
  }

  /** Resolves once no tunnel is open, or after `timeoutMs`. */
  whenEmpty(timeoutMs: number): Promise<void> {
    if (this.#open.size === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#emptyWaiters.push(done);
    });
  }

  /** Cuts every tunnel now (close, the end of a drain). */
  closeAll(): void {
    for (const client of this.#open) client.destroy();
  }

  #wake(): void {
    const waiters = this.#emptyWaiters;
    this.#emptyWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
