import { BucketedWindow } from './window.js';
import { type Clock, systemClock } from './clock.js';
import { ConfigError } from './errors.js';
import { definedOnly } from './options.js';

/**
 * Limits how many retries (or hedges) a client sends, so that during an
 * outage retries cannot multiply the load. One instance may be shared by
 * several retry and hedge policies to budget a whole client. When a budget
 * refuses, the retry policy surfaces the attempt's own error.
 */
export interface RetryBudget {
  /** A new call (its first attempt) is going out. */
  onRequest(): void;
  /** Asks to send one retry; true (and the retry is counted) when the budget allows it. */
  tryRetry(): boolean;
  /** An attempt succeeded (gRPC throttling refills on success). */
  onSuccess(): void;
  /** An attempt failed in a retryable way. */
  onFailure(): void;
  /** Current figures, for dashboards and tests. */
  stats(): RetryBudgetStats;
}

export interface RetryBudgetStats {
  readonly requests: number;
  readonly retries: number;
  readonly refused: number;
  /** Retries that could be sent right now. */
  readonly available: number;
}

export interface RatioBudgetOptions {
  /** Retries allowed per request in the window (default 0.1: the SRE book's per-client 10%). */
  readonly ratio?: number;
  /**
   * Retries always allowed per second of window, so low-traffic clients can
   * still retry (default 0.1: one per 10 s window). Finagle allows 10/s and
   * Linkerd 10/s; we depart: the minimum is per client, so across many
   * low-rate clients it is what sets the aggregate retry rate in an outage
   * (bench/retry-storm: 1/s per client let retries double the load).
   */
  readonly minRetriesPerSecond?: number;
  /** Window length (default 10 s, as Finagle's and Linkerd's retry budgets). */
  readonly windowMs?: number;
  /** Buckets in the window (default 10). */
  readonly bucketCount?: number;
  readonly clock?: Clock;
}

export const RATIO_BUDGET_DEFAULTS = Object.freeze({ ratio: 0.1, minRetriesPerSecond: 0.1, windowMs: 10_000, bucketCount: 10 });

const REQUESTS = 0;
const RETRIES = 1;

/**
 * The SRE-style retry budget: over a sliding window, retries may be at most
 * `ratio × requests`, or `minRetriesPerSecond × window seconds` when that is
 * larger. A retry is allowed when `retries + 1 <= max(ratio × requests, minimum)`.
 */
export class RatioRetryBudget implements RetryBudget {
  readonly ratio: number;
  readonly minimumRetries: number;
  readonly #clock: Clock;
  readonly #window: BucketedWindow;
  #refused = 0;

  constructor(options: RatioBudgetOptions = {}) {
    const settings = { ...RATIO_BUDGET_DEFAULTS, ...definedOnly(options) };
    if (!(settings.ratio >= 0) || !Number.isFinite(settings.ratio)) throw new ConfigError('ratio must be a non-negative number');
    if (!(settings.minRetriesPerSecond >= 0)) throw new ConfigError('minRetriesPerSecond must be non-negative');
    this.ratio = settings.ratio;
    this.minimumRetries = settings.minRetriesPerSecond * (settings.windowMs / 1000);
    this.#clock = options.clock ?? systemClock;
    this.#window = new BucketedWindow({ windowMs: settings.windowMs, bucketCount: settings.bucketCount, fields: 2, originMs: this.#clock.now() });
  }

  onRequest(): void {
    this.#window.add(this.#clock.now(), REQUESTS);
  }

  tryRetry(): boolean {
    const now = this.#clock.now();
    if (this.#window.sum(now, RETRIES) + 1 > this.#allowance(now)) {
      this.#refused++;
      return false;
    }
    this.#window.add(now, RETRIES);
    return true;
  }

  onSuccess(): void {}
  onFailure(): void {}

  #allowance(now: number): number {
    return Math.max(this.ratio * this.#window.sum(now, REQUESTS), this.minimumRetries);
  }

  stats(): RetryBudgetStats {
    const now = this.#clock.now();
    const retries = this.#window.sum(now, RETRIES);
    return {
      requests: this.#window.sum(now, REQUESTS),
      retries,
      refused: this.#refused,
      available: Math.max(0, Math.floor(this.#allowance(now) - retries)),
    };
  }
}

export interface TokenBudgetOptions {
  /** Bucket size (default 10, the gRPC retry design's example; gRPC requires 1..1000). */
  readonly maxTokens?: number;
  /** Tokens a success returns (default 0.1: ten successes pay for one failure). */
  readonly tokenRatio?: number;
}

export const TOKEN_BUDGET_DEFAULTS = Object.freeze({ maxTokens: 10, tokenRatio: 0.1 });

/**
 * gRPC's retry throttling (gRFC A6): the bucket starts full; each failed
 * attempt takes one token, each success returns `tokenRatio`; retries are
 * allowed only while more than half the tokens remain.
 */
export class TokenRetryBudget implements RetryBudget {
  readonly maxTokens: number;
  readonly tokenRatio: number;
  #tokens: number;
  #requests = 0;
  #retries = 0;
  #refused = 0;

  constructor(options: TokenBudgetOptions = {}) {
    const settings = { ...TOKEN_BUDGET_DEFAULTS, ...definedOnly(options) };
    if (!(settings.maxTokens > 0 && settings.maxTokens <= 1000)) throw new ConfigError('maxTokens must be in (0, 1000]');
    if (!(settings.tokenRatio > 0)) throw new ConfigError('tokenRatio must be positive');
    this.maxTokens = settings.maxTokens;
    this.tokenRatio = settings.tokenRatio;
    this.#tokens = settings.maxTokens;
  }

  get tokens(): number {
    return this.#tokens;
  }

  onRequest(): void {
    this.#requests++;
  }

  tryRetry(): boolean {
    if (this.#tokens <= this.maxTokens / 2) {
      this.#refused++;
      return false;
    }
    this.#retries++;
    return true;
  }

  onSuccess(): void {
    // gRPC keeps three decimal places so repeated additions do not drift.
    this.#tokens = Math.min(this.maxTokens, Math.round((this.#tokens + this.tokenRatio) * 1000) / 1000);
  }

  onFailure(): void {
    this.#tokens = Math.max(0, this.#tokens - 1);
  }

  stats(): RetryBudgetStats {
    return { requests: this.#requests, retries: this.#retries, refused: this.#refused, available: this.#tokens > this.maxTokens / 2 ? 1 : 0 };
  }
}

/** A ratio budget (SRE-style); see `RatioRetryBudget`. */
export function ratioBudget(options?: RatioBudgetOptions): RatioRetryBudget {
  return new RatioRetryBudget(options);
}

/** A gRPC-style token budget; see `TokenRetryBudget`. */
export function tokenBudget(options?: TokenBudgetOptions): TokenRetryBudget {
  return new TokenRetryBudget(options);
}
