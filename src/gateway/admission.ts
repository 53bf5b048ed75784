import {
  adaptiveConcurrency, type AdaptiveConcurrencyPolicy, type Clock, type Criticality, criticalityPartitions, criticalityRank, gradientLimit,
  type TimerHandle,
} from '../resilience/index.js';
import type { ClusterConfig } from './config.js';
import { GatewayError } from './errors.js';

type Options = NonNullable<ClusterConfig['adaptiveConcurrency']>;

/** Ends an admitted request; `dropped`: it timed out or was refused upstream (feeds the limit algorithm). */
export type Release = (dropped: boolean) => void;

interface Waiter {
  readonly criticality: Criticality;
  readonly rank: number;
  readonly enqueuedMs: number;
  readonly resolve: (release: Release) => void;
  readonly reject: (error: GatewayError) => void;
  timer: TimerHandle | undefined;
}

/** Seconds a shed client is asked to wait (`Retry-After`): long enough to spread retries past a CoDel interval. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

function overloaded(cluster: string, why: string): GatewayError {
  return new GatewayError('KEEL_GW_OVERLOADED', `cluster ${cluster}: ${why}`, { 'retry-after': String(OVERLOADED_RETRY_AFTER_SECONDS) });
}

/**
 * One cluster's admission: an adaptive concurrency limit partitioned by
 * criticality, and in front of it a bounded queue ordered by criticality
 * (FIFO within a level). A full queue sheds its least critical waiter for a
 * more critical arrival. Queue delay is controlled CoDel-style (Facebook's
 * "adaptive queue" variant): while the shortest wait seen over an interval
 * stays under the target, a waiter may wait up to the interval; once it
 * exceeds the target the queue is standing, and waiters get only the target
 * before they are shed. No waiter outlives its request's deadline.
 */
export class ClusterAdmission {
  readonly signature: string;
  readonly policy: AdaptiveConcurrencyPolicy;
  readonly #options: Options;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #queue: Waiter[] = [];
  #intervalStartMs: number;
  #minDelayMs = Infinity;
  #standing = false;
  #shed = 0;

  constructor(name: string, options: Options, clock: Clock) {
    this.#name = name;
    this.#options = options;
    this.#clock = clock;
    this.signature = JSON.stringify(options);
    const limit = gradientLimit({ initialLimit: options.initialLimit, minLimit: options.minLimit, maxLimit: options.maxLimit });
    this.policy = adaptiveConcurrency({ limit, partitions: criticalityPartitions(options.criticalShare), clock });
    this.#intervalStartMs = clock.now();
  }

  /** Admits now, or queues, or refuses; `deadlineMs` bounds the wait. */
  admit(criticality: Criticality, deadlineMs: number | undefined): Release | Promise<Release> {
    if (this.#queue.length === 0) {
      const release = this.#tryAcquire(criticality);
      if (release) return release;
    }
    if (this.#options.queueSize === 0) throw overloaded(this.#name, `at its concurrency limit ${this.policy.limit}`);
    const rank = criticalityRank(criticality);
    if (this.#queue.length >= this.#options.queueSize) {
      const last = this.#queue[this.#queue.length - 1] as Waiter;
      if (last.rank <= rank) throw overloaded(this.#name, 'admission queue full');
      this.#remove(last);
      last.reject(overloaded(this.#name, 'shed for a more critical request'));
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = { criticality, rank, enqueuedMs: this.#clock.now(), resolve, reject, timer: undefined };
      let position = this.#queue.length;
      while (position > 0 && (this.#queue[position - 1] as Waiter).rank > rank) position--;
      this.#queue.splice(position, 0, waiter);
      const nowMs = this.#clock.now();
      const waitMs = Math.min(this.#standing ? this.#options.queueTargetDelayMs : this.#options.queueIntervalMs, deadlineMs === undefined ? Infinity : deadlineMs - nowMs);
      waiter.timer = this.#clock.setTimeout(() => {
        this.#remove(waiter);
        this.#observeDelay(this.#clock.now() - waiter.enqueuedMs);
        reject(overloaded(this.#name, 'queued too long'));
      }, Math.max(0, waitMs));
    });
  }

  #tryAcquire(criticality: Criticality): Release | undefined {
    const permit = this.policy.tryAcquire(criticality);
    if (permit === undefined) return undefined;
    let released = false;
    return (dropped) => {
      if (released) return;
      released = true;
      this.policy.release(permit, dropped);
      this.#admitWaiters();
    };
  }

  /** Hands freed permits to waiters, most critical first (bounded by the queue length). */
  #admitWaiters(): void {
    for (let index = 0; index < this.#queue.length; index++) {
      const waiter = this.#queue[index] as Waiter;
      const release = this.#tryAcquire(waiter.criticality);
      if (release === undefined) continue;
      this.#queue.splice(index, 1);
      index--;
      if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
      this.#observeDelay(this.#clock.now() - waiter.enqueuedMs);
      waiter.resolve(release);
    }
  }

  #remove(waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter);
    if (index >= 0) this.#queue.splice(index, 1);
    if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
    this.#shed++;
  }

  /** CoDel's state: the minimum sojourn over each interval decides whether the queue is standing. */
  #observeDelay(delayMs: number): void {
    const nowMs = this.#clock.now();
    this.#minDelayMs = Math.min(this.#minDelayMs, delayMs);
    if (nowMs - this.#intervalStartMs < this.#options.queueIntervalMs) return;
    this.#standing = this.#minDelayMs > this.#options.queueTargetDelayMs;
    this.#minDelayMs = Infinity;
    this.#intervalStartMs = nowMs;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.policy.stats(), queued: this.#queue.length, standingQueue: this.#standing, shedFromQueue: this.#shed };
  }
}

/**
 * Admission for every cluster that configures `adaptiveConcurrency`. A
 * refusal is `KEEL_GW_OVERLOADED` (503, `keel-reject-reason: overloaded`).
 * Clusters whose settings are unchanged keep their limiter across reloads.
 */
export class Admission {
  readonly #clusters = new Map<string, ClusterAdmission>();

  constructor(clusters: Readonly<Record<string, ClusterConfig>>, clock: Clock, previous?: Admission) {
    for (const [name, cluster] of Object.entries(clusters)) {
      const options = cluster.adaptiveConcurrency;
      if (options === undefined) continue;
      const old = previous === undefined ? undefined : previous.#clusters.get(name);
      this.#clusters.set(name, old && old.signature === JSON.stringify(options) ? old : new ClusterAdmission(name, options, clock));
    }
  }

  admit(cluster: string, criticality: Criticality, deadlineMs?: number): Release | Promise<Release> {
    const admission = this.#clusters.get(cluster);
    return admission === undefined ? () => {} : admission.admit(criticality, deadlineMs);
  }

  /** For the admin endpoint. */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries([...this.#clusters].map(([name, admission]) => [name, admission.toJSON()]));
  }
}
