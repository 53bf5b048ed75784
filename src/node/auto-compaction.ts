import { NodeConfigError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * etcd's automatic compaction (--auto-compaction-mode, --auto-compaction-
 * retention), decided by a pure policy object fed with the time and the
 * current revision, and run by a timer on every member that acts only
 * while the member leads: one proposal per decision, so followers never
 * race the leader with their own compactions.
 *
 * - periodic (etcd's compactor.Periodic): the retention is a duration (a
 *   bare number means hours). The revision is sampled every retention/10
 *   (at most every 6 minutes); once the retention has passed since start,
 *   and then every retention (at most hourly), the store is compacted to
 *   the oldest sample, i.e. the revision of about one retention ago.
 * - revision (etcd's compactor.Revision): the retention is a count N;
 *   every check interval (etcd: 5 minutes, fixed; keel: configurable so
 *   tests and small clusters need not wait) the store is compacted to
 *   current - N, unless that is not positive or was the last target.
 */
export type AutoCompactionPolicy =
  | { readonly mode: 'periodic'; readonly retentionMs: number }
  | { readonly mode: 'revision'; readonly revisions: number; readonly checkIntervalMs: number };

const HOUR_MS = 3_600_000;
/** etcd's retryDivisor: samples per retention period. */
const SAMPLES_PER_PERIOD = 10;
const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: HOUR_MS };

/** Go's time.ParseDuration subset etcd accepts ("1h30m", "10m", "500ms"); a bare number is hours, as etcd's flag. */
export function parseRetentionMs(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * HOUR_MS;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(trimmed)) throw new NodeConfigError(`autoCompactionRetention: "${text}" is neither a number of hours nor a duration like 30m or 1h30m`);
  let totalMs = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) totalMs += Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
  return totalMs;
}

/** The policy a configuration asks for; undefined when the retention is 0 (off, etcd's default). */
export function autoCompactionPolicy(mode: 'periodic' | 'revision', retention: string, revisionCheckMs: number): AutoCompactionPolicy | undefined {
  if (mode === 'revision') {
    if (!/^\d+$/.test(retention.trim())) throw new NodeConfigError(`autoCompactionRetention: revision mode needs a whole number of revisions, not "${retention}"`);
    const revisions = Number(retention.trim());
    if (!Number.isSafeInteger(revisions)) throw new NodeConfigError('autoCompactionRetention: too large');
    return revisions === 0 ? undefined : { mode, revisions, checkIntervalMs: revisionCheckMs };
  }
  const retentionMs = parseRetentionMs(retention);
  if (retentionMs === 0) return undefined;
  if (retentionMs < 1) throw new NodeConfigError('autoCompactionRetention: periodic retention must be at least 1ms');
  return { mode, retentionMs };
}

/** Decides when to compact and to which revision. Pure: time and revision come in as arguments. */
export class AutoCompactor {
  readonly policy: AutoCompactionPolicy;
  readonly pollIntervalMs: number;
  /** Periodic: revision samples, oldest first, at most samplesMax (a bounded window of one retention). */
  readonly #samples: number[] = [];
  readonly #samplesMax: number;
  #nextDueMs: number;
  #lastTarget = 0;

  constructor(policy: AutoCompactionPolicy, startMs: number) {
    this.policy = policy;
    if (policy.mode === 'periodic') {
      const capped = Math.min(policy.retentionMs, HOUR_MS);
      this.pollIntervalMs = Math.max(1, capped / SAMPLES_PER_PERIOD);
      this.#samplesMax = Math.floor(policy.retentionMs / this.pollIntervalMs) + 1;
      this.#nextDueMs = startMs + policy.retentionMs;
    } else {
      this.pollIntervalMs = policy.checkIntervalMs;
      this.#samplesMax = 0;
      this.#nextDueMs = startMs;
    }
  }

  /** Called every pollIntervalMs; the revision to compact to now, or undefined. */
  poll(nowMs: number, currentRevision: number, isLeader: boolean): number | undefined {
    if (this.policy.mode === 'periodic') {
      this.#samples.push(currentRevision);
      if (this.#samples.length > this.#samplesMax) this.#samples.shift();
      if (!isLeader || nowMs < this.#nextDueMs) return undefined;
      const target = this.#samples[0]!;
      return target > this.#lastTarget && target > 1 ? target : undefined;
    }
    if (!isLeader) return undefined;
    const target = currentRevision - this.policy.revisions;
    return target > 0 && target !== this.#lastTarget ? target : undefined;
  }

  /** The compaction to `revision` applied (or was already done: etcd counts ErrCompacted as success). */
  succeeded(nowMs: number, revision: number): void {
    this.#lastTarget = revision;
    if (this.policy.mode === 'periodic') this.#nextDueMs = nowMs + Math.min(this.policy.retentionMs, HOUR_MS);
  }
}

export interface AutoCompactionDeps {
  readonly isLeader: () => boolean;
  readonly revision: () => number;
  /** Proposes the compaction; rejects with the store's error. */
  readonly compact: (revision: number) => Promise<void>;
  readonly now: () => number;
  readonly log: Logger;
}

/** Runs a policy on a timer; returns a function that stops it. At most one compaction is in flight. */
export function startAutoCompaction(policy: AutoCompactionPolicy, deps: AutoCompactionDeps): () => void {
  const compactor = new AutoCompactor(policy, deps.now());
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight) return;
    const target = compactor.poll(deps.now(), deps.revision(), deps.isLeader());
    if (target === undefined) return;
    inFlight = true;
    deps.compact(target).then(
      () => {
        compactor.succeeded(deps.now(), target);
        deps.log.info('auto compaction', { mode: policy.mode, revision: target });
      },
      (error: unknown) => {
        if ((error as { code?: string }).code === 'KEEL_STORE_COMPACTED') compactor.succeeded(deps.now(), target);
        else deps.log.warn('auto compaction failed; will retry', { revision: target, error: (error as Error).message });
      },
    ).finally(() => {
      inFlight = false;
    });
  }, compactor.pollIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
