import { type Clock, systemClock } from '../clock.js';
import { isOverloadRejection, type Outcome } from '../classify.js';
import type { Criticality } from '../criticality.js';
import { ConcurrencyLimitedError, ResilienceError } from '../errors.js';
import { EMIT, EventSource } from '../events.js';
import { type ExecuteOptions, type Operation, type Policy, settle, toContext } from '../policy.js';
import { GradientLimit } from './gradient.js';
import type { LimitAlgorithm } from './limit.js';
import { type Partition, partitionIndex } from './partitioned.js';

export interface AdaptiveConcurrencyOptions {
  /** The algorithm (default a gradient limit with its defaults). */
  readonly limit?: LimitAlgorithm;
  /** Shares of the limit by criticality (default none: one pool). See `criticalityPartitions`. */
  readonly partitions?: readonly Partition[];
  /** Which outcomes are drops (default: our timeouts and deadline errors, and overload refusals 429/503). */
  readonly isDropped?: (outcome: Outcome) => boolean;
  readonly clock?: Clock;
}

export type ConcurrencyEvent =
  | { readonly type: 'rejected'; readonly limit: number; readonly inflight: number; readonly partition: string }
  | { readonly type: 'limit-changed'; readonly from: number; readonly to: number };

export interface ConcurrencyStats {
  readonly limit: number;
  readonly inflight: number;
  readonly admitted: number;
  readonly rejected: number;
  readonly partitions: Readonly<Record<string, { readonly inflight: number; readonly limit: number }>>;
}

/** An admitted request; pass it to `release`. */
export interface ConcurrencyPermit {
  readonly startedMs: number;
  readonly inflight: number;
  readonly partition: number;
}

function defaultIsDropped(outcome: Outcome): boolean {
  if (!outcome.ok && ResilienceError.is(outcome.error) && (outcome.error.code === 'KEEL_RES_TIMEOUT' || outcome.error.code === 'KEEL_RES_DEADLINE_EXCEEDED')) return true;
  return isOverloadRejection(outcome);
}

/**
 * Limits requests in flight to a limit that adapts to measured latency
 * (Netflix concurrency-limits, Envoy's adaptive concurrency filter). With
 * partitions, each gets `ceil(limit × share)` guaranteed; a request is
 * refused only when the whole limit is in use and its partition has used
 * its share, so an idle partition's room is lent to the others (Netflix's
 * partitioned limiter rule).
 */
export class AdaptiveConcurrencyPolicy implements Policy {
  readonly events = new EventSource<ConcurrencyEvent>();
  readonly #algorithm: LimitAlgorithm;
  readonly #partitions: readonly Partition[];
  readonly #partitionOf: ReadonlyMap<Criticality, number> | undefined;
  readonly #partitionInflight: number[];
  readonly #isDropped: (outcome: Outcome) => boolean;
  readonly #clock: Clock;
  #inflight = 0;
  #admitted = 0;
  #rejected = 0;

  constructor(options: AdaptiveConcurrencyOptions = {}) {
    this.#algorithm = options.limit ?? new GradientLimit();
    this.#partitions = options.partitions ?? [];
    this.#partitionOf = this.#partitions.length > 0 ? partitionIndex(this.#partitions) : undefined;
    this.#partitionInflight = this.#partitions.map(() => 0);
    this.#isDropped = options.isDropped ?? defaultIsDropped;
    this.#clock = options.clock ?? systemClock;
  }

  /** The current limit, rounded down (at least 1). */
  get limit(): number {
    return Math.max(1, Math.floor(this.#algorithm.limit));
  }

  #partitionLimit(position: number): number {
    return Math.max(1, Math.ceil(this.limit * (this.#partitions[position]?.share ?? 1)));
  }

  /** Admits a request of `criticality`, or returns undefined when at the limit. */
  tryAcquire(criticality: Criticality): ConcurrencyPermit | undefined {
    const position = this.#partitionOf?.get(criticality) ?? -1;
    const atLimit = this.#inflight >= this.limit;
    const partitionFull = position < 0 || (this.#partitionInflight[position] ?? 0) >= this.#partitionLimit(position);
    if (atLimit && partitionFull) {
      this.#rejected++;
      const partition = this.#partitions[position]?.name ?? 'all';
      if (this.events.active) this.events[EMIT]({ type: 'rejected', limit: this.limit, inflight: this.#inflight, partition });
      return undefined;
    }
    this.#inflight++;
    this.#admitted++;
    if (position >= 0) this.#partitionInflight[position] = (this.#partitionInflight[position] ?? 0) + 1;
    return { startedMs: this.#clock.now(), inflight: this.#inflight, partition: position };
  }

  /** Ends an admitted request and feeds its RTT to the algorithm. */
  release(permit: ConcurrencyPermit, dropped: boolean): void {
    this.#inflight--;
    if (permit.partition >= 0) this.#partitionInflight[permit.partition] = (this.#partitionInflight[permit.partition] ?? 1) - 1;
    const before = this.#algorithm.limit;
    const after = this.#algorithm.update({ rttMs: this.#clock.now() - permit.startedMs, inflight: permit.inflight, dropped });
    if (after !== before && this.events.active) this.events[EMIT]({ type: 'limit-changed', from: before, to: after });
  }

  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    const permit = this.tryAcquire(context.criticality);
    if (permit === undefined) {
      const position = this.#partitionOf?.get(context.criticality) ?? -1;
      throw new ConcurrencyLimitedError(this.limit, this.#inflight, this.#partitions[position]?.name ?? 'all');
    }
    const outcome = await settle(fn, context);
    this.release(permit, this.#isDropped(outcome));
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  stats(): ConcurrencyStats {
    const partitions: Record<string, { inflight: number; limit: number }> = {};
    this.#partitions.forEach((partition, position) => {
      partitions[partition.name] = { inflight: this.#partitionInflight[position] ?? 0, limit: this.#partitionLimit(position) };
    });
    return { limit: this.limit, inflight: this.#inflight, admitted: this.#admitted, rejected: this.#rejected, partitions };
  }
}

/** An adaptive concurrency limiter; see `AdaptiveConcurrencyPolicy`. */
export function adaptiveConcurrency(options?: AdaptiveConcurrencyOptions): AdaptiveConcurrencyPolicy {
  return new AdaptiveConcurrencyPolicy(options);
}
