/** SLOs and error budgets: OpenSLO loading, Sloth-compatible rules, burn-rate evaluation. See docs/observe-slo.md. */
export { loadSlos, parseSlos, ANNOTATION_MIN_EVENTS, ANNOTATION_RUNBOOK_URL } from './load.js';
export { generateRules, buildRuleGroups, MIN_EVENTS_DEFAULT, type RuleOptions, type RuleGroup, type RecordingRule, type AlertingRule } from './rules.js';
export { burnRate, alertFiring, STANDARD_WINDOWS_SECONDS, PAGE_PAIRS, TICKET_PAIRS, type WindowReading } from './burn.js';
export { ObserveError, OBSERVE_ERROR_CODES, type ObserveErrorCode } from './errors.js';
export { KEEL_METRICS, GRPC_SERVER_ERROR_CODES } from './keel-metrics.js';
export type { Slo, Sli, MetricQuery, TimeWindow, Budgeting, AlertSpec, BurnWindowPair, Severity } from './model.js';
export { parseSelector, formatSelector, type Selector, type Matcher } from './selector.js';
export { SloEvaluator, type EvaluatorOptions, type Evaluation, type SloStatus, type WindowStatus, type AlertStatus } from './evaluator.js';
export type { TargetHealth } from './scrape-source.js';
export { formatStatusTable } from './status-table.js';
