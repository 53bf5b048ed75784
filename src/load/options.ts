/**
 * Test options, k6's shape: `scenarios` (each naming its executor), or the
 * shorthands `vus`+`duration`, `iterations`, `stages`, or a `preset`;
 * `thresholds`. Validated with zod; an error names the field's path (and,
 * for YAML files, the line: see scenario-yaml.ts).
 */
import { z } from 'zod';
import { parseDurationMs } from './duration.js';
import { badInput } from './errors.js';
import {
  ARRIVAL_RATE_PER_SECOND_MAX,
  GRACEFUL_STOP_MS_DEFAULT,
  ITERATIONS_MAX,
  MAX_DURATION_MS_DEFAULT,
  PEM_BYTES_MAX,
  SCENARIOS_MAX,
  STAGES_MAX,
  TLS_AUTH_DOMAINS_MAX,
  TLS_AUTH_MAX,
  VUS_MAX,
} from './limits.js';

const duration = z.string().regex(/^\s*(\d+(\.\d+)?(ms|s|m|h))+\s*$/, 'a duration such as 500ms, 30s, 1m30s or 2h');
const vus = z.number().int().min(1).max(VUS_MAX);
const vusOrZero = z.number().int().min(0).max(VUS_MAX);
const iterations = z.number().int().min(1).max(ITERATIONS_MAX);
const rate = z.number().min(0).max(ARRIVAL_RATE_PER_SECOND_MAX);
const vuStage = z.strictObject({ duration, target: vusOrZero });
const rateStage = z.strictObject({ duration, target: rate });
const tags = z.record(z.string(), z.string());
const common = {
  startTime: duration.optional(),
  gracefulStop: duration.optional(),
  /** The exported function each iteration runs (default: the default export). */
  exec: z.string().min(1).optional(),
  tags: tags.optional(),
};

export const scenarioSchema = z.discriminatedUnion('executor', [
  z.strictObject({ executor: z.literal('constant-vus'), vus, duration, ...common }),
  z.strictObject({ executor: z.literal('ramping-vus'), startVUs: vusOrZero.default(1), stages: z.array(vuStage).min(1).max(STAGES_MAX), gracefulRampDown: duration.optional(), ...common }),
  z.strictObject({ executor: z.literal('constant-arrival-rate'), rate, timeUnit: duration.default('1s'), duration, preAllocatedVUs: vus, maxVUs: vus.optional(), ...common }),
  z.strictObject({ executor: z.literal('ramping-arrival-rate'), startRate: rate.default(0), timeUnit: duration.default('1s'), stages: z.array(rateStage).min(1).max(STAGES_MAX), preAllocatedVUs: vus, maxVUs: vus.optional(), ...common }),
  z.strictObject({ executor: z.literal('per-vu-iterations'), vus: vus.default(1), iterations: iterations.default(1), maxDuration: duration.optional(), ...common }),
  z.strictObject({ executor: z.literal('shared-iterations'), vus: vus.default(1), iterations: iterations.default(1), maxDuration: duration.optional(), ...common }),
]);

const thresholdObject = z.strictObject({ threshold: z.string().min(1), abortOnFail: z.boolean().default(false), delayAbortEval: duration.optional() });
export const thresholdsSchema = z.record(z.string().min(1), z.array(z.union([z.string().min(1), thresholdObject])).min(1));

const presetSchema = z.strictObject({
  name: z.enum(['load', 'stress', 'soak', 'spike', 'breakpoint']),
  /** VUs at the plateau (load, stress, soak, spike), or the arrival rate per second to ramp to (breakpoint). */
  target: z.number().min(1).max(VUS_MAX),
  duration,
});

/** PEM text, or a path to a PEM file (relative to the scenario's directory); see tls.ts. */
const pemOrPath = z.string().min(1).max(PEM_BYTES_MAX);
const tlsAuthEntry = z.strictObject({
  cert: pemOrPath,
  key: pemOrPath,
  /** Targets this certificate is presented to (`example.com`, `*.example.com`); every https target when absent. */
  domains: z.array(z.string().min(1).max(253)).min(1).max(TLS_AUTH_DOMAINS_MAX).optional(),
});

