/**
 * keel/observe: SLOs and error budgets. Load OpenSLO v1 definitions, generate
 * Sloth-compatible Prometheus rules with multi-window burn-rate alerts, and
 * evaluate burn rates in process (from a Prometheus or from /metrics):
 *
 *   import { loadSlos, generateRules } from 'keel/observe';
 *   const slos = loadSlos('examples/slo/keel.yaml');
 *   writeFileSync('rules.yaml', generateRules(slos));
 *
 * See docs/observe-slo.md.
 */
export * from './slo/index.js';
