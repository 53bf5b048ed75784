import type { SloStatusView, SloView } from './state.js';

/**
 * The SLO panel's one dependency: something that evaluates SLOs now and
 * reports budget remaining and burn rates per objective. `--slo FILE` puts
 * keel/observe's SloEvaluator behind it (slo-evaluator-source.ts); an
 * embedder may give any other.
 */
export interface SloSource {
  /** Evaluates every objective; the source bounds its own queries. A rejection shows as the panel's error. */
  evaluate(): Promise<readonly SloStatusView[]>;
  close?(): Promise<void>;
}

export async function pollSlo(source: SloSource | undefined): Promise<SloView> {
  if (!source) return { configured: false, objectives: [] };
  try {
    return { configured: true, objectives: await source.evaluate() };
  } catch (error) {
    return { configured: true, objectives: [], error: (error as Error).message };
  }
}
