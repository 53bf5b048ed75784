import { loadSlos, SloEvaluator, type SloStatus } from '../slo/index.js';
import { DashboardError } from './errors.js';
import type { SloSource } from './slo-panel.js';
import type { SloStatusView } from './state.js';

/**
 * The SLO panel fed by keel/observe's SloEvaluator: with `--prometheus`, it
 * queries that Prometheus; otherwise it scrapes the members' and the
 * gateway's /metrics itself (in the background, every `scrapeIntervalMs`),
 * so its windows cover only what this dashboard has seen since it started.
 */

/** The evaluator's own scrapes are lighter than the dashboard's polls: burn rates over minutes need no second-by-second samples. */
export const SLO_SCRAPE_INTERVAL_MS_MIN = 5_000;

export interface EvaluatorSourceOptions {
  readonly prometheusUrl?: string;
  readonly scrapeUrls: readonly string[];
  readonly scrapeIntervalMs: number;
}

export function evaluatorSloSource(file: string, options: EvaluatorSourceOptions): SloSource {
  let evaluator: SloEvaluator;
  try {
    const slos = loadSlos(file);
    evaluator = new SloEvaluator(slos, options.prometheusUrl === undefined ? { scrapeUrls: options.scrapeUrls } : { prometheusUrl: options.prometheusUrl });
  } catch (error) {
    throw new DashboardError('KEEL_DASH_BAD_SLO', `--slo: ${(error as Error).message}`);
  }
  if (options.prometheusUrl === undefined) evaluator.start(Math.max(SLO_SCRAPE_INTERVAL_MS_MIN, options.scrapeIntervalMs));
  // With a Prometheus, one evaluation is several instant queries per SLO: at most one every SLO_SCRAPE_INTERVAL_MS_MIN, not one per poll.
  let last: { atMs: number; statuses: Promise<SloStatusView[]> } | undefined;
  return {
    evaluate: () => {
      const nowMs = Date.now();
      if (last === undefined || nowMs - last.atMs >= SLO_SCRAPE_INTERVAL_MS_MIN) {
        last = { atMs: nowMs, statuses: evaluator.evaluate().then((evaluation) => evaluation.slos.map(statusView)) };
        // A failed evaluation is not kept: the next poll tries again.
        last.statuses.catch(() => (last = undefined));
      }
      return last.statuses;
    },
    close: () => {
      evaluator.stop();
      return Promise.resolve();
    },
  };
}

function statusView(status: SloStatus): SloStatusView {
  return {
    name: status.displayName || status.name,
    objective: status.target,
    budgetRemaining: status.budgetRemaining,
    burnRates: status.windows.map((window) => ({ window: window.window, burnRate: window.burnRate })),
    alerting: status.pageFiring || status.ticketFiring,
  };
}
