import { readFileSync, statSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { STANDARD_WINDOWS_SECONDS, shortWindowFor, standardPairs } from './burn.js';
import { checkTimeZone, parseStartTime, type CalendarUnit } from './calendar.js';
import { parseDurationSeconds } from './duration.js';
import { badSlo, ObserveError } from './errors.js';
import { keelMetric } from './keel-metrics.js';
import { DOCUMENTS_MAX, FILE_BYTES_MAX, SLOS_MAX } from './limits.js';
import type { AlertSpec, Budgeting, MetricQuery, Severity, Sli, Slo, TimeWindow } from './model.js';
import {
  alertConditionSpecSchema, alertPolicySpecSchema, envelopeSchema, fieldPath, notificationTargetSpecSchema, sliSpecSchema, sloSpecSchema,
  type AlertConditionSpec, type AlertPolicySpec, type Metadata, type MetricSource, type NotificationTargetSpec, type Objective, type SliSpec, type SloSpec, type TimeWindowSpec,
} from './openslo-schema.js';
import { parseSelector } from './selector.js';

/**
 * Loads OpenSLO v1 files into keel's SLO model (model.ts). Every error is
 * an ObserveError KEEL_OBSERVE_BAD_SLO whose message names the file, the
 * document (1-based, with its kind and name) and the field path:
 * `slos.yaml: document 3 (SLO api-latency): spec.objectives[0].target: must be > 0 and < 1`.
 */

/** SLO annotations keel reads (OpenSLO has no field for them). */
export const ANNOTATION_MIN_EVENTS = 'keel.dev/min-events';
export const ANNOTATION_RUNBOOK_URL = 'keel.dev/runbook-url';

interface Named<T> {
  readonly metadata: Metadata;
  readonly spec: T;
  readonly where: string;
}

interface Catalog {
  readonly slis: Map<string, Named<SliSpec>>;
  readonly policies: Map<string, Named<AlertPolicySpec>>;
  readonly conditions: Map<string, Named<AlertConditionSpec>>;
  readonly targets: Map<string, Named<NotificationTargetSpec>>;
  readonly slos: Named<SloSpec>[];
}

/** Reads an OpenSLO file; a string holding a newline is taken as the YAML text itself. */
export function loadSlos(pathOrText: string): Slo[] {
  if (pathOrText.includes('\n')) return parseSlos(pathOrText, '<text>');
  let text: string;
  try {
    if (statSync(pathOrText).size > FILE_BYTES_MAX) throw badSlo(`${pathOrText}: larger than ${FILE_BYTES_MAX} bytes`);
    text = readFileSync(pathOrText, 'utf8');
  } catch (error) {
    if (ObserveError.is(error)) throw error;
    throw badSlo(`${pathOrText}: cannot read: ${(error as Error).message}`);
  }
  return parseSlos(text, pathOrText);
}

/** Parses OpenSLO YAML text (several documents); `source` names it in errors. */
export function parseSlos(text: string, source: string): Slo[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw badSlo(`${source}: not a YAML stream`);
  if (documents.length > DOCUMENTS_MAX) throw badSlo(`${source}: more than ${DOCUMENTS_MAX} documents`);
  const catalog: Catalog = { slis: new Map(), policies: new Map(), conditions: new Map(), targets: new Map(), slos: [] };
  documents.forEach((document, index) => {
    const where = `${source}: document ${index + 1}`;
    if (document.errors.length > 0) throw badSlo(`${where}: YAML: ${document.errors[0]!.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    catalogue(catalog, value, where);
  });
  if (catalog.slos.length === 0) throw badSlo(`${source}: no document of kind SLO`);
  const slos = catalog.slos.flatMap((slo) => resolveSlo(slo, catalog));
  if (slos.length > SLOS_MAX) throw badSlo(`${source}: more than ${SLOS_MAX} SLO objectives`);
  const ids = new Set<string>();
  for (const slo of slos) {
    if (ids.has(slo.id)) throw badSlo(`${slo.source}: duplicate SLO id '${slo.id}' (service and name must be unique)`);
    ids.add(slo.id);
  }
  return slos;
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string, prefix: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw badSlo(`${where}: ${fieldPath(prefix, issue.path)}: ${issue.message}`);
  }
  return result.data;
}

function catalogue(catalog: Catalog, value: unknown, where: string): void {
  const envelope = check(envelopeSchema, value, where, '');
  const here = `${where} (${envelope.kind} ${envelope.metadata.name})`;
  const add = <T>(map: Map<string, Named<T>>, spec: T): void => {
    if (map.has(envelope.metadata.name)) throw badSlo(`${here}: metadata.name: a ${envelope.kind} named '${envelope.metadata.name}' is already defined (${map.get(envelope.metadata.name)!.where})`);
    map.set(envelope.metadata.name, { metadata: envelope.metadata, spec, where: here });
  };
  switch (envelope.kind) {
    case 'SLO': catalog.slos.push({ metadata: envelope.metadata, spec: check(sloSpecSchema, envelope.spec, here, 'spec'), where: here }); break;
    case 'SLI': add(catalog.slis, check(sliSpecSchema, envelope.spec, here, 'spec')); break;
    case 'AlertPolicy': add(catalog.policies, check(alertPolicySpecSchema, envelope.spec, here, 'spec')); break;
    case 'AlertCondition': add(catalog.conditions, check(alertConditionSpecSchema, envelope.spec, here, 'spec')); break;
    case 'AlertNotificationTarget': add(catalog.targets, check(notificationTargetSpecSchema, envelope.spec, here, 'spec')); break;
    case 'Service': break;
    case 'DataSource': throw badSlo(`${here}: kind: DataSource is not supported; name the Prometheus with --prometheus`);
  }
}

function resolveSlo(slo: Named<SloSpec>, catalog: Catalog): Slo[] {
  const { spec, metadata, where } = slo;
  const sliSpec = indicatorOf(spec, catalog, where);
  const window = timeWindowOf(spec.timeWindow[0]!, where);
  const alerts = alertsOf(spec, catalog, where);
  const annotations = metadata.annotations ?? {};
  const minEvents = minEventsOf(annotations[ANNOTATION_MIN_EVENTS], where);
  const runbookUrl = annotations[ANNOTATION_RUNBOOK_URL];
  return spec.objectives.map((objective, index) => {
    const field = `spec.objectives[${index}]`;
    const name = spec.objectives.length === 1 ? metadata.name : `${metadata.name}-${objectiveSuffix(objective, index)}`;
    return {
      id: `${spec.service}-${name}`,
      service: spec.service,
      name,
      displayName: objective.displayName ?? metadata.displayName ?? name,
      description: spec.description ?? '',
      source: where,
      target: targetOf(objective, where, field),
      sli: sliOf(sliSpec.spec, sliSpec.where, objective, `${where}: ${field}`),
      window,
      budgeting: budgetingOf(spec.budgetingMethod, objective, where, field),
      alerts,
      ...(minEvents === undefined ? {} : { minEvents }),
      ...(runbookUrl === undefined ? {} : { runbookUrl }),
      labels: flattenLabels(metadata.labels),
    };
  });
}

function objectiveSuffix(objective: Objective, index: number): string {
  const slug = (objective.displayName ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return slug === '' ? String(index) : slug;
}

function indicatorOf(spec: SloSpec, catalog: Catalog, where: string): { spec: SliSpec; where: string } {
  if (spec.objectives.some((objective) => objective.indicator !== undefined || objective.indicatorRef !== undefined)) {
    throw badSlo(`${where}: spec.objectives: composite SLOs (an indicator per objective) are not supported`);
  }
  if ((spec.indicator === undefined) === (spec.indicatorRef === undefined)) throw badSlo(`${where}: spec: give exactly one of indicator and indicatorRef`);
  if (spec.indicator !== undefined) return { spec: spec.indicator.spec, where: `${where}: spec.indicator.spec` };
  const named = catalog.slis.get(spec.indicatorRef!);
  if (named === undefined) throw badSlo(`${where}: spec.indicatorRef: no SLI named '${spec.indicatorRef}' in this file`);
  return { spec: named.spec, where: `${named.where}: spec` };
}

function targetOf(objective: Objective, where: string, field: string): number {
  if ((objective.target === undefined) === (objective.targetPercent === undefined)) throw badSlo(`${where}: ${field}: give exactly one of target and targetPercent`);
  return objective.target ?? objective.targetPercent! / 100;
}

function timeWindowOf(window: TimeWindowSpec, where: string): TimeWindow {
  const field = 'spec.timeWindow[0]';
  const seconds = parseDurationSeconds(window.duration, `${where}: ${field}.duration`);
  if (window.isRolling !== false) {
    if (window.calendar !== undefined) throw badSlo(`${where}: ${field}.calendar: only with isRolling: false`);
    return { kind: 'rolling', seconds, text: window.duration };
  }
  if (window.calendar === undefined) throw badSlo(`${where}: ${field}.calendar: required when isRolling is false`);
  const match = /^(\d+)([dwMQY])$/.exec(window.duration.trim());
  if (match === null) throw badSlo(`${where}: ${field}.duration: a calendar window is a whole number of d, w, M, Q or Y (got '${window.duration}')`);
  checkTimeZone(window.calendar.timeZone, `${where}: ${field}.calendar.timeZone`);
  const start = parseStartTime(window.calendar.startTime, `${where}: ${field}.calendar.startTime`);
  return { kind: 'calendar', seconds, text: window.duration, unit: match[2] as CalendarUnit, count: Number(match[1]), start, timeZone: window.calendar.timeZone };
}

function budgetingOf(method: SloSpec['budgetingMethod'], objective: Objective, where: string, field: string): Budgeting {
  if (method === 'RatioTimeslices') throw badSlo(`${where}: spec.budgetingMethod: RatioTimeslices is not supported (use Occurrences or Timeslices)`);
  if (method === 'Occurrences') {
    if (objective.timeSliceTarget !== undefined || objective.timeSliceWindow !== undefined) throw badSlo(`${where}: ${field}.timeSliceTarget: only with budgetingMethod Timeslices`);
    return { method };
  }
  if (objective.timeSliceTarget === undefined) throw badSlo(`${where}: ${field}.timeSliceTarget: required with budgetingMethod Timeslices`);
  if (objective.timeSliceWindow === undefined) throw badSlo(`${where}: ${field}.timeSliceWindow: required with budgetingMethod Timeslices`);
  const windowText = typeof objective.timeSliceWindow === 'number' ? `${objective.timeSliceWindow}s` : objective.timeSliceWindow;
  const sliceSeconds = parseDurationSeconds(windowText, `${where}: ${field}.timeSliceWindow`);
  if (sliceSeconds > STANDARD_WINDOWS_SECONDS[0]!) throw badSlo(`${where}: ${field}.timeSliceWindow: at most 5m (the shortest burn-rate window holds whole slices)`);
  return { method: 'Timeslices', sliceSeconds, sliceTarget: objective.timeSliceTarget };
}

function sliOf(spec: SliSpec, where: string, objective: Objective, objectiveWhere: string): Sli {
  if ((spec.thresholdMetric === undefined) === (spec.ratioMetric === undefined)) throw badSlo(`${where}: give exactly one of thresholdMetric and ratioMetric`);
  if (spec.thresholdMetric !== undefined) return thresholdSli(spec.thresholdMetric.metricSource, `${where}.thresholdMetric.metricSource`, objective, objectiveWhere);
  const ratio = spec.ratioMetric!;
  const field = `${where}.ratioMetric`;
  if (objective.op !== undefined || objective.value !== undefined) throw badSlo(`${objectiveWhere}.op: op and value are for thresholdMetric SLIs; a ratio SLI's objective has only a target`);
  if (ratio.raw !== undefined || ratio.rawType !== undefined) throw badSlo(`${field}.raw: precomputed ratios are not supported; give good or bad, and total`);
  if (ratio.counter === false) throw badSlo(`${field}.counter: must be true (keel computes ratios from counters)`);
  if ((ratio.good === undefined) === (ratio.bad === undefined)) throw badSlo(`${field}: give exactly one of good and bad`);
  if (ratio.total === undefined) throw badSlo(`${field}.total: required`);
  const side = ratio.good !== undefined ? 'good' : 'bad';
  const query = metricQuery(ratio[side]!.metricSource, `${field}.${side}.metricSource`);
  const total = metricQuery(ratio.total.metricSource, `${field}.total.metricSource`);
  if (query.kind !== total.kind) throw badSlo(`${field}: ${side} and total must both be selectors or both be queries`);
  return side === 'good' ? { kind: 'ratio', good: query, total } : { kind: 'ratio', bad: query, total };
}

function stringRecord(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw badSlo(`${field}: must be a map of label names to strings`);
  }
  return value as Record<string, string>;
}

function stringField(spec: Record<string, unknown>, key: string, field: string): string | undefined {
  const value = spec[key];
  if (value !== undefined && typeof value !== 'string') throw badSlo(`${field}.spec.${key}: must be a string`);
  return value;
}

function checkKeys(spec: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const key of Object.keys(spec)) if (!allowed.includes(key)) throw badSlo(`${field}.spec.${key}: unknown field (expected ${allowed.join(' or ')})`);
}

function metricQuery(source: MetricSource, field: string): MetricQuery {
  if (source.metricSourceRef !== undefined) throw badSlo(`${field}.metricSourceRef: DataSource references are not supported; write type and spec inline`);
  const type = source.type.toLowerCase();
  if (type === 'keel') {
    checkKeys(source.spec, ['metric', 'labels'], field);
    const metric = stringField(source.spec, 'metric', field);
    if (metric === undefined) throw badSlo(`${field}.spec.metric: required (a keel metric such as grpc-errors)`);
    return { kind: 'selector', selector: keelMetric(metric, stringRecord(source.spec.labels, `${field}.spec.labels`), 'counter', `${field}.spec`).selector };
  }
  if (type !== 'prometheus') throw badSlo(`${field}.type: '${source.type}' is not supported (Prometheus or keel)`);
  checkKeys(source.spec, ['query', 'selector'], field);
  const query = stringField(source.spec, 'query', field);
  const selector = stringField(source.spec, 'selector', field);
  if ((query === undefined) === (selector === undefined)) throw badSlo(`${field}.spec: give exactly one of query (PromQL with {{.window}}) and selector (a counter selector)`);
  if (selector !== undefined) return { kind: 'selector', selector: parseSelector(selector, `${field}.spec.selector`) };
  if (!query!.includes('{{.window}}')) throw badSlo(`${field}.spec.query: must contain {{.window}} where the range goes, e.g. sum(rate(x_total[{{.window}}]))`);
  return { kind: 'promql', query: query! };
}

function thresholdSli(source: MetricSource, field: string, objective: Objective, objectiveWhere: string): Sli {
  if (objective.op !== 'lte' && objective.op !== 'lt') throw badSlo(`${objectiveWhere}.op: a thresholdMetric SLI needs op lte or lt (latency at most value)`);
  if (objective.value === undefined || !(objective.value > 0)) throw badSlo(`${objectiveWhere}.value: required, the latency bound in seconds (> 0)`);
  if (source.metricSourceRef !== undefined) throw badSlo(`${field}.metricSourceRef: DataSource references are not supported; write type and spec inline`);
  const type = source.type.toLowerCase();
  let histogram;
  let buckets: readonly number[] | undefined;
  if (type === 'keel') {
    checkKeys(source.spec, ['metric', 'labels'], field);
    const metric = stringField(source.spec, 'metric', field);
    if (metric === undefined) throw badSlo(`${field}.spec.metric: required (a keel histogram such as grpc-latency)`);
    ({ selector: histogram, buckets } = keelMetric(metric, stringRecord(source.spec.labels, `${field}.spec.labels`), 'histogram', `${field}.spec`));
  } else if (type === 'prometheus') {
    checkKeys(source.spec, ['selector'], field);
    const selector = stringField(source.spec, 'selector', field);
    if (selector === undefined) throw badSlo(`${field}.spec.selector: required, the histogram's name with matchers (raw queries are for ratio SLIs)`);
    histogram = parseSelector(selector, `${field}.spec.selector`);
    if (/_(bucket|count|sum)$/.test(histogram.metric)) throw badSlo(`${field}.spec.selector: name the histogram without _bucket/_count/_sum`);
  } else {
    throw badSlo(`${field}.type: '${source.type}' is not supported (Prometheus or keel)`);
  }
  if (buckets !== undefined && !buckets.includes(objective.value)) {
    throw badSlo(`${objectiveWhere}.value: ${objective.value} is not a bucket bound of ${histogram.metric} (${buckets.join(', ')})`);
  }
  return { kind: 'threshold', histogram, thresholdSeconds: objective.value, ...(buckets === undefined ? {} : { buckets }) };
}

function minEventsOf(text: string | undefined, where: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw badSlo(`${where}: metadata.annotations.${ANNOTATION_MIN_EVENTS}: must be a whole number >= 0`);
  return value;
}

function flattenLabels(labels: Metadata['labels']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels ?? {})) flat[key.replace(/[^a-zA-Z0-9_]/g, '_')] = Array.isArray(value) ? value.join(',') : value;
  return flat;
}

