import { type Clock, systemClock } from './clock.js';
import { isDependencyFailure, type Outcome, statusOf } from './classify.js';
import { BrokenCircuitError, ConfigError, IsolatedCircuitError } from './errors.js';
import { EMIT, EventSource, type Disposable } from './events.js';
import { BREAKER_COUNT_WINDOW_MAX } from './limits.js';
import { checkInteger, checkRange, definedOnly } from './options.js';
import { type ExecuteOptions, type Operation, type Policy, type PolicyContext, settle, toContext } from './policy.js';
import { runStages, STAGE, type Stage } from './stage.js';
import { BucketedWindow } from './window.js';

/** The breaker's states; 'isolated' is the manual hold-open. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Decides when a closed breaker trips, from the outcomes it records. */
export interface BreakerStrategy {
  record(nowMs: number, failed: boolean, slow: boolean): void;
  /** True when the recorded outcomes say the breaker should open. */
  tripped(nowMs: number, slowCallRateThreshold: number): boolean;
  reset(nowMs: number): void;
  /**
   * False when the strategy ignores the time it is given (a closed breaker
   * then reads no clock per call unless it times slow calls or has
   * listeners). Absent means true.
   */
  readonly timed?: boolean;
}

/** Opens after `threshold` failures in a row (cockatiel's ConsecutiveBreaker; default 5, as cockatiel's docs and Polly v7's). Slow calls count as failures. */
export function consecutiveFailures(threshold = 5): BreakerStrategy {
  checkInteger('threshold', threshold, 1, Number.MAX_SAFE_INTEGER);
  let streak = 0;
  return {
    record: (_nowMs, failed, slow) => {
      streak = failed || slow ? streak + 1 : 0;
    },
    tripped: () => streak >= threshold,
    reset: () => {
      streak = 0;
    },
    timed: false,
  };
}

export interface RateThresholds {
  /** Open when failures / calls reaches this (default 0.5, as Resilience4j and opossum). */
  readonly failureRateThreshold?: number;
}

function rateTripped(calls: number, failures: number, slow: number, minimum: number, failureRate: number, slowRate: number): boolean {
  if (calls < minimum || calls === 0) return false;
  return failures / calls >= failureRate || slow / calls >= slowRate;
}

export interface CountWindowOptions extends RateThresholds {
  /** Calls in the window (default 100, as Resilience4j's slidingWindowSize). */
  readonly size?: number;
  /** Calls needed before the rate is judged (default: the window size, as Resilience4j's minimumNumberOfCalls). */
  readonly minimumCalls?: number;
}

/** Failure rate over the last `size` calls (Resilience4j's COUNT_BASED window). */
export function countWindow(options: CountWindowOptions = {}): BreakerStrategy {
  const size = checkInteger('size', options.size ?? 100, 1, BREAKER_COUNT_WINDOW_MAX);
  const minimum = checkInteger('minimumCalls', options.minimumCalls ?? size, 1, size);
  const failureRate = checkRange('failureRateThreshold', options.failureRateThreshold ?? 0.5, 0, 1);
  const outcomes = new Uint8Array(size); // bit 0: failed, bit 1: slow
  let next = 0;
  let count = 0;
  let failures = 0;
  let slows = 0;
  return {
    record: (_nowMs, failed, slow) => {
      if (count === size) {
        const old = outcomes[next] ?? 0;
        failures -= old & 1;
        slows -= (old >> 1) & 1;
      } else count++;
      outcomes[next] = (failed ? 1 : 0) | (slow ? 2 : 0);
      failures += failed ? 1 : 0;
      slows += slow ? 1 : 0;
      next = (next + 1) % size;
    },
    tripped: (_nowMs, slowRate) => rateTripped(count, failures, slows, minimum, failureRate, slowRate),
    reset: () => {
      outcomes.fill(0);
      next = count = failures = slows = 0;
    },
    timed: false,
  };
}

export interface TimeWindowOptions extends RateThresholds {
  /** Window length (default 10 s, as opossum's rollingCountTimeout). */
  readonly windowMs?: number;
  /** Buckets (default 10, as opossum's rollingCountBuckets). */
  readonly bucketCount?: number;
  /** Calls in the window before the rate is judged (default 20, Hystrix's requestVolumeThreshold). */
  readonly minimumThroughput?: number;
}

export const TIME_WINDOW_DEFAULTS = Object.freeze({ windowMs: 10_000, bucketCount: 10, minimumThroughput: 20, failureRateThreshold: 0.5 });

