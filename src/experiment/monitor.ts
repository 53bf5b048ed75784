import { dirname, resolve } from 'node:path';
import { findLeader } from '../chaos/index.js';
import { loadSlos, SloEvaluator } from '../observe/slo/index.js';
import type { ExperimentCluster } from './cluster.js';
import { SAMPLE_INTERVAL_MS, SAMPLES_MAX } from './limits.js';
import { runActivity, type ActivityContext } from './probes.js';
import type { StopCondition } from './schema.js';
import type { Sample } from './timeline.js';

/**
 * What watches the run while the method goes: the stop conditions (each
 * evaluated every SAMPLE_INTERVAL_MS; the first that holds calls `onStop`
 * once), the leader and the SLO burn rate sampled for the timeline. Every
 * loop ends when `stop()` is called; samples are bounded.
 */

export interface Monitor {
  readonly leaders: readonly Sample<string | null>[];
  readonly burnRates: readonly Sample<number | null>[];
  stop(): Promise<void>;
}

/** Completed operations of the history, as the stop condition `history-errors` reads them. */
export class OutcomeWindow {
  readonly #outcomes: { atMs: number; failed: boolean }[] = [];
  readonly #limit: number;

  constructor(limit = 100_000) {
    this.#limit = limit;
  }

  add(atMs: number, failed: boolean): void {
    this.#outcomes.push({ atMs, failed });
    if (this.#outcomes.length > this.#limit) this.#outcomes.splice(0, this.#outcomes.length - this.#limit);
  }

  /** Failed over completed in (nowMs - windowMs, nowMs]; null with none completed. */
  errorRatio(nowMs: number, windowMs: number): { ratio: number | null; count: number } {
    let total = 0;
    let failed = 0;
    for (let index = this.#outcomes.length - 1; index >= 0; index--) {
      const outcome = this.#outcomes[index]!;
      if (outcome.atMs <= nowMs - windowMs) break;
      total++;
      if (outcome.failed) failed++;
    }
    return { ratio: total === 0 ? null : failed / total, count: total };
  }
}

/** A history-errors condition needs this many completions in its window before it may fire (a lone failure is no storm). */
const HISTORY_ERRORS_MIN_OPERATIONS = 5;

export interface MonitorOptions {
  readonly conditions: readonly StopCondition[];
  readonly experimentFile: string;
  readonly context: ActivityContext;
  readonly outcomes: OutcomeWindow;
  /** Called once, with the condition's name and why, when the first condition holds. */
  readonly onStop: (reason: string, atMs: number) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

export function startMonitor(options: MonitorOptions): Monitor {
  const { cluster, startedAt } = options.context;
  const leaders: Sample<string | null>[] = [];
  const burnRates: Sample<number | null>[] = [];
  let stopping = false;
  let fired = false;
  const sinceMs = (): number => Date.now() - startedAt;
  const fire = (reason: string): void => {
    if (fired || stopping) return;
    fired = true;
    options.onStop(reason, sinceMs());
  };
  const evaluators = options.conditions.flatMap((condition) => (condition.type === 'slo' ? [{ condition, evaluator: sloEvaluator(condition, options.experimentFile, cluster) }] : []));
  const loop = async (body: () => Promise<void>): Promise<void> => {
    for (let rounds = 0; !stopping && rounds < SAMPLES_MAX; rounds++) {
      const started = performance.now();
      await body().catch(() => undefined);
      await sleep(Math.max(0, SAMPLE_INTERVAL_MS - (performance.now() - started)));
    }
  };
  const failures = new Map<StopCondition, number>();
  const firingSince = new Map<StopCondition, number>();
  const loops = [
    // A services cluster has backends, not members: no leader to sample (and no requests of ours in their counts).
    ...(cluster.kind === 'services' ? [] : [loop(async () => {
      const leader = await findLeader(cluster.view()).then((member) => member.id, () => null);
      leaders.push({ atMs: sinceMs(), value: leader });
    })]),
    ...options.conditions.filter((condition) => condition.type === 'probe').map((condition) => loop(async () => {
      const run = await runActivity(condition, options.context);
      const count = run.status === 'failed' ? (failures.get(condition) ?? 0) + 1 : 0;
      failures.set(condition, count);
      if (count >= condition.failures) fire(`probe ${condition.name} failed ${count} time(s) in a row (${run.exception ?? `output ${JSON.stringify(run.output)}`})`);
    })),
    ...options.conditions.flatMap((condition) => (condition.type === 'history-errors' ? [loop(async () => {
      const { ratio, count } = options.outcomes.errorRatio(sinceMs(), condition.window);
      if (ratio !== null && count >= HISTORY_ERRORS_MIN_OPERATIONS && ratio > condition.above) fire(`${condition.name}: ${(ratio * 100).toFixed(1)} % of ${count} operations failed over ${condition.window} ms (above ${condition.above * 100} %)`);
    })] : [])),
    ...evaluators.map(({ condition, evaluator }) => loop(async () => {
      await evaluator.scrape();
      const evaluation = await evaluator.evaluate();
      const windows = evaluation.slos.flatMap((slo) => slo.windows);
      const shortest = [...windows].sort((a, b) => a.seconds - b.seconds)[0];
      burnRates.push({ atMs: sinceMs(), value: shortest?.burnRate ?? null });
      const firing = evaluation.slos.some((slo) => (condition.alert === 'page' ? slo.pageFiring : slo.pageFiring || slo.ticketFiring));
      if (!firing) {
        firingSince.delete(condition);
        return;
      }
      const since = firingSince.get(condition) ?? sinceMs();
      firingSince.set(condition, since);
      if (sinceMs() - since >= condition.for) fire(`${condition.name}: the ${condition.alert}-level burn-rate alert held for ${sinceMs() - since} ms`);
    })),
  ];
  return {
    leaders,
    burnRates,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

function sloEvaluator(condition: Extract<StopCondition, { type: 'slo' }>, experimentFile: string, cluster: ExperimentCluster): SloEvaluator {
  const slos = loadSlos(resolve(dirname(experimentFile), condition.slos));
  const urls = [...cluster.endpoints.map((url) => `${url}/metrics`)];
  return new SloEvaluator(slos, { scrapeUrls: urls, timeScale: condition['time-scale'] });
}