function alertName(policy: string, severity: Severity): string {
  const base = policy.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(base) ? `${base}_${severity}` : `slo_${base}_${severity}`;
}

function defaultAlerts(): AlertSpec[] {
  return (['page', 'ticket'] as const).map((severity) => ({
    severity, name: severity === 'page' ? 'KeelSloPageBurn' : 'KeelSloTicketBurn', pairs: standardPairs(severity), forSeconds: 0, labels: {}, annotations: {},
  }));
}

function alertsOf(spec: SloSpec, catalog: Catalog, where: string): AlertSpec[] {
  if (spec.alertPolicies === undefined || spec.alertPolicies.length === 0) return defaultAlerts();
  return spec.alertPolicies.flatMap((entry, index) => {
    const field = `${where}: spec.alertPolicies[${index}]`;
    if ('alertPolicyRef' in entry) {
      const named = catalog.policies.get(entry.alertPolicyRef);
      if (named === undefined) throw badSlo(`${field}.alertPolicyRef: no AlertPolicy named '${entry.alertPolicyRef}' in this file`);
      return policyAlerts(named.metadata, named.spec, catalog, `${named.where}: spec`);
    }
    return policyAlerts(entry.metadata, entry.spec, catalog, `${field}.spec`);
  });
}

function severityOf(text: string, field: string): Severity {
  const lower = text.toLowerCase();
  if (lower === 'page' || lower === 'critical') return 'page';
  if (lower === 'ticket' || lower === 'warning') return 'ticket';
  throw badSlo(`${field}: '${text}' is not a severity keel knows (page or ticket; critical and warning are read as those)`);
}