/** Failure rate over a sliding time window, judged once the window holds `minimumThroughput` calls. */
export function timeWindow(options: TimeWindowOptions = {}): BreakerStrategy {
  const settings = { ...TIME_WINDOW_DEFAULTS, ...definedOnly(options) };
  checkRange('failureRateThreshold', settings.failureRateThreshold, 0, 1);
  checkInteger('minimumThroughput', settings.minimumThroughput, 1, Number.MAX_SAFE_INTEGER);
  let window: BucketedWindow | undefined;
  const make = (nowMs: number): BucketedWindow => new BucketedWindow({ windowMs: settings.windowMs, bucketCount: settings.bucketCount, fields: 3, originMs: nowMs });
  return {
    record: (nowMs, failed, slow) => {
      window ??= make(nowMs);
      window.add(nowMs, 0);
      if (failed) window.add(nowMs, 1);
      if (slow) window.add(nowMs, 2);
    },
    tripped: (nowMs, slowRate) => {
      if (window === undefined) return false;
      return rateTripped(window.sum(nowMs, 0), window.sum(nowMs, 1), window.sum(nowMs, 2), settings.minimumThroughput, settings.failureRateThreshold, slowRate);
    },
    reset: (nowMs) => {
      window = make(nowMs);
    },
  };
}

export interface SlowCallOptions {
  /** A call at least this long is slow. */
  readonly durationMs: number;
  /** Open when slow calls / calls reaches this (default 1: all calls slow, as Resilience4j's slowCallRateThreshold 100%). */
  readonly rateThreshold?: number;
}

export interface CircuitBreakerOptions {
  /** When to trip (default `timeWindow()`: 50% failures over 10 s with at least 20 calls). */
  readonly strategy?: BreakerStrategy;
  /** The slow-call rule (default off). */
  readonly slowCall?: SlowCallOptions;
  /** How long the breaker stays open before probing (default 5 s, as Polly v8's BreakDuration). */
  readonly openDurationMs?: number;
  /** Each reopening from half-open multiplies the open duration by this (default 2). */
  readonly openBackoffFactor?: number;
  /** Cap on the open duration (default 60 s, Resilience4j's waitDurationInOpenState). */
  readonly maxOpenDurationMs?: number;
  /** Probe calls admitted in half-open (default 1, as cockatiel, opossum and Polly). */
  readonly halfOpenProbes?: number;
  /** Successful probes needed to close (default: all probes). */
  readonly halfOpenSuccessThreshold?: number;
  /** Which outcomes are failures (default: errors and 5xx responses, not 4xx, not local refusals, not the caller's abort). */
  readonly isFailure?: (outcome: Outcome, context: PolicyContext) => boolean;
  /** A snapshot from `toJSON()` to start from (e.g. after a restart). */
  readonly initialState?: BreakerSnapshot;
  readonly clock?: Clock;
}

export const BREAKER_DEFAULTS = Object.freeze({
  openDurationMs: 5_000,
  openBackoffFactor: 2,
  maxOpenDurationMs: 60_000,
  halfOpenProbes: 1,
});

/** Serializable breaker state. Window contents are not kept: a restored closed breaker starts with an empty window. */
export interface BreakerSnapshot {
  readonly version: 1;
  readonly state: BreakerState;
  /** When the breaker last opened (clock ms), for 'open'. */
  readonly openedAtMs: number;
  /** How long this opening lasts. */
  readonly openDurationMs: number;
  /** Reopenings since the breaker last closed (drives the open backoff). */
  readonly reopenings: number;
}

export type BreakerEvent =
  | { readonly type: 'state-change'; readonly from: BreakerState; readonly to: BreakerState; readonly reason: string }
  | { readonly type: 'success'; readonly durationMs: number; readonly state: BreakerState }
  | { readonly type: 'failure'; readonly durationMs: number; readonly state: BreakerState; readonly slow: boolean }
  | { readonly type: 'rejected'; readonly state: BreakerState };

export interface BreakerStats {
  readonly state: BreakerState;
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  readonly rejections: number;
  readonly opens: number;
}

/** A call admitted by `tryAcquire`; hand it back to `release` when the call ends. */
export interface BreakerPermit {
  /** When the call was admitted; NaN when the breaker did not need to time it (see `BreakerStrategy.timed`). */
  readonly startedMs: number;
  readonly generation: number;
  readonly probe: boolean;
}

/**
 * A circuit breaker. Closed, it records outcomes into its strategy and opens
 * when the strategy trips. Open, it refuses calls until the open duration
 * passes, then goes half-open and admits `halfOpenProbes` probes: a failed
 * probe reopens it for longer (backoff), `halfOpenSuccessThreshold`
 * successes close it. `isolate()` holds it open by hand until the returned
 * handle is disposed; `reset()` closes it. The synchronous core
 * (`tryAcquire`/`release`) serves callers that are not promise-shaped.
 */