export const optionsSchema = z.strictObject({
  scenarios: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (at most 64)'), scenarioSchema).optional(),
  vus: vus.optional(),
  duration: duration.optional(),
  iterations: iterations.optional(),
  stages: z.array(vuStage).min(1).max(STAGES_MAX).optional(),
  preset: presetSchema.optional(),
  thresholds: thresholdsSchema.optional(),
  /** Open a new connection per request instead of one keep-alive connection per VU and origin. */
  noConnectionReuse: z.boolean().optional(),
  /** Per-request timeout. */
  httpTimeout: duration.optional(),
  tags: tags.optional(),
  /** k6's: accept any server certificate on https targets (default: verify). */
  insecureSkipTLSVerify: z.boolean().optional(),
  /** keel's (k6 has none): CA certificate(s), PEM text or a file, trusted besides the system roots. */
  tlsCa: pemOrPath.optional(),
  /** k6's: client certificates, each presented to its domains (or to every https target). */
  tlsAuth: z.array(tlsAuthEntry).max(TLS_AUTH_MAX).optional(),
  /** Offer HTTP/2 by ALPN on https targets (default true, as k6); false keeps HTTP/1.1. */
  http2: z.boolean().optional(),
  /** k6's: bounds on setup() and teardown() (default 60s each). */
  setupTimeout: duration.optional(),
  teardownTimeout: duration.optional(),
});

export type Options = z.infer<typeof optionsSchema>;
export type ScenarioOptions = z.infer<typeof scenarioSchema>;

/** An executor's schedule with every duration in milliseconds (see executors/). */
export type ExecutorPlan =
  | { readonly executor: 'constant-vus'; readonly vus: number; readonly durationMs: number }
  | { readonly executor: 'ramping-vus'; readonly startVUs: number; readonly stages: readonly Stage[] }
  | { readonly executor: 'constant-arrival-rate'; readonly rate: number; readonly timeUnitMs: number; readonly durationMs: number; readonly preAllocatedVUs: number; readonly maxVUs: number; readonly phaseMs: number }
  | { readonly executor: 'ramping-arrival-rate'; readonly startRate: number; readonly timeUnitMs: number; readonly stages: readonly Stage[]; readonly preAllocatedVUs: number; readonly maxVUs: number }
  | { readonly executor: 'per-vu-iterations'; readonly vus: number; readonly iterations: number; readonly maxDurationMs: number }
  | { readonly executor: 'shared-iterations'; readonly vus: number; readonly iterations: number; readonly maxDurationMs: number };

export interface Stage {
  readonly durationMs: number;
  readonly target: number;
}

export interface ScenarioPlan {
  readonly name: string;
  readonly exec: string;
  readonly startTimeMs: number;
  readonly gracefulStopMs: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly executor: ExecutorPlan;
}

/** Validates raw options; the error lists every problem with its field path. */
export function parseOptions(raw: unknown, where = 'options'): Options {
  const result = optionsSchema.safeParse(raw ?? {});
  if (!result.success) throw badInput(`${where}: ${formatIssues(result.error.issues.map((issue) => ({ ...issue, path: ['options', ...issue.path] })))}`);
  return result.data;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], lineOf?: (path: readonly PropertyKey[]) => number | undefined): string {
  return issues
    .slice(0, 10)
    .map((issue) => {
      const path = issue.path.length === 0 ? '(top level)' : issue.path.map(String).join('.');
      const line = lineOf?.(issue.path);
      return `${line === undefined ? '' : `line ${line}: `}${path}: ${issue.message}`;
    })
    .join('; ');
}

const ms = (text: string | undefined, field: string, fallback: number): number => (text === undefined ? fallback : parseDurationMs(text, field));
const stagesMs = (stages: readonly { duration: string; target: number }[], field: string): Stage[] => stages.map((stage, index) => ({ durationMs: parseDurationMs(stage.duration, `${field}.stages.${index}.duration`), target: stage.target }));

