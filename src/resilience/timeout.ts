import { linkedController } from './abort.js';
import { type Clock, systemClock } from './clock.js';
import { DeadlineExceededError, TimeoutError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { checkRange } from './options.js';
import { type ExecuteOptions, invoke, type Operation, type Policy, toContext } from './policy.js';

/**
 * 'cooperative': abort the signal at the limit and wait for the function to
 * notice (it should pass the signal to its I/O); 'aggressive': abort the
 * signal and reject at once, leaving the function running in the background.
 */
export type TimeoutMode = 'cooperative' | 'aggressive';

export interface TimeoutOptions {
  /** The limit for each execution; `Infinity` for none (only the deadline applies). */
  readonly timeoutMs: number;
  /** Default 'cooperative', as cockatiel: a timed-out call that stops on its signal frees its resources before we move on. */
  readonly mode?: TimeoutMode;
  /** Apply `timeoutMs` only to calls that arrive without a deadline (the `deadline()` policy's default budget). */
  readonly onlyWithoutDeadline?: boolean;
  readonly clock?: Clock;
}

export type TimeoutEvent = { readonly type: 'timeout'; readonly limitMs: number; readonly kind: 'timeout' | 'deadline' } | { readonly type: 'refused'; readonly deadlineMs: number };

export interface TimeoutStats {
  readonly calls: number;
  readonly timeouts: number;
  readonly deadlinesExceeded: number;
  readonly refused: number;
}

/**
 * Bounds a call by its own timeout and by the context's deadline, whichever
 * is sooner, and narrows the deadline it passes inward to match, so that
 * downstream policies and `deadlineHeaders` see the remaining budget. Work
 * whose deadline has already passed is refused without calling the function.
 */
export class TimeoutPolicy implements Policy {
  readonly events = new EventSource<TimeoutEvent>();
  readonly timeoutMs: number;
  readonly mode: TimeoutMode;
  readonly #onlyWithoutDeadline: boolean;
  readonly #clock: Clock;
  #calls = 0;
  #timeouts = 0;
  #deadlinesExceeded = 0;
  #refused = 0;

  constructor(options: TimeoutOptions) {
    this.timeoutMs = options.timeoutMs === Infinity ? Infinity : checkRange('timeoutMs', options.timeoutMs, 0, Number.MAX_SAFE_INTEGER);
    this.mode = options.mode ?? 'cooperative';
    this.#onlyWithoutDeadline = options.onlyWithoutDeadline ?? false;
    this.#clock = options.clock ?? systemClock;
  }

  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    const nowMs = this.#clock.now();
    this.#calls++;
    const callerDeadlineMs = context.deadlineMs ?? Infinity;
    if (nowMs >= callerDeadlineMs) {
      this.#refused++;
      if (this.events.active) this.events[EMIT]({ type: 'refused', deadlineMs: callerDeadlineMs });
      throw new DeadlineExceededError(callerDeadlineMs, nowMs);
    }
    const ownDeadlineMs = this.#onlyWithoutDeadline && context.deadlineMs !== undefined ? Infinity : nowMs + this.timeoutMs;
    const deadlineMs = Math.min(ownDeadlineMs, callerDeadlineMs);
    if (deadlineMs === Infinity) return invoke(fn, context);
    const limitMs = deadlineMs - nowMs;
    const kind = ownDeadlineMs <= callerDeadlineMs ? 'timeout' : 'deadline';
    const linked = linkedController(context.signal);
    let expired: Error | undefined;
    let rejectEarly: ((error: Error) => void) | undefined;
    const timer = this.#clock.setTimeout(() => {
      expired = kind === 'timeout' ? new TimeoutError(this.timeoutMs) : new DeadlineExceededError(deadlineMs, this.#clock.now());
      if (kind === 'timeout') this.#timeouts++;
      else this.#deadlinesExceeded++;
      if (this.events.active) this.events[EMIT]({ type: 'timeout', limitMs, kind });
      linked.controller.abort(expired);
      rejectEarly?.(expired);
    }, limitMs);
    try {
      const running = invoke(fn, { ...context, signal: linked.signal, deadlineMs });
      if (this.mode === 'cooperative') return await running;
      const early = new Promise<never>((_resolve, reject) => {
        rejectEarly = reject;
      });
      return await Promise.race([running, early]);
    } catch (error) {
      // A function that stopped because of our abort reports whatever error it
      // likes (DOMException AbortError, ECONNRESET ...); the caller gets ours.
      throw expired ?? error;
    } finally {
      this.#clock.clearTimeout(timer);
      linked.dispose();
    }
  }

  stats(): TimeoutStats {
    return { calls: this.#calls, timeouts: this.#timeouts, deadlinesExceeded: this.#deadlinesExceeded, refused: this.#refused };
  }
}

/** A timeout of `timeoutMs`; see `TimeoutPolicy`. */
export function timeout(timeoutMs: number, options: Omit<TimeoutOptions, 'timeoutMs'> = {}): TimeoutPolicy {
  return new TimeoutPolicy({ ...options, timeoutMs });
}
