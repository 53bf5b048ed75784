import { abortError } from './abort.js';
import { type Clock, systemClock, type TimerHandle } from './clock.js';
import { type Criticality, criticalityRank } from './criticality.js';
import { BulkheadQueueTimeoutError, BulkheadRejectedError } from './errors.js';
import { EMIT, EventSource } from './events.js';
import { BULKHEAD_CONCURRENCY_MAX, BULKHEAD_QUEUE_MAX } from './limits.js';
import { BoundedLru } from './lru.js';
import { checkInteger, checkRange } from './options.js';
import { type ExecuteOptions, invoke, type Operation, type Policy, type PolicyContext, toContext } from './policy.js';
import { runStages, STAGE, type Stage } from './stage.js';

export interface BulkheadOptions {
  /** Calls running at once (default 25, Resilience4j's maxConcurrentCalls). */
  readonly maxConcurrent?: number;
  /** Calls waiting for a slot (default 0: refuse at once, as Resilience4j, Polly and cockatiel). */
  readonly queueSize?: number;
  /** Longest wait in the queue (default 1 s). */
  readonly queueTimeoutMs?: number;
  readonly clock?: Clock;
}

export const BULKHEAD_DEFAULTS = Object.freeze({ maxConcurrent: 25, queueSize: 0, queueTimeoutMs: 1_000 });

export type BulkheadEvent =
  | { readonly type: 'rejected'; readonly reason: 'full' | 'displaced' | 'queue-timeout'; readonly criticality: Criticality }
  | { readonly type: 'queued'; readonly queued: number };

export interface BulkheadStats {
  readonly executing: number;
  readonly queued: number;
  readonly admitted: number;
  readonly rejected: number;
  readonly queueTimeouts: number;
}

interface Waiter {
  readonly rank: number;
  readonly criticality: Criticality;
  readonly grant: () => void;
  readonly refuse: (error: Error) => void;
}

/**
 * A concurrency limit with a bounded queue. The queue is ordered by
 * criticality (FIFO within a level); when it is full, a more critical
 * arrival displaces the least critical waiter instead of being refused.
 * A waiter leaves the queue on its queue timeout or when its signal fires.
 */
export class BulkheadPolicy implements Policy {
  readonly events = new EventSource<BulkheadEvent>();
  readonly maxConcurrent: number;
  readonly queueSize: number;
  readonly queueTimeoutMs: number;
  readonly #clock: Clock;
  #executing = 0;
  #queue: Waiter[] = [];
  #admitted = 0;
  #rejected = 0;
  #queueTimeouts = 0;

  constructor(options: BulkheadOptions = {}) {
    this.maxConcurrent = checkInteger('maxConcurrent', options.maxConcurrent ?? BULKHEAD_DEFAULTS.maxConcurrent, 1, BULKHEAD_CONCURRENCY_MAX);
    this.queueSize = checkInteger('queueSize', options.queueSize ?? BULKHEAD_DEFAULTS.queueSize, 0, BULKHEAD_QUEUE_MAX);
    this.queueTimeoutMs = checkRange('queueTimeoutMs', options.queueTimeoutMs ?? BULKHEAD_DEFAULTS.queueTimeoutMs, 0, Number.MAX_SAFE_INTEGER);
    this.#clock = options.clock ?? systemClock;
  }

  /** True when a call could start right now without queueing. */
  get hasCapacity(): boolean {
    return this.#executing < this.maxConcurrent;
  }

  /** True when nothing runs or waits (keyed bulkheads evict only idle pools). */
  get idle(): boolean {
    return this.#executing === 0 && this.#queue.length === 0;
  }

  /** The fast path: a call that finds a free slot takes it without waiting. */
  readonly [STAGE]: Stage = {
    admits: () => this.#executing < this.maxConcurrent,
    enter: () => {
      this.#executing++;
      this.#admitted++;
      return undefined;
    },
    inner: (_token, context) => context,
    leave: () => {
      this.#release();
      return undefined;
    },
    general: (fn, context) => this.#executeGeneral(fn, context),
  };

  readonly #stages: readonly Stage[] = [this[STAGE]];

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return runStages(this.#stages, 0, fn, toContext(options));
  }