/** The scenarios to run: the explicit ones, or the one a shorthand or preset describes. */
export function scenarioPlans(options: Options): ScenarioPlan[] {
  const scenarios = options.scenarios ?? { default: shorthandScenario(options) };
  const entries = Object.entries(scenarios);
  if (entries.length === 0) throw badInput('options.scenarios: at least one scenario');
  if (entries.length > SCENARIOS_MAX) throw badInput(`options.scenarios: at most ${SCENARIOS_MAX} scenarios`);
  return entries.map(([name, scenario]) => planOf(name, scenario, options.tags ?? {}));
}

function shorthandScenario(options: Options): ScenarioOptions {
  if (options.preset !== undefined) return presetScenario(options.preset.name, options.preset.target, options.preset.duration);
  if (options.stages !== undefined) return { executor: 'ramping-vus', startVUs: options.vus ?? 1, stages: options.stages };
  if (options.duration !== undefined) return { executor: 'constant-vus', vus: options.vus ?? 1, duration: options.duration };
  return { executor: 'shared-iterations', vus: options.vus ?? 1, iterations: options.iterations ?? 1 };
}

/**
 * The test profiles as ramps (k6's guides): load ramps to `target` VUs over a
 * tenth of the time, holds, ramps down; stress to twice that; soak holds long
 * (the whole duration, short ramps); spike jumps to `target` in a few seconds
 * and falls back; breakpoint raises the arrival rate linearly to `target` per
 * second (pair it with an abortOnFail threshold).
 */
export function presetScenario(name: 'load' | 'stress' | 'soak' | 'spike' | 'breakpoint', target: number, durationText: string): ScenarioOptions {
  const totalMs = parseDurationMs(durationText, 'options.preset.duration');
  const part = (fraction: number): string => `${Math.max(1, Math.round(totalMs * fraction))}ms`;
  const vusTarget = Math.max(1, Math.round(target));
  switch (name) {
    case 'load':
      return { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: part(0.1), target: vusTarget }, { duration: part(0.8), target: vusTarget }, { duration: part(0.1), target: 0 }] };
    case 'stress':
      return { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: part(0.1), target: vusTarget }, { duration: part(0.3), target: vusTarget }, { duration: part(0.1), target: vusTarget * 2 }, { duration: part(0.4), target: vusTarget * 2 }, { duration: part(0.1), target: 0 }] };
    case 'soak':
      return { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: part(0.02), target: vusTarget }, { duration: part(0.96), target: vusTarget }, { duration: part(0.02), target: 0 }] };
    case 'spike':
      return { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: part(0.05), target: vusTarget }, { duration: part(0.1), target: vusTarget }, { duration: part(0.05), target: 0 }, { duration: part(0.8), target: 0 }] };
    case 'breakpoint':
      return { executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s', preAllocatedVUs: Math.min(VUS_MAX, Math.max(1, Math.round(target / 10))), maxVUs: Math.min(VUS_MAX, Math.max(1, Math.round(target))), stages: [{ duration: durationText, target }] };
  }
}

function planOf(name: string, scenario: ScenarioOptions, globalTags: Record<string, string>): ScenarioPlan {
  const field = `options.scenarios.${name}`;
  return {
    name,
    exec: scenario.exec ?? 'default',
    startTimeMs: ms(scenario.startTime, `${field}.startTime`, 0),
    gracefulStopMs: ms(scenario.gracefulStop, `${field}.gracefulStop`, GRACEFUL_STOP_MS_DEFAULT),
    tags: { ...globalTags, ...(scenario.tags ?? {}), scenario: name },
    executor: executorPlan(scenario, field),
  };
}