export class CircuitBreakerPolicy implements Policy {
  readonly events = new EventSource<BreakerEvent>();
  readonly #clock: Clock;
  readonly #strategy: BreakerStrategy;
  readonly #options: CircuitBreakerOptions;
  readonly #probes: number;
  readonly #successThreshold: number;
  readonly #slowRate: number;
  /** Closed-state calls need the clock: for slow calls or a time-based strategy. */
  readonly #timed: boolean;
  #state: BreakerState = 'closed';
  #openedAtMs = 0;
  #openDurationMs: number;
  #reopenings = 0;
  #generation = 0;
  /** Untimed closed-state permits carry nothing per call: one, shared, per generation. */
  #untimedPermit: BreakerPermit = Object.freeze({ startedMs: NaN, generation: 0, probe: false });
  #probesAdmitted = 0;
  #probeSuccesses = 0;
  #isolations = 0;
  #stats = { calls: 0, failures: 0, slowCalls: 0, rejections: 0, opens: 0 };

  constructor(options: CircuitBreakerOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#strategy = options.strategy ?? timeWindow();
    this.#probes = checkInteger('halfOpenProbes', options.halfOpenProbes ?? BREAKER_DEFAULTS.halfOpenProbes, 1, 1000);
    this.#successThreshold = checkInteger('halfOpenSuccessThreshold', options.halfOpenSuccessThreshold ?? this.#probes, 1, this.#probes);
    this.#slowRate = options.slowCall === undefined ? Infinity : checkRange('slowCall.rateThreshold', options.slowCall.rateThreshold ?? 1, 0, 1);
    this.#timed = options.slowCall !== undefined || this.#strategy.timed !== false;
    checkRange('openDurationMs', this.#baseOpenDurationMs, 0, Number.MAX_SAFE_INTEGER);
    if ((options.openBackoffFactor ?? 1) < 1) throw new ConfigError('openBackoffFactor must be at least 1');
    this.#openDurationMs = this.#baseOpenDurationMs;
    this.#strategy.reset(this.#clock.now());
    if (options.initialState !== undefined) this.#restore(options.initialState);
  }

  get #baseOpenDurationMs(): number {
    return this.#options.openDurationMs ?? BREAKER_DEFAULTS.openDurationMs;
  }

  /** The current state; an open breaker whose duration has passed reads as half-open. */
  get state(): BreakerState {
    this.#maybeHalfOpen(this.#clock.now());
    return this.#state;
  }

