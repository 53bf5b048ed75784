import { BACKOFF_DELAY_MS_MAX } from './limits.js';
import { ConfigError } from './errors.js';
import type { Random } from './random.js';

/**
 * One step of a backoff sequence. Immutable: `next()` returns the following
 * step and leaves this one as it was, so a backoff can be shared and
 * replayed (cockatiel's design).
 */
export interface Backoff {
  /** The delay before the retry this step stands for, in ms. */
  readonly delayMs: number;
  /** 1 for the delay before the first retry. */
  readonly retry: number;
  next(): Backoff;
}

/** Starts a backoff sequence; the random source draws the jitter. */
export interface BackoffFactory {
  start(random: Random): Backoff;
}

/** How exponential delays are randomised (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

function checkDelay(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > BACKOFF_DELAY_MS_MAX) {
    throw new ConfigError(`${name} must be in 0..${BACKOFF_DELAY_MS_MAX} ms`);
  }
  return value;
}

class FunctionBackoff implements Backoff {
  constructor(
    readonly retry: number,
    readonly delayMs: number,
    private readonly step: (retry: number, previousDelayMs: number) => number,
  ) {}

  next(): Backoff {
    const retry = this.retry + 1;
    return new FunctionBackoff(retry, this.step(retry, this.delayMs), this.step);
  }
}

function sequence(step: (retry: number, previousDelayMs: number) => number): BackoffFactory {
  return { start: () => new FunctionBackoff(1, step(1, 0), step) };
}

/** The same delay before every retry. */
export function constantBackoff(delayMs: number): BackoffFactory {
  checkDelay('delayMs', delayMs);
  return sequence(() => delayMs);
}

export interface LinearBackoffOptions {
  /** Delay before the first retry (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Added for each further retry (default: the initial delay). */
  readonly incrementMs?: number;
  /** Cap (default 20 s). */
  readonly maxDelayMs?: number;
}

/** initial, initial + increment, initial + 2 × increment ..., capped. */
export function linearBackoff(options: LinearBackoffOptions = {}): BackoffFactory {
  const initialDelayMs = checkDelay('initialDelayMs', options.initialDelayMs ?? 100);
  const incrementMs = checkDelay('incrementMs', options.incrementMs ?? initialDelayMs);
  const maxDelayMs = checkDelay('maxDelayMs', options.maxDelayMs ?? 20_000);
  return sequence((retry) => Math.min(maxDelayMs, initialDelayMs + incrementMs * (retry - 1)));
}

export interface ExponentialBackoffOptions {
  /** The base: the first delay before jitter (default 100 ms, as the AWS SDKs). */
  readonly initialDelayMs?: number;
  /** Growth per retry (default 2). */
  readonly factor?: number;
  /** Cap on any delay (default 20 s, as the AWS SDKs' standard retry mode). */
  readonly maxDelayMs?: number;
  /** Randomisation (default 'full': the AWS study's winner for total work). */
  readonly jitter?: Jitter;
}

/** Resolved defaults of `exponentialBackoff`, exported for the docs and tests. */
export const EXPONENTIAL_BACKOFF_DEFAULTS = Object.freeze({
  initialDelayMs: 100,
  factor: 2,
  maxDelayMs: 20_000,
  jitter: 'full' as Jitter,
});

/**
 * Exponential backoff. With `base = initialDelayMs`, `cap = maxDelayMs`,
 * `n` the retry number from 1:
 * - none: `min(cap, base × factor^(n-1))`
 * - full: `uniform(0, min(cap, base × factor^(n-1)))`
 * - equal: half the capped exponential plus a uniform draw over the other half
 * - decorrelated: `min(cap, uniform(base, previous × 3))`, previous starting at base
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): BackoffFactory {
  const initialDelayMs = checkDelay('initialDelayMs', options.initialDelayMs ?? EXPONENTIAL_BACKOFF_DEFAULTS.initialDelayMs);
  const maxDelayMs = checkDelay('maxDelayMs', options.maxDelayMs ?? EXPONENTIAL_BACKOFF_DEFAULTS.maxDelayMs);
  const factor = options.factor ?? EXPONENTIAL_BACKOFF_DEFAULTS.factor;
  if (!(factor >= 1) || !Number.isFinite(factor)) throw new ConfigError('factor must be at least 1');
  const jitter = options.jitter ?? EXPONENTIAL_BACKOFF_DEFAULTS.jitter;
  const ceiling = (retry: number): number => Math.min(maxDelayMs, initialDelayMs * factor ** (retry - 1));
  return {
    start(random: Random): Backoff {
      switch (jitter) {
        case 'none':
          return new FunctionBackoff(1, ceiling(1), (retry) => ceiling(retry));
        case 'full': {
          const step = (retry: number): number => random.next() * ceiling(retry);
          return new FunctionBackoff(1, step(1), step);
        }
        case 'equal': {
          const step = (retry: number): number => ceiling(retry) / 2 + (random.next() * ceiling(retry)) / 2;
          return new FunctionBackoff(1, step(1), step);
        }
        case 'decorrelated': {
          const step = (_retry: number, previousDelayMs: number): number => {
            const previous = Math.max(initialDelayMs, previousDelayMs);
            return Math.min(maxDelayMs, initialDelayMs + random.next() * (previous * 3 - initialDelayMs));
          };
          return new FunctionBackoff(1, step(1, initialDelayMs), step);
        }
        default:
          throw new ConfigError(`unknown jitter ${String(jitter)}`);
      }
    },
  };
}
