/**
 * The experiment file: Chaos Toolkit's format (title, description, tags,
 * configuration, steady-state-hypothesis, method, rollbacks), extended with
 * `load`, `faults`, `history`, `stop-conditions` and `seed`. YAML or JSON
 * (JSON is YAML). Every error names the file, the line and the field.
 * See docs/experiments.md.
 */
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { NEMESIS_FAULT_NAMES, type NemesisFaultName } from '../chaos/campaign/index.js';
import { FAULT_KINDS } from '../chaos/index.js';
import { MODEL_NAMES, type ModelName } from '../check/index.js';
import { parseDurationMs } from '../load/duration.js';
import { formatIssues, optionsSchema } from '../load/options.js';
import { GatewayConfigError, parseGatewayConfig } from '../gateway/index.js';
import { badExperiment } from './errors.js';
import { ACTIVITIES_MAX, EXPERIMENT_FILE_BYTES_MAX, HISTORY_CLIENTS_MAX, PAUSE_SECONDS_MAX, PROBE_TIMEOUT_MS_MAX, RUN_MS_MAX, SERVICE_BACKENDS_MAX, VARIANTS_MAX } from './limits.js';
import { servicesGatewayConfig, unknownPlaceholders } from './services-config.js';

/** A duration: a number of seconds (Chaos Toolkit's pauses) or text (`500ms`, `5s`, `1m`). Parsed to ms. */
const duration = (maxMs: number) =>
  z.union([z.number().nonnegative(), z.string()]).transform((value, context) => {
    let ms: number;
    try {
      ms = typeof value === 'number' ? Math.round(value * 1_000) : parseDurationMs(value, 'duration');
    } catch {
      context.addIssue({ code: 'custom', message: `'${String(value)}' is not a duration (write 500ms, 5s, 1m or a number of seconds)` });
      return z.NEVER;
    }
    if (ms > maxMs) {
      context.addIssue({ code: 'custom', message: `${String(value)} is longer than the limit of ${maxMs / 1_000} s` });
      return z.NEVER;
    }
    return ms;
  });

/** A [low, high] range of durations (`[5s, 10s]`), or one duration for both. */
const durationRange = z
  .preprocess((value) => (Array.isArray(value) ? value : [value, value]), z.tuple([duration(RUN_MS_MAX), duration(RUN_MS_MAX)]))
  .refine(([low, high]) => low <= high, { message: 'a range is [low, high] with low <= high' })
  .transform((value): [number, number] => [value[0], value[1]]);

/** Chaos Toolkit's tolerances: a value the output must equal, one of a list, a range, or a pattern. */
const toleranceSchema = z.union([
  z.boolean(),
  z.number(),
  z.string(),
  z.array(z.union([z.boolean(), z.number(), z.string()])).min(1).max(100),
  z.strictObject({ type: z.literal('range'), range: z.tuple([z.number(), z.number()]), target: z.string().optional() }),
  z.strictObject({ type: z.literal('regex'), pattern: z.string().max(1_000), target: z.string().optional() }),
]);
export type Tolerance = z.infer<typeof toleranceSchema>;

/** What keel knows how to probe or do to a cluster (see probes.ts). */
export const KEEL_FUNCTIONS = ['cluster-ready', 'members-ready', 'leader', 'single-leader', 'leader-changes', 'wait-ready', 'gateway-ready', 'compact', 'member-memory', 'slow-watch'] as const;
export type KeelFunction = (typeof KEEL_FUNCTIONS)[number];

const keelProvider = z.strictObject({
  type: z.literal('keel'),
  func: z.enum(KEEL_FUNCTIONS),
  arguments: z.strictObject({
    timeout: duration(PROBE_TIMEOUT_MS_MAX * 10).optional(),
    /** `slow-watch`: how long the watcher reads nothing. */
    stall: duration(PAUSE_SECONDS_MAX * 1_000).optional(),
  }).optional(),
});

