import {
  adaptiveConcurrency, type AdaptiveConcurrencyPolicy, type Clock, type Criticality, CRITICALITY_LEVELS, criticalityPartitions, criticalityRank,
  gradientLimit, type LimitAlgorithm, type TimerHandle, vegasLimit,
} from '../resilience/index.js';
import { SojournMonitor } from './codel.js';
import type { ClusterConfig } from './config.js';
import { GatewayError } from './errors.js';

type Options = NonNullable<ClusterConfig['adaptiveConcurrency']>;

/** Ends an admitted request; `dropped`: it timed out or was refused upstream (feeds the limit algorithm). */
export type Release = (dropped: boolean) => void;

interface Waiter {
  readonly criticality: Criticality;
  readonly enqueuedMs: number;
  readonly resolve: (release: Release) => void;
  readonly reject: (error: GatewayError) => void;
  timer: TimerHandle | undefined;
}

/** One criticality level's waiters (in arrival order) and its CoDel state. */
interface Level {
  readonly criticality: Criticality;
  /** True for the levels of the critical partition (CRITICAL_PLUS, CRITICAL). */
  readonly critical: boolean;
  readonly waiters: Waiter[];
  readonly sojourn: SojournMonitor;
}

/** Seconds a shed client is asked to wait (`Retry-After`): long enough to spread retries past a CoDel interval. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

function overloaded(cluster: string, why: string): GatewayError {
  return new GatewayError('KEEL_GW_OVERLOADED', `cluster ${cluster}: ${why}`, { 'retry-after': String(OVERLOADED_RETRY_AFTER_SECONDS) });
}

function limitAlgorithm(options: Options): LimitAlgorithm {
  const bounds = { initialLimit: options.initialLimit, minLimit: options.minLimit, maxLimit: options.maxLimit };
  return options.limitAlgorithm === 'gradient' ? gradientLimit(bounds) : vegasLimit(bounds);
}

/**
 * One cluster's admission, built so that under overload critical traffic is
 * served fast, not merely admitted:
 *
 * - an adaptive concurrency limit (Vegas by default: a short queue above the
 *   lowest RTT seen, so admitted requests do not wait out their deadline in
 *   the upstream's own queue), partitioned by criticality;
 * - in front of it a bounded queue per criticality level; a freed permit
 *   goes to the most critical waiter; a full queue sheds its least critical
 *   waiter for a more critical arrival;
 * - CoDel per level (Facebook's adaptive queue): while a level's shortest
 *   wait over an interval stays under its target, its waiters may wait up to
 *   the interval, FIFO; once the level's queue is standing they get only the
 *   target and are served LIFO, so the requests served are the fresh ones
 *   and the stale ones are refused early, while their clients can still
 *   retry elsewhere;
 * - the sheddable partition only gets what critical traffic leaves: while a
 *   critical request has had to wait (or was refused) within the last
 *   interval, sheddable requests are refused on arrival and those queued are
 *   shed at once, instead of taking permits the critical queue needs
 *   (Google's criticality-based rejection, rejecting early rather than late).
 *
 * No waiter outlives its request's deadline. Every queue is bounded by
 * `queueSize`; every loop by the number of waiters.
 */
export class ClusterAdmission {
  readonly signature: string;
  readonly policy: AdaptiveConcurrencyPolicy;
  readonly #options: Options;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #levels: readonly Level[];
  #queued = 0;
  /** Until when sheddable traffic is refused because critical traffic had to wait. */
  #criticalPressureUntilMs = -Infinity;
  #shed = 0;
  #shedEarly = 0;

