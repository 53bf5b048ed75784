/**
 * The clock the executors read and sleep on, injected so a test can drive the
 * schedules on a fake clock and assert exact arrival times.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin (monotonic). */
  nowMs(): number;
  /** Resolves at `atMs` (or at once if that is past); rejects with the signal's reason when aborted first. */
  sleepUntil(atMs: number, signal?: AbortSignal): Promise<void>;
}

/** The real monotonic clock. */
export const realClock: Clock = {
  nowMs: () => performance.now(),
  sleepUntil(atMs, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const delayMs = atMs - performance.now();
      if (delayMs <= 0) return void setImmediate(resolve);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, delayMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface FakeTimer {
  readonly atMs: number;
  readonly sequence: number;
  readonly resolve: () => void;
}

/**
 * A clock that moves only when told. `advanceTo` fires timers in time order
 * and lets the promise chains they wake run before firing the next, so an
 * executor's loop behaves as it would in real time, only exactly.
 */
export class FakeClock implements Clock {
  #nowMs = 0;
  #sequence = 0;
  #timers: FakeTimer[] = [];

  nowMs(): number {
    return this.#nowMs;
  }

  sleepUntil(atMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: FakeTimer = {
        atMs: Math.max(atMs, this.#nowMs),
        sequence: this.#sequence++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((other) => other !== timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Pending timers (for tests that wait for a loop to park). */
  get pending(): number {
    return this.#timers.length;
  }

  /** Fires every timer due by `targetMs`, in order, settling the work each wakes; at most `stepsMax` timers. */
  async advanceTo(targetMs: number, stepsMax = 10_000_000): Promise<void> {
    await settle();
    for (let steps = 0; steps < stepsMax; steps++) {
      const next = this.#earliest();
      if (next === undefined || next.atMs > targetMs) break;
      this.#timers = this.#timers.filter((timer) => timer !== next);
      this.#nowMs = next.atMs;
      next.resolve();
      await settle();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
    await settle();
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.#timers) {
      if (best === undefined || timer.atMs < best.atMs || (timer.atMs === best.atMs && timer.sequence < best.sequence)) best = timer;
    }
    return best;
  }
}

/** Lets pending promise chains run: a macrotask turn drains every microtask queued before it. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