const httpProvider = z.strictObject({
  type: z.literal('http'),
  /** `${gateway}` and `${member}` (the first member's client URL) are replaced with the cluster's. */
  url: z.string().min(1).max(2_000),
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'HEAD']).default('GET'),
  body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  timeout: duration(PROBE_TIMEOUT_MS_MAX).optional(),
  /** The output: the status code (default), or the response body (JSON parsed, else text) for a tolerance with `target`. */
  output: z.enum(['status', 'body']).default('status'),
});

/** A keel chaos fault (`keel chaos` spells it the same): kind, target or shape, duration. Or the kill switch. */
const chaosProvider = z.strictObject({
  type: z.literal('chaos'),
  func: z.enum(['inject', 'heal']).default('inject'),
  arguments: z
    .looseObject({
      kind: z.string().refine((kind) => FAULT_KINDS.includes(kind), { message: `a fault kind: one of ${FAULT_KINDS.join(', ')}` }),
      duration: duration(RUN_MS_MAX).optional(),
    })
    .optional(),
}).refine((provider) => provider.func === 'heal' || provider.arguments !== undefined, { message: 'inject needs arguments: { kind, target, ... }', path: ['arguments'] });

const providerSchema = z.union([keelProvider, httpProvider, chaosProvider]);
export type Provider = z.infer<typeof providerSchema>;

const pausesSchema = z.strictObject({ before: duration(PAUSE_SECONDS_MAX * 1_000).optional(), after: duration(PAUSE_SECONDS_MAX * 1_000).optional() });

const activitySchema = z.strictObject({
  type: z.enum(['action', 'probe']),
  name: z.string().min(1).max(200),
  provider: providerSchema,
  tolerance: toleranceSchema.optional(),
  pauses: pausesSchema.optional(),
  /** Chaos Toolkit's: a failed activity does not fail the run. */
  background: z.boolean().optional(),
});
export type Activity = z.infer<typeof activitySchema>;

const probeSchema = activitySchema.extend({ type: z.literal('probe').default('probe'), tolerance: toleranceSchema });
export type Probe = z.infer<typeof probeSchema>;

const hypothesisSchema = z.strictObject({
  title: z.string().max(500).default('steady state'),
  probes: z.array(probeSchema).max(ACTIVITIES_MAX).default([]),
});

/** The extension `load`: a keel load scenario run for the whole method. */
const loadSchema = z
  .strictObject({
    /** Where requests go: `${target}` in a request's URL (and KEEL_EXPERIMENT_TARGET for a scenario module). */
    target: z.enum(['gateway', 'member']).default('gateway'),
    /** A keel load scenario file (.yaml, .mjs, .ts), relative to the experiment file; or `options` and `requests` inline. */
    scenario: z.string().optional(),
    options: optionsSchema.optional(),
    requests: z
      .array(
        z.strictObject({
          url: z.string().min(1).max(2_000),
          method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
          headers: z.record(z.string(), z.string()).optional(),
          body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
          name: z.string().optional(),
          checks: z.looseObject({}).optional(),
        }),
      )
      .min(1)
      .max(100)
      .optional(),
  })
  .refine((load) => (load.scenario === undefined) !== (load.requests === undefined) && !(load.scenario !== undefined && load.options !== undefined), {
    message: 'give either scenario (a keel load file) or requests (with options), not both',
  });
export type LoadSpec = z.infer<typeof loadSchema>;

/** The extension `faults`: a seeded schedule, one fault at a time. */
const faultsSchema = z.strictObject({
  /** Quiet time before each fault: "every 5-10 s". */
  every: durationRange,
  /** How long each fault lasts: "for 2-4 s". */
  for: durationRange,
  'one-of': z.array(z.enum(NEMESIS_FAULT_NAMES as [NemesisFaultName, ...NemesisFaultName[]])).min(1).max(20),
  /** How long the schedule runs; no fault starts after it. */
  duration: duration(RUN_MS_MAX),
});
export type FaultsSpec = z.infer<typeof faultsSchema>;

