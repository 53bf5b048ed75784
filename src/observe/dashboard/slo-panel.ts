import type { SloStatusView, SloView } from './state.js';

/**
 * The SLO panel's one dependency: something that evaluates SLOs now and
 * reports budget remaining and burn rates per objective. keel/observe's
 * SloEvaluator (branch `slo`) is meant to sit behind this interface; until
 * it is merged, `keel dashboard --slo FILE` shows the panel with that
 * explanation instead of figures (see docs/observe-dashboard.md).
 */
export interface SloSource {
  /** Evaluates every objective; the source bounds its own queries. A rejection shows as the panel's error. */
  evaluate(): Promise<readonly SloStatusView[]>;
  close?(): Promise<void>;
}

/** A source that cannot evaluate: the panel shows why (a missing evaluator, a bad file). */
export class UnavailableSloSource implements SloSource {
  constructor(readonly reason: string) {}
  evaluate(): Promise<readonly SloStatusView[]> {
    return Promise.reject(new Error(this.reason));
  }
}

export async function pollSlo(source: SloSource | undefined): Promise<SloView> {
  if (!source) return { configured: false, objectives: [] };
  try {
    return { configured: true, objectives: await source.evaluate() };
  } catch (error) {
    return { configured: true, objectives: [], error: (error as Error).message };
  }
}
