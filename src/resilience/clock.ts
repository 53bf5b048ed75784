import { FAKE_CLOCK_TIMERS_PER_ADVANCE_MAX } from './limits.js';
import { AssertionError, ConfigError } from './errors.js';

/** An opaque handle for a timer started by a `Clock`. */
export type TimerHandle = unknown;

/**
 * Time as the policies see it. Every policy takes one, so tests can drive
 * time by hand. `now()` is milliseconds since the Unix epoch (so HTTP dates in
 * `Retry-After` can be compared with it); deadlines in a `PolicyContext` are
 * absolute values of the same clock, so policies composed together should
 * share one clock.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

const timeOrigin = performance.timeOrigin;

/**
 * The real clock: `performance.timeOrigin + performance.now()`, which reads
 * like `Date.now()` but does not jump when the wall clock is stepped.
 */
export const systemClock: Clock = Object.freeze({
  now: () => timeOrigin + performance.now(),
  setTimeout: (callback: () => void, delayMs: number): TimerHandle => setTimeout(callback, delayMs),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

interface FakeTimer {
  readonly id: number;
  readonly dueMs: number;
  readonly callback: () => void;
}

/** Lets every queued promise continuation run (microtasks drain before a macrotask). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A clock for tests: time moves only when `advance` is called. Timers fire in
 * due order (ties in creation order) and promise continuations run between
 * timers, so `await clock.advance(1000)` plays out a second of policy
 * behaviour without sleeping.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    if (!Number.isFinite(startMs)) throw new ConfigError('FakeClock start must be finite');
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.#nextId++;
    const dueMs = this.#nowMs + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0);
    const timer: FakeTimer = { id, dueMs, callback };
    // Keep the list sorted by due time, stable for equal due times.
    let index = this.#timers.length;
    while (index > 0 && (this.#timers[index - 1] as FakeTimer).dueMs > dueMs) index--;
    this.#timers.splice(index, 0, timer);
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    const index = this.#timers.findIndex((timer) => timer.id === handle);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `deltaMs`, firing due timers in order and letting promises settle between them. */
  async advance(deltaMs: number): Promise<void> {
    if (!(deltaMs >= 0)) throw new ConfigError('FakeClock.advance needs a non-negative delta');
    const targetMs = this.#nowMs + deltaMs;
    await flushMicrotasks();
    for (let fired = 0; ; fired++) {
      if (fired > FAKE_CLOCK_TIMERS_PER_ADVANCE_MAX) throw new AssertionError('FakeClock: too many timers in one advance (a timer loop?)');
      const timer = this.#timers[0];
      if (timer === undefined || timer.dueMs > targetMs) break;
      this.#timers.shift();
      this.#nowMs = Math.max(this.#nowMs, timer.dueMs);
      timer.callback();
      await flushMicrotasks();
    }
    this.#nowMs = targetMs;
    await flushMicrotasks();
  }

  /** Sets the time without firing timers' callbacks that fall in between; for tests of pure state machines. */
  set(nowMs: number): void {
    if (nowMs < this.#nowMs) throw new ConfigError('FakeClock cannot go backwards');
    this.#nowMs = nowMs;
  }
}
