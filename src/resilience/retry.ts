import { type Backoff, type BackoffFactory, exponentialBackoff } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { isIdempotent, isLocalRejection, isNeverSentError, isTransientError, type Outcome, serverDelayMs, statusOf } from './classify.js';
import { type Clock, systemClock } from './clock.js';
import { AbortedError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { RETRY_AFTER_MS_DEFAULT_MAX, RETRY_ATTEMPTS_MAX } from './limits.js';
import { checkInteger, checkRange } from './options.js';
import { deriveContext, type ExecuteOptions, type Operation, type Policy, type PolicyContext, settle, toContext } from './policy.js';
import { runStages, STAGE, type Stage } from './stage.js';
import { isAborted } from './timed-context.js';
import { type Random, systemRandom } from './random.js';
import { sleep, throwIfAborted } from './abort.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 3: Resilience4j's and Polly's 1 + 3 retries is one more than we think a client should add under load). */
  readonly maxAttempts?: number;
  /** Delays between attempts (default exponential, 100 ms base, ×2, 20 s cap, full jitter). */
  readonly backoff?: BackoffFactory;
  /** Response statuses worth retrying on idempotent requests (default 429 and 503; add 502 and 504 if your proxies use them for transient faults). */
  readonly retryOnStatuses?: readonly number[];
  /** Overrides classification: return true/false to decide, undefined to fall back to the defaults. */
  readonly shouldRetry?: (outcome: Outcome, context: PolicyContext) => boolean | undefined;
  /** A budget (possibly shared) that every retry must draw from. */
  readonly budget?: RetryBudget;
  /** Wait at least as long as `Retry-After` / the RateLimit fields ask (default true). */
  readonly honorServerDelay?: boolean;
  /** Give up rather than wait when the server asks for longer than this (default 60 s). */
  readonly maxServerDelayMs?: number;
  /**
   * What must fit before the deadline for a retry to go out: the delay alone,
   * or the delay plus the previous attempt's duration (default), on the
   * reasoning that the next attempt will take about as long as the last one.
   */
  readonly deadlineEstimate?: 'previous-attempt' | 'delay-only';
  readonly clock?: Clock;
  readonly random?: Random;
}

export const RETRY_DEFAULTS = Object.freeze({
  maxAttempts: 3,
  retryOnStatuses: Object.freeze([429, 503]) as readonly number[],
  honorServerDelay: true,
  maxServerDelayMs: RETRY_AFTER_MS_DEFAULT_MAX,
  deadlineEstimate: 'previous-attempt' as const,
});

/** Why a retry policy stopped retrying. */
export type RetryStopReason = 'success' | 'not-retryable' | 'attempts-exhausted' | 'server-delay-too-long' | 'deadline' | 'budget-exhausted';

/** What a retry policy decides after one attempt. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly backoff: Backoff }
  | { readonly retry: false; readonly reason: RetryStopReason };

/** The facts `decide` needs about the attempt that just finished. */
export interface AttemptFacts {
  readonly attempt: number;
  readonly nowMs: number;
  readonly attemptDurationMs: number;
  /** The backoff step for the retry being considered. */
  readonly backoff: Backoff;
  readonly context: PolicyContext;
}

export type RetryEvent =
  | { readonly type: 'retry'; readonly attempt: number; readonly delayMs: number; readonly outcome: Outcome }
  | { readonly type: 'give-up'; readonly attempt: number; readonly reason: RetryStopReason; readonly outcome: Outcome }
  | { readonly type: 'success'; readonly attempts: number };

export interface RetryStats {
  readonly calls: number;
  readonly attempts: number;
  readonly retries: number;
  readonly successes: number;
  readonly failures: number;
  readonly stops: Readonly<Record<RetryStopReason, number>>;
}

/**
 * Retries what is safe to retry: transient network errors and 429/503 on
 * idempotent requests (or any request with an Idempotency-Key), plus errors
 * that prove the request was never sent. Never a 4xx other than 429, never a
 * non-idempotent POST that may have reached the server. Waits per the
 * backoff but at least as long as the server asks, stops when the budget is
 * spent or when the retry could not finish before the deadline, and then
 * surfaces the last attempt's own error (or returns its response).
 */
