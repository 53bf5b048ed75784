import { type Clock, systemClock } from './clock.js';
import { isOverloadRejection, type Outcome } from './classify.js';
import { type Criticality, CRITICALITY_LEVELS, DEFAULT_CRITICALITY } from './criticality.js';
import { ThrottledError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { checkInteger, checkRange, definedOnly } from './options.js';
import { type ExecuteOptions, type Operation, type Policy, settle, toContext } from './policy.js';
import { type Random, systemRandom } from './random.js';
import { BucketedWindow } from './window.js';

export interface AdaptiveThrottleOptions {
  /** The multiplier K (default 2, the SRE book's recommendation: wastes at most one backend rejection per accepted request). */
  readonly k?: number;
  /** Window over which requests and accepts are counted (default 2 minutes, as the SRE book). */
  readonly windowMs?: number;
  /** Buckets in the window (default 60: two-second steps). */
  readonly bucketCount?: number;
  /** Keep separate counts per criticality, so shedding of sheddable traffic by the backend does not throttle critical traffic (default true). */
  readonly perCriticality?: boolean;
  /** Which outcomes are the backend refusing for overload (default 429, 503, connection refused). */
  readonly isRejection?: (outcome: Outcome) => boolean;
  readonly clock?: Clock;
  readonly random?: Random;
}

export const ADAPTIVE_THROTTLE_DEFAULTS = Object.freeze({ k: 2, windowMs: 120_000, bucketCount: 60, perCriticality: true });

export type ThrottleEvent = { readonly type: 'throttled'; readonly probability: number; readonly criticality: Criticality };

export interface ThrottleStats {
  readonly requests: number;
  readonly accepts: number;
  readonly throttled: number;
  /** The current local rejection probability for CRITICAL traffic. */
  readonly probability: number;
}

const REQUESTS = 0;
const ACCEPTS = 1;

/**
 * Adaptive client-side throttling (Google SRE book, "Handling Overload"):
 * over a sliding window the client counts `requests` (every call the
 * application made, including those this throttle rejected) and `accepts`
 * (calls the backend did not refuse for overload), and rejects locally with
 * probability `max(0, (requests − K·accepts) / (requests + 1))`. When the
 * backend is healthy the probability is 0; when it refuses everything,
 * requests that reach it fall to about accepts·K.
 */
export class AdaptiveThrottlePolicy implements Policy {
  readonly events = new EventSource<ThrottleEvent>();
  readonly k: number;
  readonly #windows: Map<Criticality, BucketedWindow>;
  readonly #perCriticality: boolean;
  readonly #isRejection: (outcome: Outcome) => boolean;
  readonly #clock: Clock;
  readonly #random: Random;
  #throttled = 0;

  constructor(options: AdaptiveThrottleOptions = {}) {
    const settings = { ...ADAPTIVE_THROTTLE_DEFAULTS, ...definedOnly(options) };
    this.k = checkRange('k', settings.k, 1, 1000);
    checkInteger('bucketCount', settings.bucketCount, 1, 1000);
    this.#perCriticality = settings.perCriticality;
    this.#isRejection = options.isRejection ?? isOverloadRejection;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    const originMs = this.#clock.now();
    const levels = this.#perCriticality ? CRITICALITY_LEVELS : [DEFAULT_CRITICALITY];
    this.#windows = new Map(levels.map((level) => [level, new BucketedWindow({ windowMs: settings.windowMs, bucketCount: settings.bucketCount, fields: 2, originMs })]));
  }

  #window(criticality: Criticality): BucketedWindow {
    return this.#windows.get(this.#perCriticality ? criticality : DEFAULT_CRITICALITY) as BucketedWindow;
  }

  /** The current local rejection probability for `criticality`. */
  probability(criticality: Criticality = DEFAULT_CRITICALITY): number {
    const window = this.#window(criticality);
    const nowMs = this.#clock.now();
    const requests = window.sum(nowMs, REQUESTS);
    return Math.max(0, (requests - this.k * window.sum(nowMs, ACCEPTS)) / (requests + 1));
  }

  /** Counts a request and decides whether it may go out (true) or is rejected locally (false). */
  tryAcquire(criticality: Criticality = DEFAULT_CRITICALITY): boolean {
    const probability = this.probability(criticality);
    this.#window(criticality).add(this.#clock.now(), REQUESTS);
    if (probability > 0 && this.#random.next() < probability) {
      this.#throttled++;
      if (this.events.active) this.events[EMIT]({ type: 'throttled', probability, criticality });
      return false;
    }
    return true;
  }

  /** Reports whether the backend accepted a request that went out. */
  record(accepted: boolean, criticality: Criticality = DEFAULT_CRITICALITY): void {
    if (accepted) this.#window(criticality).add(this.#clock.now(), ACCEPTS);
  }

  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    if (!this.tryAcquire(context.criticality)) throw new ThrottledError(this.probability(context.criticality));
    const outcome = await settle(fn, context);
    this.record(!this.#isRejection(outcome), context.criticality);
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  stats(): ThrottleStats {
    const window = this.#window(DEFAULT_CRITICALITY);
    const nowMs = this.#clock.now();
    return { requests: window.sum(nowMs, REQUESTS), accepts: window.sum(nowMs, ACCEPTS), throttled: this.#throttled, probability: this.probability() };
  }
}

/** Adaptive client throttling; see `AdaptiveThrottlePolicy`. */
export function adaptiveThrottle(options?: AdaptiveThrottleOptions): AdaptiveThrottlePolicy {
  return new AdaptiveThrottlePolicy(options);
}