  async #executeGeneral<T>(fn: Operation<T>, context: PolicyContext): Promise<T> {
    if (this.#executing >= this.maxConcurrent) await this.#enqueue(context);
    else this.#executing++;
    this.#admitted++;
    try {
      return await invoke(fn, context);
    } finally {
      this.#release();
    }
  }

  stats(): BulkheadStats {
    return { executing: this.#executing, queued: this.#queue.length, admitted: this.#admitted, rejected: this.#rejected, queueTimeouts: this.#queueTimeouts };
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next === undefined) this.#executing--;
    else next.grant(); // the slot passes straight to the waiter
  }

  #refuse(criticality: Criticality, reason: 'full' | 'displaced'): BulkheadRejectedError {
    this.#rejected++;
    if (this.events.active) this.events[EMIT]({ type: 'rejected', reason, criticality });
    return new BulkheadRejectedError(this.#executing, this.#queue.length, reason);
  }

  #enqueue(context: PolicyContext): Promise<void> {
    const rank = criticalityRank(context.criticality);
    if (this.#queue.length >= this.queueSize) {
      const last = this.#queue[this.#queue.length - 1];
      if (last === undefined || last.rank <= rank) return Promise.reject(this.#refuse(context.criticality, 'full'));
      this.#queue.pop();
      last.refuse(this.#refuse(last.criticality, 'displaced'));
    }
    if (context.signal.aborted) return Promise.reject(abortError(context.signal));
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle;
      const leave = (): void => {
        this.#clock.clearTimeout(timer);
        context.signal.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        rank,
        criticality: context.criticality,
        grant: () => {
          leave();
          resolve();
        },
        refuse: (error) => {
          leave();
          reject(error);
        },
      };
      const remove = (): void => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
      };
      const onAbort = (): void => {
        remove();
        waiter.refuse(abortError(context.signal));
      };
      timer = this.#clock.setTimeout(() => {
        remove();
        this.#queueTimeouts++;
        this.#rejected++;
        if (this.events.active) this.events[EMIT]({ type: 'rejected', reason: 'queue-timeout', criticality: context.criticality });
        waiter.refuse(new BulkheadQueueTimeoutError(this.queueTimeoutMs));
      }, this.queueTimeoutMs);
      context.signal.addEventListener('abort', onAbort, { once: true });
      let index = this.#queue.length;
      while (index > 0 && (this.#queue[index - 1] as Waiter).rank > rank) index--;
      this.#queue.splice(index, 0, waiter);
      if (this.events.active) this.events[EMIT]({ type: 'queued', queued: this.#queue.length });
    });
  }
}

/** A bulkhead; see `BulkheadPolicy`. */
export function bulkhead(options?: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}

export interface KeyedBulkheadOptions extends BulkheadOptions {
  /** Separate pools kept at most; idle pools are evicted least recently used first (default 1,000). */
  readonly maxKeys?: number;
}

/**
 * One bulkhead per dependency (or tenant), chosen by `context.key`, so a
 * slow dependency fills only its own pool. Calls without a key share the
 * pool named ''. When every pool is busy and the map is full, the call is
 * refused rather than letting memory grow.
 */
export class KeyedBulkheadPolicy implements Policy {
  readonly #pools: BoundedLru<BulkheadPolicy>;
  readonly #options: BulkheadOptions;

  constructor(options: KeyedBulkheadOptions = {}) {
    this.#options = options;
    this.#pools = new BoundedLru<BulkheadPolicy>(options.maxKeys ?? 1_000, (pool) => pool.idle);
  }

  /** The pool for `key` (created on first use). */
  pool(key: string): BulkheadPolicy | undefined {
    return this.#pools.get(key, () => new BulkheadPolicy(this.#options));
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const context = toContext(options);
    const pool = this.pool(context.key ?? '');
    if (pool === undefined) return Promise.reject(new BulkheadRejectedError(0, 0, 'full'));
    return pool.execute(fn, context);
  }

  /** Stats per live pool. */
  stats(): Record<string, BulkheadStats> {
    const result: Record<string, BulkheadStats> = {};
    for (const key of this.#pools.keys()) {
      const pool = this.#pools.peek(key);
      if (pool !== undefined) result[key] = pool.stats();
    }
    return result;
  }
}

/** Per-key bulkheads; see `KeyedBulkheadPolicy`. */
export function keyedBulkhead(options?: KeyedBulkheadOptions): KeyedBulkheadPolicy {
  return new KeyedBulkheadPolicy(options);
}