/** The extension `history`: clients that record every operation for the checker. */
const historySchema = z.strictObject({
  clients: z.number().int().min(1).max(HISTORY_CLIENTS_MAX).default(4),
  keys: z.number().int().min(1).max(1_000).default(3),
  /** Through which endpoints the recording clients talk: each to one member (Jepsen's way), or all through the gateway. */
  via: z.enum(['members', 'gateway']).default('members'),
  model: z.enum(MODEL_NAMES as [ModelName, ...ModelName[]]).default('cas-register'),
  /** One watch stream per member, checked by etcd's revision rules. */
  watch: z.boolean().default(true),
  'call-timeout': duration(60_000).default(2_000),
  'check-time-limit': duration(600_000).default(60_000),
});
export type HistorySpec = z.infer<typeof historySchema>;

/** The extension `stop-conditions`: evaluated during the method; one holding aborts the run at once. */
const stopConditionSchema = z.union([
  probeSchema.extend({
    type: z.literal('probe'),
    /** Consecutive failed checks before it aborts. */
    failures: z.number().int().min(1).max(1_000).default(1),
  }),
  z.strictObject({
    type: z.literal('slo'),
    name: z.string().min(1).max(200).default('slo burn'),
    /** An OpenSLO file, relative to the experiment file; its SLIs are read from the members' /metrics. */
    slos: z.string().min(1),
    /** Which alert level aborts: page (fast burn) or ticket. */
    alert: z.enum(['page', 'ticket']).default('page'),
    /** Divides every window (a 1 h window at 60 is a 1 min one): for demos and short runs. */
    'time-scale': z.number().min(1).max(100_000).default(1),
    /** The alert must hold this long before the run aborts. */
    for: duration(RUN_MS_MAX).default(0),
  }),
  z.strictObject({
    type: z.literal('history-errors'),
    name: z.string().min(1).max(200).default('history errors'),
    /** Failed or unknown operations over all completed in the window, above which the run aborts. */
    above: z.number().min(0).max(1),
    window: duration(RUN_MS_MAX).default(5_000),
  }),
]);
export type StopCondition = z.infer<typeof stopConditionSchema>;

/**
 * The extension `configuration.cluster: { kind: services }`: no store, but
 * backends of a fixed capacity behind a keel gateway with the file's config
 * (the gateway scenarios: retry storm, cascading failure, overload).
 */
const servicesSchema = z
  .strictObject({
    kind: z.literal('services'),
    backends: z
      .array(z.strictObject({
        /** `${id}` in the gateway config and in http probes' URLs is this backend; to keel chaos it is a member. */
        id: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a backend id is lowercase letters, digits or -, starting with a letter'),
        /** Service time of each request. */
        delay: duration(60_000).default(0),
        /** Requests served at once (the rest wait in a FIFO queue); 0: no limit. */
        capacity: z.number().int().min(0).max(10_000).default(0),
      }))
      .min(1)
      .max(SERVICE_BACKENDS_MAX),
    /** A keel gateway config (docs/gateway.md) without listeners and admin, which the run sets. */
    gateway: z.record(z.string(), z.unknown()),
  })
  .superRefine((spec, context) => {
    const ids = new Set(spec.backends.map((backend) => backend.id));
    if (ids.size !== spec.backends.length) context.addIssue({ code: 'custom', path: ['backends'], message: 'backend ids must differ' });
    const unknown = unknownPlaceholders(spec.gateway, ids);
    if (unknown.length > 0) return context.addIssue({ code: 'custom', path: ['gateway'], message: `\${${unknown[0]}} names no backend (${[...ids].join(', ')})` });
    try {
      // Stand-in addresses, one port each (the gateway refuses two endpoints of a cluster on one address).
      parseGatewayConfig(servicesGatewayConfig(spec.gateway, new Map([...ids].map((id, index) => [id, `127.0.0.1:${index + 3}`])), 1, 2));
    } catch (error) {
      if (!(error instanceof GatewayConfigError)) throw error;
      context.addIssue({ code: 'custom', path: ['gateway'], message: `not a keel gateway config: ${error.issues.join('; ')}` });
    }
  });
