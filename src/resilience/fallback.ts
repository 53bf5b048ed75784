import { type Clock, systemClock } from './clock.js';
import { EMIT, EventSource } from './events.js';
import { type ExecuteOptions, type Operation, type Policy, type PolicyContext, settle, toContext } from './policy.js';

/**
 * Where a fallback comes from: a fixed value, a function of the error, or
 * the last good result (stale), optionally bounded in age, with another
 * source to use when there is no fresh-enough stale result.
 */
export type FallbackSource<F> =
  | { readonly value: F }
  | { readonly fn: (error: unknown, context: PolicyContext) => F | PromiseLike<F> }
  | { readonly stale: { readonly maxAgeMs?: number }; readonly orElse?: FallbackSource<F> };

export interface FallbackOptions {
  /** Which errors fall back (default every error except the caller's own abort). */
  readonly handle?: (error: unknown, context: PolicyContext) => boolean;
  readonly clock?: Clock;
}

/** A result and where it came from; `ageMs` is set for stale results. */
export interface FallbackResult<T> {
  readonly value: T;
  readonly source: 'primary' | 'fallback' | 'stale';
  readonly ageMs?: number;
  /** The error that caused the fallback. */
  readonly error?: unknown;
}

export type FallbackEvent = { readonly type: 'fallback'; readonly source: 'fallback' | 'stale'; readonly ageMs: number | undefined; readonly error: unknown };

export interface FallbackStats {
  readonly calls: number;
  readonly fallbacks: number;
  readonly stale: number;
}

/**
 * Turns a failure into a substitute result. Use one fallback policy per
 * operation: its type `F` must be the operation's result type, and a stale
 * fallback returns the last good result of whatever ran through it.
 * `executeWithInfo` says whether the result is fresh, a fallback, or stale
 * and how old.
 */
export class FallbackPolicy<F> implements Policy {
  readonly events = new EventSource<FallbackEvent>();
  readonly #source: FallbackSource<F>;
  readonly #options: FallbackOptions;
  readonly #clock: Clock;
  #lastGood: { value: unknown; atMs: number } | undefined;
  #stats = { calls: 0, fallbacks: 0, stale: 0 };

  constructor(source: FallbackSource<F>, options: FallbackOptions = {}) {
    this.#source = source;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return (await this.executeWithInfo(fn, options)).value;
  }

  async executeWithInfo<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<FallbackResult<T>> {
    const context = toContext(options);
    this.#stats.calls++;
    const outcome = await settle(fn, context);
    if (outcome.ok) {
      if ('stale' in this.#source) this.#lastGood = { value: outcome.value, atMs: this.#clock.now() };
      return { value: outcome.value, source: 'primary' };
    }
    const handle = this.#options.handle ?? ((_error: unknown, candidate: PolicyContext) => !candidate.signal.aborted);
    if (!handle(outcome.error, context)) throw outcome.error;
    const result = await this.#resolve(this.#source, outcome.error, context);
    if (result === undefined) throw outcome.error;
    this.#stats.fallbacks++;
    if (result.source === 'stale') this.#stats.stale++;
    if (this.events.active) this.events[EMIT]({ type: 'fallback', source: result.source === 'stale' ? 'stale' : 'fallback', ageMs: result.ageMs, error: outcome.error });
    return result as FallbackResult<T>;
  }

  async #resolve(source: FallbackSource<F>, error: unknown, context: PolicyContext): Promise<FallbackResult<unknown> | undefined> {
    if ('value' in source) return { value: source.value, source: 'fallback', error };
    if ('fn' in source) return { value: await source.fn(error, context), source: 'fallback', error };
    const last = this.#lastGood;
    const ageMs = last === undefined ? undefined : this.#clock.now() - last.atMs;
    if (last !== undefined && ageMs !== undefined && ageMs <= (source.stale.maxAgeMs ?? Infinity)) return { value: last.value, source: 'stale', ageMs, error };
    return source.orElse === undefined ? undefined : this.#resolve(source.orElse, error, context);
  }

  /** The age of the remembered good result, if any (stale sources only). */
  lastGoodAgeMs(): number | undefined {
    return this.#lastGood === undefined ? undefined : this.#clock.now() - this.#lastGood.atMs;
  }

  stats(): FallbackStats {
    return { ...this.#stats };
  }
}

/** A fallback policy; see `FallbackPolicy`. */
export function fallback<F>(source: FallbackSource<F>, options?: FallbackOptions): FallbackPolicy<F> {
  return new FallbackPolicy<F>(source, options);
}