export class RetryPolicy implements Policy {
  readonly events = new EventSource<RetryEvent>();
  readonly maxAttempts: number;
  readonly #backoff: BackoffFactory;
  readonly #retryOnStatuses: ReadonlySet<number>;
  readonly #options: RetryOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #maxServerDelayMs: number;
  #calls = 0;
  #attempts = 0;
  #retries = 0;
  #successes = 0;
  #failures = 0;
  #stops: Record<RetryStopReason, number> = { success: 0, 'not-retryable': 0, 'attempts-exhausted': 0, 'server-delay-too-long': 0, deadline: 0, 'budget-exhausted': 0 };

  constructor(options: RetryOptions = {}) {
    this.#options = options;
    this.maxAttempts = checkInteger('maxAttempts', options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts, 1, RETRY_ATTEMPTS_MAX);
    this.#backoff = options.backoff ?? exponentialBackoff();
    this.#retryOnStatuses = new Set(options.retryOnStatuses ?? RETRY_DEFAULTS.retryOnStatuses);
    this.#maxServerDelayMs = checkRange('maxServerDelayMs', options.maxServerDelayMs ?? RETRY_DEFAULTS.maxServerDelayMs, 0, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
  }

  /** Starts a backoff sequence with this policy's random source (for `decide` callers such as simulations). */
  startBackoff(): Backoff {
    return this.#backoff.start(this.#random);
  }

  /** The retry budget, if any; callers driving `decide` by hand report requests and outcomes to it. */
  get budget(): RetryBudget | undefined {
    return this.#options.budget;
  }

  /** True when `outcome` is worth another attempt under the safety rules (ignoring attempts, time and budget). */
  isRetryable(outcome: Outcome, context: PolicyContext): boolean {
    const override = this.#options.shouldRetry?.(outcome, context);
    if (override !== undefined) return override;
    if (outcome.ok) {
      const status = statusOf(outcome.value);
      return status !== undefined && this.#retryOnStatuses.has(status) && isIdempotent(context.request);
    }
    const error = outcome.error;
    if (context.signal.aborted || isLocalRejection(error)) return false;
    if (isNeverSentError(error)) return true;
    const status = statusOf(error);
    if (status !== undefined) return this.#retryOnStatuses.has(status) && isIdempotent(context.request);
    return isTransientError(error) && isIdempotent(context.request);
  }

  /**
   * Decides, without side effects other than drawing from the budget when
   * the answer is yes, whether to retry after an attempt and how long to wait.
   */
  decide(outcome: Outcome, facts: AttemptFacts): RetryDecision {
    if (!this.isRetryable(outcome, facts.context)) return { retry: false, reason: outcome.ok ? 'success' : 'not-retryable' };
    if (facts.attempt >= this.maxAttempts) return { retry: false, reason: 'attempts-exhausted' };
    let delayMs = facts.backoff.delayMs;
    if (this.#options.honorServerDelay ?? RETRY_DEFAULTS.honorServerDelay) {
      const serverDelay = serverDelayMs(outcome, facts.nowMs);
      if (serverDelay !== undefined && serverDelay > this.#maxServerDelayMs) return { retry: false, reason: 'server-delay-too-long' };
      if (serverDelay !== undefined) delayMs = Math.max(delayMs, serverDelay);
    }
    const deadlineMs = facts.context.deadlineMs;
    if (deadlineMs !== undefined) {
      const estimate = (this.#options.deadlineEstimate ?? RETRY_DEFAULTS.deadlineEstimate) === 'previous-attempt' ? facts.attemptDurationMs : 0;
      if (facts.nowMs + delayMs + estimate >= deadlineMs) return { retry: false, reason: 'deadline' };
    }
    if (this.#options.budget !== undefined && !this.#options.budget.tryRetry()) return { retry: false, reason: 'budget-exhausted' };
    return { retry: true, delayMs, backoff: facts.backoff.next() };
  }

  /**
   * The fast path: the first attempt runs fused with the policies inside;
   * a first attempt that succeeds is all most calls need. Any other outcome
   * continues in the general loop, whose later attempts run the inner
   * policies again through `run.rerun`.
   */
  readonly [STAGE]: Stage = {
    admits: (context) => !isAborted(context),
    enter: (context) => {
      this.#calls++;
      this.#options.budget?.onRequest();
      this.#attempts++;
      // The attempt's duration only matters against a deadline (see `decide`).
      return context.deadlineMs === undefined ? NaN : this.#clock.now();
    },
    inner: (_token, context) => this.#attemptContext(context, 1),
    leave: (token, context, run, index) => {
      const attemptContext = this.#attemptContext(context, 1);
      if (run.ok && this.#options.shouldRetry === undefined && !this.#retryableValue(run.value, attemptContext)) {
        this.#options.budget?.onSuccess();
        run.value = this.#succeed(run.value, 1);
        return undefined;
      }
      const outcome: Outcome = run.ok ? { ok: true, value: run.value } : { ok: false, error: run.value };
      const again = (inner: PolicyContext): Promise<Outcome> => run.rerun(index, inner).then(succeeded, failed);
      return this.#loop(context, again, { outcome, startedMs: token as number }).then(
        (value) => {
          run.ok = true;
          run.value = value;
        },
        (error: unknown) => {
          run.ok = false;
          run.value = error;
        },
      );
    },
    general: (fn, context) => this.#executeGeneral(fn, context),
  };

  readonly #stages: readonly Stage[] = [this[STAGE]];

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return runStages(this.#stages, 0, fn, toContext(options));
  }

  #executeGeneral<T>(fn: Operation<T>, context: PolicyContext): Promise<T> {
    this.#calls++;
    this.#options.budget?.onRequest();
    return this.#loop(context, (attemptContext) => settle(fn, attemptContext), undefined);
  }

  #attemptContext(context: PolicyContext, attempt: number): PolicyContext {
    return attempt === context.attempt ? context : deriveContext(context, { attempt });
  }