function executorPlan(scenario: ScenarioOptions, field: string): ExecutorPlan {
  switch (scenario.executor) {
    case 'constant-vus':
      return { executor: scenario.executor, vus: scenario.vus, durationMs: parseDurationMs(scenario.duration, `${field}.duration`) };
    case 'ramping-vus':
      return { executor: scenario.executor, startVUs: scenario.startVUs, stages: stagesMs(scenario.stages, field) };
    case 'constant-arrival-rate':
      return { executor: scenario.executor, rate: scenario.rate, timeUnitMs: parseDurationMs(scenario.timeUnit, `${field}.timeUnit`), durationMs: parseDurationMs(scenario.duration, `${field}.duration`), preAllocatedVUs: scenario.preAllocatedVUs, maxVUs: Math.max(scenario.maxVUs ?? scenario.preAllocatedVUs, scenario.preAllocatedVUs), phaseMs: 0 };
    case 'ramping-arrival-rate':
      return { executor: scenario.executor, startRate: scenario.startRate, timeUnitMs: parseDurationMs(scenario.timeUnit, `${field}.timeUnit`), stages: stagesMs(scenario.stages, field), preAllocatedVUs: scenario.preAllocatedVUs, maxVUs: Math.max(scenario.maxVUs ?? scenario.preAllocatedVUs, scenario.preAllocatedVUs) };
    case 'per-vu-iterations':
    case 'shared-iterations':
      return { executor: scenario.executor, vus: scenario.vus, iterations: scenario.iterations, maxDurationMs: ms(scenario.maxDuration, `${field}.maxDuration`, MAX_DURATION_MS_DEFAULT) };
  }
}

/** How long a scenario can run, start time and graceful stop included: the bound the coordinator waits on. */
export function planBoundMs(plan: ScenarioPlan): number {
  const executor = plan.executor;
  const body =
    'durationMs' in executor ? executor.durationMs : 'maxDurationMs' in executor ? executor.maxDurationMs : executor.stages.reduce((sum, stage) => sum + stage.durationMs, 0);
  return plan.startTimeMs + body + plan.gracefulStopMs;
}

/** Splits `count` into `parts` near-equal integers; part `index`'s share. */
export function shareOfCount(count: number, index: number, parts: number): number {
  return Math.floor(count / parts) + (index < count % parts ? 1 : 0);
}

/**
 * Worker `index` of `parts`'s share of a plan: VUs and iterations split as
 * integers, arrival rates split evenly, a constant rate's arrivals offset so
 * the workers interleave instead of firing together.
 */
export function shareOfPlan(plan: ScenarioPlan, index: number, parts: number): ScenarioPlan | undefined {
  if (parts === 1) return plan;
  const executor = plan.executor;
  const vusShare = (count: number): number => shareOfCount(count, index, parts);
  let share: ExecutorPlan;
  switch (executor.executor) {
    case 'constant-vus':
      share = { ...executor, vus: vusShare(executor.vus) };
      if (share.vus === 0) return undefined;
      break;
    case 'ramping-vus':
      share = { ...executor, startVUs: vusShare(executor.startVUs), stages: executor.stages.map((stage) => ({ ...stage, target: vusShare(stage.target) })) };
      break;
    case 'constant-arrival-rate':
      share = { ...executor, rate: executor.rate / parts, phaseMs: executor.rate > 0 ? (index * executor.timeUnitMs) / executor.rate : 0, preAllocatedVUs: Math.max(1, vusShare(executor.preAllocatedVUs)), maxVUs: Math.max(1, vusShare(executor.maxVUs)) };
      break;
    case 'ramping-arrival-rate':
      share = { ...executor, startRate: executor.startRate / parts, stages: executor.stages.map((stage) => ({ ...stage, target: stage.target / parts })), preAllocatedVUs: Math.max(1, vusShare(executor.preAllocatedVUs)), maxVUs: Math.max(1, vusShare(executor.maxVUs)) };
      break;
    case 'per-vu-iterations':
      share = { ...executor, vus: vusShare(executor.vus) };
      if (share.vus === 0) return undefined;
      break;
    case 'shared-iterations':
      share = { ...executor, vus: Math.max(1, vusShare(executor.vus)), iterations: vusShare(executor.iterations) };
      if (share.iterations === 0) return undefined;
      break;
  }
  return { ...plan, executor: share };
}
