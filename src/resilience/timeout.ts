import { type Clock, systemClock } from './clock.js';
import { type DeadlineHeap, deadlineHeapFor } from './deadline-heap.js';
import { DeadlineExceededError, TimeoutError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { checkRange } from './options.js';
import { type ExecuteOptions, invoke, type Operation, type Policy, type PolicyContext, toContext } from './policy.js';
import { runStages, STAGE, type Stage } from './stage.js';
import { TimedContext } from './timed-context.js';

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
  readonly #deadlines: DeadlineHeap;
  #calls = 0;
  #timeouts = 0;
  #deadlinesExceeded = 0;
  #refused = 0;

  constructor(options: TimeoutOptions) {
    this.timeoutMs = options.timeoutMs === Infinity ? Infinity : checkRange('timeoutMs', options.timeoutMs, 0, Number.MAX_SAFE_INTEGER);
    this.mode = options.mode ?? 'cooperative';
    this.#onlyWithoutDeadline = options.onlyWithoutDeadline ?? false;
    this.#clock = options.clock ?? systemClock;
    this.#deadlines = deadlineHeapFor(this.#clock);
  }

  /**
   * The fast path: a cooperative timeout only waits for the function, so it
   * fuses with its neighbours; an aggressive one races the function and runs
   * its general path.
   */
  readonly [STAGE]: Stage = {
    admits: () => this.mode === 'cooperative',
    enter: (context) => this.#enter(context),
    inner: (token, context) => (token as TimedContext | undefined) ?? context,
    leave: (token, _context, run) => {
      const call = token as TimedContext | undefined;
      if (call === undefined) return undefined;
      this.#leave(call);
      // A function that stopped because of our abort reports whatever error it
      // likes (DOMException AbortError, ECONNRESET ...); the caller gets ours.
      if (!run.ok && call.expired !== undefined) run.value = call.expired;
      return undefined;
    },
    general: (fn, context) => this.#executeGeneral(fn, context),
  };

  readonly #stages: readonly Stage[] = [this[STAGE]];

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return runStages(this.#stages, 0, fn, toContext(options));
  }

  stats(): TimeoutStats {
    return { calls: this.#calls, timeouts: this.#timeouts, deadlinesExceeded: this.#deadlinesExceeded, refused: this.#refused };
  }

  /** Counts the call, refuses it when already late, and schedules its deadline (undefined when it has none). */
  #enter(context: PolicyContext): TimedContext | undefined {
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
    if (deadlineMs === Infinity) return undefined;
    const call = new TimedContext(context, nowMs, deadlineMs, ownDeadlineMs <= callerDeadlineMs ? this.#expireOwn : this.#expireCaller);
    this.#deadlines.add(call);
    return call;
  }

  #leave(call: TimedContext): void {
    this.#deadlines.remove(call);
    call.settle();
  }

  // One function per kind, made once, so a call allocates no closure for its deadline.
  readonly #expireOwn = (call: TimedContext): void => {
    this.#timeouts++;
    if (this.events.active) this.events[EMIT]({ type: 'timeout', limitMs: this.timeoutMs, kind: 'timeout' });
    call.expire(new TimeoutError(this.timeoutMs));
  };

  readonly #expireCaller = (call: TimedContext): void => {
    this.#deadlinesExceeded++;
    if (this.events.active) this.events[EMIT]({ type: 'timeout', limitMs: call.deadlineMs - call.startedMs, kind: 'deadline' });
    call.expire(new DeadlineExceededError(call.deadlineMs, this.#clock.now()));
  };

  async #executeGeneral<T>(fn: Operation<T>, context: PolicyContext): Promise<T> {
    const call = this.#enter(context);
    if (call === undefined) return invoke(fn, context);
    try {
      const running = invoke(fn, call);
      if (this.mode === 'cooperative') return await running;
      const early = new Promise<never>((_resolve, reject) => call.onExpired(reject));
      return await Promise.race([running, early]);
    } catch (error) {
      throw call.expired ?? error;
    } finally {
      this.#leave(call);
    }
  }
}

/** A timeout of `timeoutMs`; see `TimeoutPolicy`. */
export function timeout(timeoutMs: number, options: Omit<TimeoutOptions, 'timeoutMs'> = {}): TimeoutPolicy {
  return new TimeoutPolicy({ ...options, timeoutMs });
}