  /** `isRetryable` for a returned value under the default rules, without building an outcome. */
  #retryableValue(value: unknown, context: PolicyContext): boolean {
    const status = statusOf(value);
    return status !== undefined && this.#retryOnStatuses.has(status) && isIdempotent(context.request);
  }

  /** The attempt loop; `first` is an attempt the fast path already made. */
  async #loop<T>(context: PolicyContext, attemptOnce: (attemptContext: PolicyContext) => Promise<Outcome<T>>, first: FirstAttempt<T> | undefined): Promise<T> {
    const budget = this.#options.budget;
    let backoff: Backoff | undefined;
    for (let attempt = 1; attempt <= RETRY_ATTEMPTS_MAX; attempt++) {
      const attemptContext = this.#attemptContext(context, attempt);
      let outcome: Outcome<T>;
      let startedMs: number;
      if (attempt === 1 && first !== undefined) {
        outcome = first.outcome;
        startedMs = first.startedMs;
      } else {
        throwIfAborted(context.signal);
        startedMs = this.#clock.now();
        this.#attempts++;
        outcome = await attemptOnce(attemptContext);
      }
      const retryable = this.isRetryable(outcome, attemptContext);
      if (!retryable && outcome.ok) {
        budget?.onSuccess();
        return this.#succeed(outcome.value, attempt);
      }
      if (retryable) budget?.onFailure();
      backoff ??= this.startBackoff();
      const nowMs = this.#clock.now();
      const decision = this.decide(outcome, { attempt, nowMs, attemptDurationMs: nowMs - startedMs, backoff, context: attemptContext });
      if (!decision.retry) return this.#giveUp(outcome, attempt, decision.reason);
      this.#retries++;
      if (this.events.active) this.events[EMIT]({ type: 'retry', attempt, delayMs: decision.delayMs, outcome });
      await sleep(this.#clock, decision.delayMs, context.signal);
      backoff = decision.backoff;
    }
    throw new AbortedError('retry loop bound reached');
  }

  #succeed<T>(value: T, attempts: number): T {
    this.#successes++;
    this.#stops.success++;
    if (this.events.active) this.events[EMIT]({ type: 'success', attempts });
    return value;
  }

  #giveUp<T>(outcome: Outcome<T>, attempt: number, reason: RetryStopReason): T {
    this.#stops[reason]++;
    if (this.events.active) this.events[EMIT]({ type: 'give-up', attempt, reason, outcome });
    if (outcome.ok) return outcome.value;
    this.#failures++;
    throw outcome.error;
  }

  stats(): RetryStats {
    return {
      calls: this.#calls,
      attempts: this.#attempts,
      retries: this.#retries,
      successes: this.#successes,
      failures: this.#failures,
      stops: { ...this.#stops },
    };
  }
}

/** An attempt the fast path made before handing over to the loop; `startedMs` is NaN when no deadline needed it. */
interface FirstAttempt<T> {
  readonly outcome: Outcome<T>;
  readonly startedMs: number;
}

const succeeded = (value: unknown): Outcome => ({ ok: true, value });
const failed = (error: unknown): Outcome => ({ ok: false, error });

/** A retry policy; see `RetryPolicy`. */
export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}