export type ServicesSpec = z.infer<typeof servicesSchema>;

const clusterSchema = z.union([
  z.strictObject({
    /** `keel up` a fresh cluster for the run, and stop it after. */
    kind: z.literal('keel').optional(),
    members: z.union([z.literal(1), z.literal(3), z.literal(5), z.literal(7)]).default(3),
    gateway: z.boolean().default(true),
    /** Each member in its own network namespace (root): network faults need it. */
    netns: z.boolean().default(false),
    'tick-ms': z.number().int().min(1).max(1_000).optional(),
    /** Members accept POST /debug/failpoints and /debug/clock (KEEL_FAILPOINT_API=1): chaos `kind: failpoint` and `kind: clock` need it. */
    failpoints: z.boolean().default(false),
  }),
  /**
   * A control run: real etcd (3.4, Debian's etcd-server) members, restarted
   * when a fault kills one. On loopback they take process faults only; with
   * `netns: true` each runs in its own network namespace (root), as keel
   * up --netns runs keel's, and takes network faults too.
   */
  z.strictObject({
    kind: z.literal('etcd'),
    members: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(3),
    binary: z.string().min(1).optional(),
    netns: z.boolean().default(false),
    /** A keel gateway in front of the members (least-request, /health checks), for scenarios that load or probe the gateway. */
    gateway: z.boolean().default(false),
  }),
  servicesSchema,
  /** Or an existing keel up data dir. */
  z.strictObject({ 'data-dir': z.string().min(1) }),
]);
export type ClusterSpec = z.infer<typeof clusterSchema>;
/** An etcd control run's cluster. */
export type EtcdClusterSpec = Extract<ClusterSpec, { kind: 'etcd' }>;

/**
 * The extension `variants`: the same experiment run once per variant, each
 * with a few fields set (dotted paths into the file: `set: {
 * configuration.cluster.gateway.routes.0.retry.budgetRatio: 1 }`; null
 * removes the field), and each with the status it is expected to end in.
 * The run completes when every variant ends as expected: the "with vs
 * without" pair of a scenario in one verdict.
 */
const variantSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a variant name is lowercase letters, digits or - (it names its output directory)'),
  description: z.string().max(2_000).optional(),
  expect: z.enum(['completed', 'failed']).default('completed'),
  set: z.record(z.string().min(1).max(500), z.unknown()).default({}),
});

export const experimentSchema = z.looseObject({
  version: z.string().optional(),
  title: z.string().min(1).max(500),
  description: z.string().max(10_000).optional(),
  tags: z.array(z.string().max(100)).max(100).default([]),
  configuration: z.looseObject({ cluster: clusterSchema.default({ members: 3, gateway: true, netns: false, failpoints: false }) }).default({ cluster: { members: 3, gateway: true, netns: false, failpoints: false } }),
  'steady-state-hypothesis': hypothesisSchema.optional(),
  method: z.array(activitySchema).max(ACTIVITIES_MAX).default([]),
  rollbacks: z.array(activitySchema).max(ACTIVITIES_MAX).default([]),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  load: loadSchema.optional(),
  faults: faultsSchema.optional(),
  history: historySchema.optional(),
  'stop-conditions': z.array(stopConditionSchema).max(ACTIVITIES_MAX).default([]),
  variants: z
    .array(variantSchema)
    .min(2)
    .max(VARIANTS_MAX)
    .refine((variants) => new Set(variants.map((variant) => variant.name)).size === variants.length, { message: 'variant names must differ' })
    .optional(),
});
/** A variant as run: its name, what it is expected to end in, and the experiment with its fields set (validated). */
export interface Variant {
  readonly name: string;
  readonly description?: string | undefined;
  readonly expect: 'completed' | 'failed';
  readonly experiment: Experiment;
}
export type Experiment = z.infer<typeof experimentSchema> & { readonly variantRuns?: readonly Variant[] };

