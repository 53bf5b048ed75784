import { type LinkedController, linkedController } from './abort.js';
import { RatioRetryBudget, type RetryBudget } from './budget.js';
import { type Clock, systemClock, type TimerHandle } from './clock.js';
import { AbortedError, ConfigError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { HEDGE_ATTEMPTS_MAX, LATENCY_SAMPLES_MAX } from './limits.js';
import { checkInteger, checkRange } from './options.js';
import { type ExecuteOptions, invoke, type Operation, type Policy, type PolicyContext, toContext } from './policy.js';

/**
 * Hedge after a fixed delay, or after a percentile of recent latencies:
 * `initialDelayMs` until `minSamples` are in, never less than `minDelayMs`
 * (a floor, so a run of very fast answers cannot make every call hedge).
 */
export type HedgeDelay = number | {
  readonly percentile: number;
  readonly minSamples?: number;
  readonly initialDelayMs?: number;
  readonly minDelayMs?: number;
};

export interface HedgeOptions {
  /**
   * When to send the next attempt if the previous has not answered (default
   * the 95th percentile of recent latencies, as "The Tail at Scale"
   * suggests; 100 ms until 20 samples are in).
   */
  readonly delay?: HedgeDelay;
  /** Attempts in all, the first included (default 2: one hedge, as gRPC's examples). */
  readonly maxAttempts?: number;
  /** Every hedge draws from it (default a 10% ratio budget, so hedging adds at most about a tenth to the load). */
  readonly budget?: RetryBudget;
  /** Latency samples kept for the percentile (default 1,000). */
  readonly sampleSize?: number;
  readonly clock?: Clock;
}

export const HEDGE_DEFAULTS = Object.freeze({ percentile: 0.95, minSamples: 20, initialDelayMs: 100, maxAttempts: 2, sampleSize: 1_000 });

export type HedgeEvent =
  | { readonly type: 'hedge'; readonly attempt: number; readonly afterMs: number; readonly trigger: 'delay' | 'failure' }
  | { readonly type: 'budget-exhausted'; readonly attempt: number }
  | { readonly type: 'won'; readonly attempt: number; readonly durationMs: number };

export interface HedgeStats {
  readonly calls: number;
  readonly hedges: number;
  readonly hedgeWins: number;
  readonly budgetExhausted: number;
  readonly delayMs: number;
}

/** Thrown into a losing attempt's signal. */
export class HedgeLostReason extends AbortedError {
  constructor() {
    super('another hedged attempt answered first');
  }
}

/**
 * Hedged requests: if an attempt has not answered after the hedge delay,
 * send another (bounded by `maxAttempts` and the budget); the first success
 * wins and the other attempts' signals are aborted. A failed attempt triggers
 * the next hedge at once (gRPC's rule for non-fatal failures); the call fails
 * only when every attempt launched has failed, with the last error. Only
 * hedge idempotent work.
 */
export class HedgePolicy implements Policy {
  readonly events = new EventSource<HedgeEvent>();
  readonly maxAttempts: number;
  readonly #delay: HedgeDelay;
  readonly #budget: RetryBudget;
  readonly #clock: Clock;
  readonly #samples: Float64Array;
  #sampleCount = 0;
  #sampleNext = 0;
  #cachedDelayMs: number | undefined;
  #stats = { calls: 0, hedges: 0, hedgeWins: 0, budgetExhausted: 0 };

  constructor(options: HedgeOptions = {}) {
    this.maxAttempts = checkInteger('maxAttempts', options.maxAttempts ?? HEDGE_DEFAULTS.maxAttempts, 1, HEDGE_ATTEMPTS_MAX);
    this.#delay = options.delay ?? { percentile: HEDGE_DEFAULTS.percentile };
    if (typeof this.#delay === 'number') checkRange('delay', this.#delay, 0, Number.MAX_SAFE_INTEGER);
    else if (!(this.#delay.percentile > 0 && this.#delay.percentile < 1)) throw new ConfigError('percentile must be in (0, 1)');
    else if (this.#delay.minDelayMs !== undefined) checkRange('minDelayMs', this.#delay.minDelayMs, 0, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
    this.#budget = options.budget ?? new RatioRetryBudget({ ratio: 0.1, clock: this.#clock });
    this.#samples = new Float64Array(checkInteger('sampleSize', options.sampleSize ?? HEDGE_DEFAULTS.sampleSize, 1, LATENCY_SAMPLES_MAX));
  }

  /** The delay before the next hedge, in ms. */
  get delayMs(): number {
    const delay = this.#delay;
    if (typeof delay === 'number') return delay;
    const floorMs = delay.minDelayMs ?? 0;
    if (this.#sampleCount < (delay.minSamples ?? HEDGE_DEFAULTS.minSamples)) return Math.max(floorMs, delay.initialDelayMs ?? HEDGE_DEFAULTS.initialDelayMs);
    this.#cachedDelayMs ??= percentileOf(this.#samples.subarray(0, this.#sampleCount), delay.percentile);
    return Math.max(floorMs, this.#cachedDelayMs);
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    this.#stats.calls++;
    this.#budget.onRequest();
    return new HedgedCall<T>(this, fn, context).start();
  }

  stats(): HedgeStats {
    return { ...this.#stats, delayMs: this.delayMs };
  }

  /** @internal Records a winning attempt's latency. */
  recordLatency(durationMs: number): void {
    this.#samples[this.#sampleNext] = durationMs;
    this.#sampleNext = (this.#sampleNext + 1) % this.#samples.length;
    this.#sampleCount = Math.min(this.#sampleCount + 1, this.#samples.length);
    // Recompute the percentile every 1/16 of the window, not on every call.
    if (this.#sampleNext % Math.max(1, this.#samples.length >> 4) === 0) this.#cachedDelayMs = undefined;
  }

  /** @internal */
  tryHedge(attempt: number, afterMs: number, trigger: 'delay' | 'failure'): boolean {
    if (!this.#budget.tryRetry()) {
      this.#stats.budgetExhausted++;
      if (this.events.active) this.events[EMIT]({ type: 'budget-exhausted', attempt });
      return false;
    }
    this.#stats.hedges++;
    if (this.events.active) this.events[EMIT]({ type: 'hedge', attempt, afterMs, trigger });
    return true;
  }

  /** @internal */
  won(attempt: number, durationMs: number): void {
    if (attempt > 1) this.#stats.hedgeWins++;
    this.recordLatency(durationMs);
    if (this.events.active) this.events[EMIT]({ type: 'won', attempt, durationMs });
  }

  /** @internal */
  get clock(): Clock {
    return this.#clock;
  }
}

/** One call's race: its attempts, timer and outcome. */
class HedgedCall<T> {
  readonly #attempts: LinkedController[] = [];
  /** Attempts launched and not yet settled, by number (1-based). */
  readonly #running = new Set<number>();
  #settled = false;
  #timer: TimerHandle | undefined;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  readonly #startedMs: number;

  constructor(
    private readonly policy: HedgePolicy,
    private readonly fn: Operation<T>,
    private readonly context: PolicyContext,
  ) {
    this.#startedMs = policy.clock.now();
  }

  start(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      this.#launch();
    });
  }

  #launch(): void {
    const attempt = this.#attempts.length + 1;
    const linked = linkedController(this.context.signal);
    this.#attempts.push(linked);
    this.#running.add(attempt);
    const startedMs = this.policy.clock.now();
    invoke(this.fn, { ...this.context, signal: linked.signal, attempt }).then(
      (value) => this.#succeeded(value, attempt, startedMs),
      (error: unknown) => this.#failed(error, attempt),
    );
    if (attempt < this.policy.maxAttempts) {
      this.#timer = this.policy.clock.setTimeout(() => this.#hedge('delay'), this.policy.delayMs);
    }
  }

  #hedge(trigger: 'delay' | 'failure'): boolean {
    this.policy.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const attempt = this.#attempts.length + 1;
    if (this.#settled || attempt > this.policy.maxAttempts || this.context.signal.aborted) return false;
    if (!this.policy.tryHedge(attempt, this.policy.clock.now() - this.#startedMs, trigger)) return false;
    this.#launch();
    return true;
  }

  #succeeded(value: T, attempt: number, startedMs: number): void {
    this.#running.delete(attempt);
    if (this.#settled) return;
    this.policy.won(attempt, this.policy.clock.now() - startedMs);
    this.#finish();
    this.#resolve(value);
  }

  #failed(error: unknown, attempt: number): void {
    this.#running.delete(attempt);
    if (this.#settled) return;
    if (this.#hedge('failure') || this.#running.size > 0) return;
    this.#finish();
    this.#reject(error);
  }

  /**
   * Ends the call: attempts still running are aborted (they lost). The
   * winner's signal is left alone: its caller may still be reading what it
   * returned (a response body) under that signal. The reason is built only
   * when some attempt is still running (an Error's stack is not free, and
   * most calls never hedge).
   */
  #finish(): void {
    this.#settled = true;
    this.policy.clock.clearTimeout(this.#timer);
    let lost: HedgeLostReason | undefined;
    for (const [index, linked] of this.#attempts.entries()) {
      if (this.#running.has(index + 1) && !linked.signal.aborted) linked.controller.abort((lost ??= new HedgeLostReason()));
      linked.dispose();
    }
  }
}

/** The `percentile` (0..1) of `values` by nearest rank. */
export function percentileOf(values: ArrayLike<number>, percentile: number): number {
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(percentile * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** A hedging policy; see `HedgePolicy`. */
export function hedge(options?: HedgeOptions): HedgePolicy {
  return new HedgePolicy(options);
}
