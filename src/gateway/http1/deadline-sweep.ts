/** Something with a deadline the sweep checks on each tick. */
export interface Expiring {
  /** Acts if its deadline passed by `nowMs` (a timeout fires, an idle connection closes); nothing otherwise. */
  expireIfDue(nowMs: number): void;
}

/**
 * One coarse timer for many deadlines (the fast path's upstream
 * connections): a tick every `tickMs` checks each entry, instead of a timer
 * armed and cleared per request (socket.setTimeout re-links node's timer
 * list on every call). A deadline fires up to `tickMs` late, plus whatever
 * the event loop lags. The interval runs only while there are entries and
 * never keeps the process alive. `nowMs` is the time read at the last tick
 * or `now()`: a cheap, slightly stale clock for marking activity per chunk.
 * It is monotonic (`performance.now()`), as are the listeners' header and
 * keep-alive sweeps: a wall-clock step (NTP, a VM resumed) must neither cut
 * every idle connection at once nor hold a slowloris past its timeout.
 * The entries are the open upstream connections, bounded by the clusters'
 * maxConnections per address.
 */
export class DeadlineSweep {
  nowMs = performance.now();
  readonly #entries = new Set<Expiring>();
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  /** Reads the clock (and refreshes `nowMs`). */
  now(): number {
    this.nowMs = performance.now();
    return this.nowMs;
  }

  add(entry: Expiring): void {
    this.#entries.add(entry);
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  delete(entry: Expiring): void {
    this.#entries.delete(entry);
    if (this.#entries.size === 0) this.stop();
  }

  /** Stops the timer (entries added later start it again). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const nowMs = this.now();
    for (const entry of this.#entries) entry.expireIfDue(nowMs);
  }
}