  /** Admits a call, or returns undefined when the breaker refuses it (see `rejectionError`). */
  tryAcquire(): BreakerPermit | undefined {
    // Closed is the common state and no time rule applies to it.
    if (this.#state === 'closed') return this.#timesCalls ? { startedMs: this.#clock.now(), generation: this.#generation, probe: false } : this.#untimedPermit;
    const nowMs = this.#clock.now();
    this.#maybeHalfOpen(nowMs);
    if (this.#state === 'half-open' && this.#probesAdmitted < this.#probes) {
      this.#probesAdmitted++;
      return { startedMs: nowMs, generation: this.#generation, probe: true };
    }
    this.#stats.rejections++;
    if (this.events.active) this.events[EMIT]({ type: 'rejected', state: this.#state });
    return undefined;
  }

  /** The error for a refused call, with the time until the breaker will probe again. */
  rejectionError(): Error {
    if (this.#state === 'isolated') return new IsolatedCircuitError();
    const retryAfterMs = this.#state === 'open' ? Math.max(0, this.#openedAtMs + this.#openDurationMs - this.#clock.now()) : undefined;
    return new BrokenCircuitError(retryAfterMs);
  }

  /** Reports how an admitted call ended. Outcomes of calls admitted before the last state change are ignored. */
  release(permit: BreakerPermit, failed: boolean): void {
    // Untimed, NaN stands for "not read": no call is slow and no strategy looks at it.
    const nowMs = this.#timesCalls || this.#state !== 'closed' ? this.#clock.now() : NaN;
    const durationMs = nowMs - permit.startedMs;
    const slow = this.#options.slowCall !== undefined && durationMs >= this.#options.slowCall.durationMs;
    this.#stats.calls++;
    if (failed) this.#stats.failures++;
    if (slow) this.#stats.slowCalls++;
    if (this.events.active) this.events[EMIT](failed || slow ? { type: 'failure', durationMs, state: this.#state, slow } : { type: 'success', durationMs, state: this.#state });
    if (permit.generation !== this.#generation) return;
    if (this.#state === 'closed') {
      this.#strategy.record(nowMs, failed, slow);
      if (this.#strategy.tripped(nowMs, this.#slowRate)) this.#open(Number.isNaN(nowMs) ? this.#clock.now() : nowMs, 'failure threshold reached', false);
    } else if (this.#state === 'half-open' && permit.probe) {
      if (failed || slow) this.#open(nowMs, 'a half-open probe failed', true);
      else if (++this.#probeSuccesses >= this.#successThreshold) this.#close(nowMs, 'half-open probes succeeded');
    }
  }

  /** Whether this call's duration is needed: slow calls, a timed strategy, or someone listening for durations. */
  get #timesCalls(): boolean {
    return this.#timed || this.events.active;
  }

  /** The fast path: a closed breaker admits without waiting; every other state takes the general path. */
  readonly [STAGE]: Stage = {
    admits: () => this.#state === 'closed',
    enter: () => this.tryAcquire(),
    inner: (_token, context) => context,
    leave: (token, context, run) => {
      this.release(token as BreakerPermit, this.#failed(run.ok, run.value, context));
      return undefined;
    },
    general: (fn, context) => this.#executeGeneral(fn, context),
  };

  readonly #stages: readonly Stage[] = [this[STAGE]];

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return runStages(this.#stages, 0, fn, toContext(options));
  }

  async #executeGeneral<T>(fn: Operation<T>, context: PolicyContext): Promise<T> {
    const permit = this.tryAcquire();
    if (permit === undefined) throw this.rejectionError();
    const outcome = await settle(fn, context);
    this.release(permit, this.#failed(outcome.ok, outcome.ok ? outcome.value : outcome.error, context));
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  /** Applies `isFailure` (default `isDependencyFailure`) without building an outcome for a plain success. */
  #failed(ok: boolean, value: unknown, context: PolicyContext): boolean {
    const isFailure = this.#options.isFailure;
    const outcome: Outcome | undefined = isFailure !== undefined || !ok ? (ok ? { ok, value } : { ok, error: value }) : undefined;
    if (outcome === undefined) {
      const status = statusOf(value);
      return status !== undefined && status >= 500;
    }
    return isFailure !== undefined ? isFailure(outcome, context) : isDependencyFailure(outcome, context.signal);
  }

  /** Holds the breaker open until the handle is disposed (every handle, if isolated several times). */
  isolate(): Disposable {
    this.#isolations++;
    if (this.#state !== 'isolated') this.#transition('isolated', 'isolated by hand');
    let active = true;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        if (--this.#isolations === 0 && this.#state === 'isolated') this.#close(this.#clock.now(), 'isolation ended');
      },
    };
  }

  /** Closes the breaker and forgets its history (also ends any isolation). */
  reset(): void {
    this.#isolations = 0;
    this.#close(this.#clock.now(), 'reset by hand');
  }

  /** The serializable state; pass it as `initialState` to restore. */
  toJSON(): BreakerSnapshot {
    return { version: 1, state: this.state, openedAtMs: this.#openedAtMs, openDurationMs: this.#openDurationMs, reopenings: this.#reopenings };
  }

  stats(): BreakerStats {
    return { state: this.state, ...this.#stats };
  }

  #restore(snapshot: BreakerSnapshot): void {
    if (snapshot.version !== 1) throw new ConfigError(`unknown breaker snapshot version ${String(snapshot.version)}`);
    this.#state = snapshot.state === 'half-open' ? 'open' : snapshot.state; // probes in flight died with the old process
    this.#openedAtMs = snapshot.openedAtMs;
    this.#openDurationMs = snapshot.openDurationMs;
    this.#reopenings = snapshot.reopenings;
    if (snapshot.state === 'isolated') this.#isolations = 1;
  }

  #maybeHalfOpen(nowMs: number): void {
    if (this.#state === 'open' && nowMs >= this.#openedAtMs + this.#openDurationMs) {
      this.#probesAdmitted = 0;
      this.#probeSuccesses = 0;
      this.#transition('half-open', 'open duration elapsed');
    }
  }

  #open(nowMs: number, reason: string, fromHalfOpen: boolean): void {
    this.#reopenings = fromHalfOpen ? this.#reopenings + 1 : 0;
    const factor = this.#options.openBackoffFactor ?? BREAKER_DEFAULTS.openBackoffFactor;
    const cap = this.#options.maxOpenDurationMs ?? BREAKER_DEFAULTS.maxOpenDurationMs;
    this.#openDurationMs = Math.min(Math.max(cap, this.#baseOpenDurationMs), this.#baseOpenDurationMs * factor ** this.#reopenings);
    this.#openedAtMs = nowMs;
    this.#stats.opens++;
    this.#transition('open', reason);
  }

  #close(nowMs: number, reason: string): void {
    this.#reopenings = 0;
    this.#openDurationMs = this.#baseOpenDurationMs;
    this.#strategy.reset(nowMs);
    if (this.#state !== 'closed') this.#transition('closed', reason);
  }

  #transition(to: BreakerState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    this.#untimedPermit = Object.freeze({ startedMs: NaN, generation: this.#generation, probe: false });
    if (this.events.active) this.events[EMIT]({ type: 'state-change', from, to, reason });
  }
}

/** A circuit breaker; see `CircuitBreakerPolicy`. */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