  constructor(name: string, options: Options, clock: Clock) {
    this.#name = name;
    this.#options = options;
    this.#clock = clock;
    this.signature = JSON.stringify(options);
    const partitions = criticalityPartitions(options.criticalShare);
    this.policy = adaptiveConcurrency({ limit: limitAlgorithm(options), partitions, clock });
    const criticalLevels = new Set<Criticality>(partitions[0]?.criticalities ?? []);
    const nowMs = clock.now();
    this.#levels = CRITICALITY_LEVELS.map((criticality) => ({
      criticality,
      critical: criticalLevels.has(criticality),
      waiters: [],
      sojourn: new SojournMonitor(options.queueTargetDelayMsByCriticality?.[criticality] ?? options.queueTargetDelayMs, options.queueIntervalMs, nowMs),
    }));
  }

  /** Admits now, or queues, or refuses; `deadlineMs` bounds the wait. */
  admit(criticality: Criticality, deadlineMs: number | undefined): Release | Promise<Release> {
    const nowMs = this.#clock.now();
    const level = this.#levels[criticalityRank(criticality)] as Level;
    if (!level.critical && nowMs < this.#criticalPressureUntilMs) {
      this.#shedEarly++;
      throw overloaded(this.#name, 'critical traffic is queueing; sheddable traffic is refused');
    }
    if (!this.#moreCriticalWaiting(level)) {
      // Not a CoDel sample: the monitor measures waits in the queue, as Facebook's adaptive queue does.
      const release = this.#tryAcquire(criticality);
      if (release) return release;
    }
    if (level.critical) this.#criticalPressure(nowMs);
    if (this.#options.queueSize === 0) throw overloaded(this.#name, `at its concurrency limit ${this.policy.limit}`);
    if (this.#queued >= this.#options.queueSize) this.#makeRoomFor(level);
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = { criticality, enqueuedMs: nowMs, resolve, reject, timer: undefined };
      level.waiters.push(waiter);
      this.#queued++;
      const patienceMs = level.sojourn.standing ? level.sojourn.targetDelayMs : this.#options.queueIntervalMs;
      const waitMs = Math.min(patienceMs, deadlineMs === undefined ? Infinity : deadlineMs - nowMs);
      waiter.timer = this.#clock.setTimeout(() => {
        waiter.timer = undefined;
        this.#remove(level, waiter);
        this.#shed++;
        level.sojourn.observe(this.#clock.now() - waiter.enqueuedMs, this.#clock.now());
        reject(overloaded(this.#name, 'queued too long'));
      }, Math.max(0, waitMs));
    });
  }

  /** True when a waiter at least as critical as `level` is queued (it goes first). */
  #moreCriticalWaiting(level: Level): boolean {
    for (const other of this.#levels) {
      if (other.waiters.length > 0) return true;
      if (other === level) return false;
    }
    return false;
  }

  /** Critical traffic had to wait: refuse sheddable traffic for an interval and shed the sheddable waiters now. */
  #criticalPressure(nowMs: number): void {
    this.#criticalPressureUntilMs = nowMs + this.#options.queueIntervalMs;
    for (const level of this.#levels) {
      if (level.critical) continue;
      while (level.waiters.length > 0) this.#shedWaiter(level, level.waiters[0] as Waiter, 'shed for critical traffic');
    }
  }

  /** The queue is full: shed the oldest waiter of the least critical level below `level`, or refuse. */
  #makeRoomFor(level: Level): void {
    for (let index = this.#levels.length - 1; index >= 0; index--) {
      const victim = this.#levels[index] as Level;
      if (victim === level) break;
      const oldest = victim.waiters[0];
      if (oldest !== undefined) {
        this.#shedWaiter(victim, oldest, 'shed for a more critical request');
        return;
      }
    }
    throw overloaded(this.#name, 'admission queue full');
  }

  #shedWaiter(level: Level, waiter: Waiter, why: string): void {
    this.#remove(level, waiter);
    this.#shed++;
    waiter.reject(overloaded(this.#name, why));
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

  /**
   * Hands freed permits to waiters, most critical level first; within a
   * level FIFO, or LIFO while its queue is standing. A level whose partition
   * is full is passed over for the next. Bounded by the number of waiters.
   */
  #admitWaiters(): void {
    const nowMs = this.#clock.now();
    for (const level of this.#levels) {
      if (!level.critical && nowMs < this.#criticalPressureUntilMs) continue;
      while (level.waiters.length > 0) {
        const lifo = this.#options.queueLifoWhenStanding && level.sojourn.standing;
        const waiter = (lifo ? level.waiters[level.waiters.length - 1] : level.waiters[0]) as Waiter;
        const release = this.#tryAcquire(waiter.criticality);
        if (release === undefined) break;
        this.#remove(level, waiter);
        level.sojourn.observe(nowMs - waiter.enqueuedMs, nowMs);
        waiter.resolve(release);
      }
    }
  }

  #remove(level: Level, waiter: Waiter): void {
    const index = level.waiters.indexOf(waiter);
    if (index >= 0) {
      level.waiters.splice(index, 1);
      this.#queued--;
    }
    if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
    waiter.timer = undefined;
  }

  toJSON(): Record<string, unknown> {
    const nowMs = this.#clock.now();
    return {
      ...this.policy.stats(),
      queued: this.#queued,
      queuedByCriticality: Object.fromEntries(this.#levels.map((level) => [level.criticality, level.waiters.length])),
      standingQueue: this.#levels.some((level) => level.sojourn.standing),
      standingByCriticality: Object.fromEntries(this.#levels.map((level) => [level.criticality, level.sojourn.standing])),
      sheddableRefused: nowMs < this.#criticalPressureUntilMs,
      shedFromQueue: this.#shed,
      shedOnArrival: this.#shedEarly,
    };
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
