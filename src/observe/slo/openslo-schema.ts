import { z } from 'zod';

/**
 * OpenSLO v1 documents (github.com/OpenSLO/OpenSLO, "v1"), the kinds keel
 * reads: SLO, SLI, AlertPolicy, AlertCondition, AlertNotificationTarget.
 * Objects are strict, so a misspelt field is an error naming it rather
 * than a silently ignored setting. Fields of the spec keel does not
 * implement (DataSource, metricSourceRef, composite SLOs, raw ratios) are
 * refused with a message saying so, in load.ts.
 */

const name = z.string().regex(/^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/, 'must be a lowercase name (a-z, 0-9, -, _ and ., at most 63 characters)');
const labelValue = z.union([z.string(), z.array(z.string())]);

export const metadataSchema = z.strictObject({
  name,
  displayName: z.string().optional(),
  namespace: z.string().optional(),
  labels: z.record(z.string(), labelValue).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const envelopeSchema = z.strictObject({
  apiVersion: z.literal('openslo/v1', { error: "must be 'openslo/v1'" }),
  kind: z.enum(['SLO', 'SLI', 'AlertPolicy', 'AlertCondition', 'AlertNotificationTarget', 'Service', 'DataSource'], {
    error: 'must be one of SLO, SLI, AlertPolicy, AlertCondition, AlertNotificationTarget (Service is accepted and ignored)',
  }),
  metadata: metadataSchema,
  spec: z.record(z.string(), z.unknown()),
});

export const metricSourceSchema = z.strictObject({
  metricSourceRef: z.string().optional(),
  type: z.string().min(1),
  spec: z.record(z.string(), z.unknown()),
});

const metricHolder = z.strictObject({ metricSource: metricSourceSchema });

export const sliSpecSchema = z.strictObject({
  description: z.string().optional(),
  thresholdMetric: metricHolder.optional(),
  ratioMetric: z.strictObject({
    counter: z.boolean().optional(),
    good: metricHolder.optional(),
    bad: metricHolder.optional(),
    total: metricHolder.optional(),
    rawType: z.enum(['success', 'failure']).optional(),
    raw: metricHolder.optional(),
  }).optional(),
});

export const inlineSliSchema = z.strictObject({ metadata: metadataSchema, spec: sliSpecSchema });

const ratio = z.number().refine((value) => value > 0 && value < 1, 'must be > 0 and < 1');

export const objectiveSchema = z.strictObject({
  displayName: z.string().optional(),
  op: z.enum(['lte', 'lt', 'gte', 'gt']).optional(),
  value: z.number().optional(),
  target: ratio.optional(),
  targetPercent: z.number().refine((value) => value > 0 && value < 100, 'must be > 0 and < 100').optional(),
  timeSliceTarget: ratio.optional(),
  timeSliceWindow: z.union([z.string(), z.number()]).optional(),
  indicator: z.unknown().optional(),
  indicatorRef: z.string().optional(),
  compositeWeight: z.number().optional(),
});

export const timeWindowSchema = z.strictObject({
  duration: z.string(),
  isRolling: z.boolean().optional(),
  calendar: z.strictObject({ startTime: z.string(), timeZone: z.string() }).optional(),
});

export const alertConditionSpecSchema = z.strictObject({
  description: z.string().optional(),
  severity: z.string(),
  condition: z.strictObject({
    kind: z.literal('burnrate', { error: "must be 'burnrate'" }),
    op: z.enum(['gt', 'gte'], { error: "must be 'gt' or 'gte' (a burn-rate alert fires above the threshold)" }).optional(),
    threshold: z.number().positive(),
    lookbackWindow: z.string(),
    alertAfter: z.string().optional(),
  }),
});

export const notificationTargetSpecSchema = z.strictObject({
  description: z.string().optional(),
  target: z.string(),
});

export const alertPolicySpecSchema = z.strictObject({
  description: z.string().optional(),
  alertWhenNoData: z.boolean().optional(),
  alertWhenResolved: z.boolean().optional(),
  alertWhenBreaching: z.boolean().optional(),
  conditions: z.array(z.union([
    z.strictObject({ conditionRef: z.string() }),
    z.strictObject({ kind: z.literal('AlertCondition'), metadata: metadataSchema, spec: alertConditionSpecSchema }),
  ])).min(1),
  notificationTargets: z.array(z.union([
    z.strictObject({ targetRef: z.string() }),
    z.strictObject({ kind: z.literal('AlertNotificationTarget'), metadata: metadataSchema, spec: notificationTargetSpecSchema }),
  ])).optional(),
});

export const sloSpecSchema = z.strictObject({
  description: z.string().optional(),
  service: name,
  indicator: inlineSliSchema.optional(),
  indicatorRef: z.string().optional(),
  timeWindow: z.array(timeWindowSchema).length(1, 'must hold exactly one time window'),
  budgetingMethod: z.enum(['Occurrences', 'Timeslices', 'RatioTimeslices'], { error: 'must be Occurrences or Timeslices' }),
  objectives: z.array(objectiveSchema).min(1),
  alertPolicies: z.array(z.union([
    z.strictObject({ alertPolicyRef: z.string() }),
    z.strictObject({ kind: z.literal('AlertPolicy'), metadata: metadataSchema, spec: alertPolicySpecSchema }),
  ])).optional(),
});

export type Metadata = z.infer<typeof metadataSchema>;
export type MetricSource = z.infer<typeof metricSourceSchema>;
export type SliSpec = z.infer<typeof sliSpecSchema>;
export type SloSpec = z.infer<typeof sloSpecSchema>;
export type Objective = z.infer<typeof objectiveSchema>;
export type TimeWindowSpec = z.infer<typeof timeWindowSchema>;
export type AlertPolicySpec = z.infer<typeof alertPolicySpecSchema>;
export type AlertConditionSpec = z.infer<typeof alertConditionSpecSchema>;
export type NotificationTargetSpec = z.infer<typeof notificationTargetSpecSchema>;

/** `spec.objectives[0].target` from zod's path. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let text = prefix;
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : `${text === '' ? '' : '.'}${String(part)}`;
  return text === '' ? '(document)' : text;
}