/** Parses and validates an experiment; `file` names it in errors (ExperimentError KEEL_EXPERIMENT_BAD_INPUT). */
export function parseExperiment(text: string, file: string): Experiment {
  if (text.length > EXPERIMENT_FILE_BYTES_MAX) throw badExperiment(file, `larger than ${EXPERIMENT_FILE_BYTES_MAX} bytes`);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true });
  if (document.errors.length > 0) {
    const first = document.errors[0]!;
    throw badExperiment(file, `line ${first.linePos?.[0]?.line ?? '?'}: ${first.message.split('\n')[0]}`);
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let length = path.length; length >= 0; length--) {
      const node = document.getIn(path.slice(0, length) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const raw = document.toJS() as unknown;
  const experiment = validate(raw, file, lineOf, '');
  if (experiment.variants === undefined) return experiment;
  const variantRuns = experiment.variants.map((variant, index): Variant => {
    const variantLine = (): number | undefined => lineOf(['variants', index]);
    const document = withVariant(raw, variant.set, file, `variants.${index}.set`);
    return { name: variant.name, description: variant.description, expect: variant.expect, experiment: validate(document, file, variantLine, `variants.${index} (${variant.name}): `) };
  });
  return { ...experiment, variantRuns };
}

function validate(raw: unknown, file: string, lineOf: (path: readonly PropertyKey[]) => number | undefined, prefix: string): Experiment {
  const result = experimentSchema.safeParse(raw);
  if (!result.success) throw badExperiment(file, `${prefix}${formatIssues(result.error.issues, lineOf)}`);
  const experiment = result.data;
  const problem = clusterProblem(experiment, experiment.configuration.cluster);
  if (problem !== undefined) throw badExperiment(file, `${prefix}${problem}`);
  return experiment;
}

/** The file's document with a variant's fields set (a dotted path each; numbers index lists; null removes), without `variants`. */
export function withVariant(raw: unknown, set: Readonly<Record<string, unknown>>, file: string, field: string): unknown {
  const document = structuredClone(raw) as Record<string, unknown>;
  delete document['variants'];
  for (const [path, value] of Object.entries(set)) {
    const keys = path.split('.');
    let parent: unknown = document;
    for (const key of keys.slice(0, -1)) {
      const next = (parent as Record<string, unknown>)[key];
      if (typeof next !== 'object' || next === null) throw badExperiment(file, `${field}: ${path}: ${key} is not an object or list in the file`);
      parent = next;
    }
    const last = keys[keys.length - 1]!;
    if (value === null) delete (parent as Record<string, unknown>)[last];
    else (parent as Record<string, unknown>)[last] = value;
  }
  return document;
}

/** Process faults: the only ones an etcd control run on loopback can take (its members are plain processes sharing the host's network). */
export const ETCD_FAULT_KINDS = ['kill', 'term', 'pause', 'restart'] as const;
/** What an etcd control run in network namespaces takes besides: nft partitions and tc link faults in the members' namespaces (etcd has no failpoint API, and stress is left to keel). */
export const ETCD_NETNS_FAULT_KINDS = [...ETCD_FAULT_KINDS, 'partition', 'netem'] as const;
const NETWORK_FAULT_KINDS: readonly string[] = ['partition', 'netem'];

/** The seeded schedule's network faults (isolate-*, bridge): they need members in namespaces. */
function scheduledNetworkFaults(experiment: Experiment): string[] {
  return experiment.faults?.['one-of'].filter((name) => name.startsWith('isolate') || name === 'bridge') ?? [];
}

/** The chaos activities of method and rollbacks, with the field that names each one's kind. */
function chaosKinds(experiment: Experiment): { readonly field: string; readonly kind: string }[] {
  const kinds: { field: string; kind: string }[] = [];
  for (const [list, activities] of [['method', experiment.method], ['rollbacks', experiment.rollbacks]] as const) {
    for (const [index, activity] of activities.entries()) {
      const kind = activity.provider.type === 'chaos' ? activity.provider.arguments?.kind : undefined;
      if (kind !== undefined) kinds.push({ field: `${list}.${index}.provider.arguments.kind`, kind });
    }
  }
  return kinds;
}

/** Whether the experiment asks for a network fault, scheduled or as a chaos action: an etcd control run of it needs namespaces. */
export function asksForNetworkFaults(experiment: Experiment): boolean {
  return scheduledNetworkFaults(experiment).length > 0 || chaosKinds(experiment).some(({ kind }) => NETWORK_FAULT_KINDS.includes(kind));
}

/**
 * `--cluster etcd`: the etcd control run of an experiment, with the file's
 * member count (etcd takes 1, 3 or 5) and in namespaces when the file's
 * cluster is (`netns: true`) or when it asks for network faults.
 */
/** The scenario loads or probes the gateway (load target, gateway-ready, ${gateway}): its etcd control run gets one too. */
export function asksForGateway(experiment: Experiment): boolean {
  return /"target":"gateway"|"gateway-ready"|\$\{gateway\}|"via":"gateway"/.test(JSON.stringify(experiment));
}

export function etcdControlCluster(experiment: Experiment): EtcdClusterSpec {
  const fileSpec = experiment.configuration.cluster;
  const members = 'members' in fileSpec ? fileSpec.members : 3;
  const netns = ('netns' in fileSpec && fileSpec.netns) || asksForNetworkFaults(experiment);
  return { kind: 'etcd', members: members === 7 ? 5 : members, netns, gateway: asksForGateway(experiment) };
}

/**
 * What `cluster` cannot do that the experiment asks for (network faults
 * without namespaces; on etcd, failpoints and stress, and network faults
 * unless its members run in namespaces), or undefined. Also used when
 * `--cluster etcd` replaces a file's cluster.
 */
export function clusterProblem(experiment: Experiment, cluster: ClusterSpec): string | undefined {
  const fileCluster = experiment.configuration.cluster;
  if ('kind' in fileCluster && fileCluster.kind === 'services' && cluster !== fileCluster && !('kind' in cluster && cluster.kind === 'services')) return 'configuration.cluster: a services scenario runs on its own backends and gateway, not on a store cluster';
  if ('kind' in cluster && cluster.kind === 'services') {
    if (experiment.history !== undefined) return 'history: a services cluster has no store to record a history on';
    if (experiment.faults !== undefined) return 'faults: the seeded schedule picks leaders and followers; a services cluster has none (use chaos actions on b1, gateway, ...)';
    return undefined;
  }
  const networkFaults = scheduledNetworkFaults(experiment);
  if ('kind' in cluster && cluster.kind === 'etcd') {
    if (networkFaults.length > 0 && !cluster.netns) return `faults.one-of: ${networkFaults.join(', ')}: an etcd control run on loopback takes process faults only (kill-*, pause-*); network faults need configuration.cluster.netns: true (members in namespaces, root)`;
    const allowed: readonly string[] = cluster.netns ? ETCD_NETNS_FAULT_KINDS : ETCD_FAULT_KINDS;
    const refused = chaosKinds(experiment).find(({ kind }) => !allowed.includes(kind));
    if (refused !== undefined) return `${refused.field}: ${refused.kind}: an etcd control run${cluster.netns ? ' in namespaces' : ' on loopback'} takes ${allowed.join(', ')} only${refused.kind === 'failpoint' || refused.kind === 'clock' ? ' (etcd has no fault-injection API)' : ''}${refused.kind === 'disk' ? ' (disk faults need keel members on keel up --faultfs mounts)' : ''}`;
    return undefined;
  }
  if (networkFaults.length > 0 && 'members' in cluster && !cluster.netns) return `faults.one-of: network faults (isolate-*, bridge) need configuration.cluster.netns: true`;
  return undefined;
}