function policyAlerts(metadata: Metadata, spec: AlertPolicySpec, catalog: Catalog, field: string): AlertSpec[] {
  const bySeverity = new Map<Severity, { pairs: AlertSpec['pairs'][number][]; forSeconds: number }>();
  spec.conditions.forEach((entry, index) => {
    let condition: AlertConditionSpec;
    let here = `${field}.conditions[${index}]`;
    if ('conditionRef' in entry) {
      const named = catalog.conditions.get(entry.conditionRef);
      if (named === undefined) throw badSlo(`${here}.conditionRef: no AlertCondition named '${entry.conditionRef}' in this file`);
      condition = named.spec;
      here = `${named.where}: spec`;
    } else {
      condition = entry.spec;
      here = `${here}.spec`;
    }
    const severity = severityOf(condition.severity, `${here}.severity`);
    const longSeconds = parseDurationSeconds(condition.condition.lookbackWindow, `${here}.condition.lookbackWindow`);
    const forSeconds = condition.condition.alertAfter === undefined ? 0 : parseDurationSeconds(condition.condition.alertAfter, `${here}.condition.alertAfter`);
    const group = bySeverity.get(severity) ?? { pairs: [], forSeconds: 0 };
    group.pairs.push({ longSeconds, shortSeconds: shortWindowFor(longSeconds), factor: condition.condition.threshold });
    group.forSeconds = Math.max(group.forSeconds, forSeconds);
    bySeverity.set(severity, group);
  });
  const targets = (spec.notificationTargets ?? []).map((entry, index) => {
    if ('targetRef' in entry) {
      const named = catalog.targets.get(entry.targetRef);
      if (named === undefined) throw badSlo(`${field}.notificationTargets[${index}].targetRef: no AlertNotificationTarget named '${entry.targetRef}' in this file`);
      return { name: entry.targetRef, spec: named.spec };
    }
    return { name: entry.metadata.name, spec: entry.spec };
  });
  const labels = flattenLabels(metadata.labels);
  if (targets.length > 0) labels.notify = targets.map((target) => target.name).join(',');
  const annotations: Record<string, string> = {};
  if (targets.length > 0) annotations.notification_targets = targets.map((target) => `${target.name}: ${target.spec.target}${target.spec.description ? ` (${target.spec.description})` : ''}`).join('; ');
  if (spec.description !== undefined) annotations.description = spec.description;
  return [...bySeverity].map(([severity, group]) => ({ severity, name: alertName(metadata.name, severity), pairs: group.pairs, forSeconds: group.forSeconds, labels, annotations }));
}
